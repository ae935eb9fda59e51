"""Transcript recorder: every KXCI command and reply with timestamps, for inspection and replay.

Enable it on the driver with ``Keithley4200(..., transcript="run.kxci.jsonl")`` or
``k.start_transcript(path)``. Each line of the file is one JSON object::

    {"seq": 12, "t_unix_s": 1767225600.123456, "t_mono_s": 0.004211, "dir": "w", "text": ":PMU:EXECUTE"}

``dir`` is ``"w"`` (sent), ``"r"`` (reply, terminators removed) or ``"e"`` (a read that failed, e.g. a
timeout, with the exception text). The file is line-buffered, so a crash loses at most the line being
written. :func:`read_transcript` loads it back; :func:`transcript_arrays` turns records into numpy
columns for the run store (HDF5), which keeps them beside the data; :func:`sent_commands` lists what went
on the wire — the list a dry run (``Keithley4200.dry_run``) must reproduce.

A dry run records nothing here: nothing is sent.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TranscriptRecorder", "read_transcript", "sent_commands", "transcript_arrays"]


class TranscriptRecorder:
    """Appends records to a JSON-lines file (``path``) and/or keeps them in memory.

    ``max_text_chars`` truncates long data replies in the record (the length is kept in ``n_chars``);
    None keeps every character.
    """

    def __init__(self, path: str | Path | None = None, keep_in_memory: bool = False,
                 max_text_chars: int | None = None):
        self.path = Path(path) if path is not None else None
        self.keep_in_memory = keep_in_memory or path is None
        self.max_text_chars = max_text_chars
        self.records: list[dict[str, Any]] = []
        self._fh = open(self.path, "a", buffering=1, encoding="utf-8") if self.path else None
        self._t0 = time.monotonic()
        self._seq = 0
        self._lock = threading.Lock()

    def record(self, direction: str, text: str) -> None:
        with self._lock:
            rec: dict[str, Any] = {"seq": self._seq, "t_unix_s": time.time(),
                                   "t_mono_s": time.monotonic() - self._t0, "dir": direction, "text": text}
            if self.max_text_chars is not None and len(text) > self.max_text_chars:
                rec["text"] = text[: self.max_text_chars]
                rec["n_chars"] = len(text)
            self._seq += 1
            if self._fh is not None:
                self._fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
            if self.keep_in_memory:
                self.records.append(rec)

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> "TranscriptRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_transcript(path: str | Path) -> list[dict[str, Any]]:
    """All records of a transcript file (a torn last line, from a crash, is skipped)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def sent_commands(records: list[dict[str, Any]] | str | Path, start: int = 0) -> list[str]:
    """The commands sent (``dir == "w"``), in order, from record ``start`` on (records or a file)."""
    recs = read_transcript(records) if isinstance(records, (str, Path)) else records
    return [r["text"] for r in recs[start:] if r["dir"] == "w"]


def transcript_arrays(records: list[dict[str, Any]] | str | Path) -> dict[str, np.ndarray]:
    """Records (or a transcript file) as numpy columns for the run store.

    ``seq`` int64, ``t_unix_s`` / ``t_mono_s`` float64 (s), ``dir`` fixed bytes ``S1``, ``text`` UTF-8
    ``object`` strings (h5py stores them as variable-length strings).
    """
    recs = read_transcript(records) if isinstance(records, (str, Path)) else records
    return {
        "seq": np.array([r["seq"] for r in recs], dtype=np.int64),
        "t_unix_s": np.array([r["t_unix_s"] for r in recs], dtype=np.float64),
        "t_mono_s": np.array([r["t_mono_s"] for r in recs], dtype=np.float64),
        "dir": np.array([r["dir"].encode() for r in recs], dtype="S1"),
        "text": np.array([r["text"] for r in recs], dtype=object),
    }
