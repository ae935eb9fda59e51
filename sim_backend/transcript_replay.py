"""A recorded KXCI session served back as an instrument: the ``@labrc`` backend answering from a transcript.

``PYVISA_LIBRARY=path/transcript.jsonl@labrc`` (or ``path/run.h5@labrc``, or ``visa_library =
"path/transcript.jsonl@labrc"`` with ``instrument.backend = "visa"`` in labrc.toml) opens a pyvisa library
whose instrument is the transcript: every command the client sends must be the next recorded command, and
every read gets the next recorded reply, in order. The first command that differs fails loudly —
:class:`TranscriptMismatch` names the transcript line, the expected and the received command — and every
command after it repeats that failure (the session has left the recording; nothing is answered any more).
With it a change to the driver or a protocol is checked against what an instrument once answered.

The transcript is the driver's (:mod:`instruments.transcript`, one JSON object per line: ``dir`` ``"w"``
sent, ``"r"`` reply, ``"e"`` a read that failed, replayed as a VISA timeout), parsed here: the simulator
never imports labrc or instruments. A run file (``run.h5``) holds the same records in
``/entry/attachments/transcript`` when it ran with ``instrument.transcript = true``.

The connection handshake: labrc's run loop starts recording after it has opened the instrument and
written the run's metadata, so ``*IDN?`` and ``*OPT?`` sent before the first recorded command are not
in the transcript. They are answered from the run's own record of them (``metadata["instrument"]``
``idn``/``options``: the run file itself, or the ``run.h5`` beside a ``transcript.jsonl``), and only
before the first recorded command; a transcript recorded by the driver from its construction
(``Keithley4200(..., transcript=path)``) has them and is served as recorded.

Limits: timing is not replayed (replies come at once); GPIB serial polls are not in a transcript, so
``read_stb`` answers 0 (no error, no data ready): Ethernet-framing sessions (what labrc records by
default) replay exactly, GPIB sessions only where the client does not wait on the status byte.
A file that is not a transcript, a torn or truncated one, a reply recorded shortened (``n_chars``) or a
run file of another layout is refused with one :class:`TranscriptError` line when the library opens.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from pyvisa import constants, errors, rname
from pyvisa_sim.devices import Device, Devices

from .library import LabrcSimLibrary
from .simconfig import SimConfig

__all__ = ["RUN_LAYOUT", "Record", "Transcript", "TranscriptError", "TranscriptMismatch", "TranscriptReplayLibrary",
           "is_transcript_path", "load_transcript"]

RUN_LAYOUT = "labrc.run/1"      # = labrc.store.schema.LAYOUT_VERSION (tests check they agree)
SUFFIXES = (".jsonl", ".h5")
HANDSHAKE = ("*IDN?", "*OPT?")


class TranscriptError(ValueError):
    """The file cannot be replayed (not a transcript, truncated, another layout): one line naming why."""


class TranscriptMismatch(RuntimeError):
    """The client sent (or read) something else than the recording: names the line, expected and received."""


@dataclass(frozen=True)
class Record:
    line: int           # 1-based line of the .jsonl (record number in a run file's attachment)
    dir: str            # "w" sent, "r" reply, "e" failed read
    text: str


@dataclass
class Transcript:
    source: str
    records: list[Record]
    identity: dict[str, str] | None = None    # {"*IDN?": idn, "*OPT?": "SMU1,SMU2,..."} of the recorded chassis


def is_transcript_path(path: str) -> bool:
    """A ``@labrc`` library path that means transcript replay (``.jsonl`` transcript or ``.h5`` run file)."""
    return str(path).lower().endswith(SUFFIXES)


def load_transcript(path: str | Path) -> Transcript:
    """Records and handshake identity of a ``.jsonl`` transcript or a run file; TranscriptError otherwise."""
    p = Path(path)
    if not p.is_file():
        raise TranscriptError(f"{p}: no such transcript file")
    if p.suffix.lower() == ".h5":
        recs, ident = _from_run_file(p)
    else:
        recs = _from_jsonl(p)
        beside = p.parent / "run.h5"
        ident = _identity_of(beside) if beside.is_file() else None
    if not any(r.dir == "w" for r in recs):
        raise TranscriptError(f"{p}: the transcript records no command")
    return Transcript(p.name, recs, ident)


def _from_jsonl(p: Path) -> list[Record]:
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise TranscriptError(f"{p}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TranscriptError(f"{p}: not a labrc transcript (not UTF-8 text)") from None
    lines = text.split("\n")
    torn = lines[-1] != ""        # the recorder ends every record with a newline
    out = []
    for n, line in enumerate(lines[:-1] if not torn else lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                raise TranscriptError(f"{p}: line {n} is cut short: the transcript is truncated "
                                      "(the session it recorded did not end there)") from None
            raise TranscriptError(f"{p}: line {n} is not JSON: not a labrc transcript") from None
        out.append(_record(rec, n, p))
    if torn and out:
        raise TranscriptError(f"{p}: line {len(lines)} has no newline: the transcript is truncated")
    if not out:
        raise TranscriptError(f"{p}: empty: not a labrc transcript")
    return out


def _record(rec: object, n: int, p: Path) -> Record:
    if not isinstance(rec, dict) or rec.get("dir") not in ("w", "r", "e") or not isinstance(rec.get("text"), str):
        raise TranscriptError(f"{p}: line {n} is not a transcript record (needs dir w/r/e and text): "
                              "not a labrc transcript")
    if "n_chars" in rec:
        raise TranscriptError(f"{p}: line {n}: the reply was recorded shortened ({rec['n_chars']} characters, "
                              "max_text_chars): a replay needs every character")
    return Record(n, rec["dir"], rec["text"])


def _open_h5(p: Path):
    import h5py
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        why = "truncated or damaged" if p.stat().st_size else "empty"
        raise TranscriptError(f"{p}: not a readable HDF5 file ({why}: {str(exc).split('(')[0].strip()})") from None
    layout = f.attrs.get("layout", b"")
    layout = layout.decode() if isinstance(layout, bytes) else str(layout)
    if layout != RUN_LAYOUT:
        f.close()
        what = "not a labrc run file" if not layout else f"a run file of layout {layout!r}"
        raise TranscriptError(f"{p}: {what}; this replay reads {RUN_LAYOUT}")
    return f


def _identity_of(p: Path) -> dict[str, str] | None:
    """``*IDN?``/``*OPT?`` answers from a run file's metadata (None when it has none)."""
    f = _open_h5(p)
    try:
        meta = json.loads(f["entry"]["metadata_json"][()])
    except Exception as exc:  # noqa: BLE001 - damaged metadata: one line
        raise TranscriptError(f"{p}: damaged run file metadata ({type(exc).__name__})") from None
    finally:
        f.close()
    inst = meta.get("instrument") or {}
    if not inst.get("idn") or inst.get("options") is None:
        return None
    return {"*IDN?": str(inst["idn"]), "*OPT?": ",".join(str(o) for o in inst["options"])}


def _from_run_file(p: Path) -> tuple[list[Record], dict[str, str] | None]:
    ident = _identity_of(p)
    f = _open_h5(p)
    try:
        g = f["entry"].get("attachments")
        if g is None or "transcript" not in g:
            raise TranscriptError(f"{p}: this run holds no transcript (it ran without instrument.transcript = true)")
        t = g["transcript"]
        dirs = [d.decode() if isinstance(d, bytes) else str(d) for d in t["dir"][()]]
        texts = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in t["text"][()]]
    except TranscriptError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged attachment: one line
        raise TranscriptError(f"{p}: damaged transcript attachment ({type(exc).__name__}: {exc})") from None
    finally:
        f.close()
    if len(dirs) != len(texts) or any(d not in ("w", "r", "e") for d in dirs):
        raise TranscriptError(f"{p}: damaged transcript attachment (dir/text columns do not match)")
    return [Record(k + 1, d, x) for k, (d, x) in enumerate(zip(dirs, texts))], ident


MAX_SHOWN = 160     # characters of a command shown in a mismatch (long list sweeps: the start and where they differ)


def _short(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _first_difference(expected: str, sent: str) -> str:
    if len(expected) <= MAX_SHOWN and len(sent) <= MAX_SHOWN:
        return ""
    k = next((i for i, (a, b) in enumerate(zip(expected, sent)) if a != b), min(len(expected), len(sent)))
    return f" (first difference at character {k + 1}: {expected[k:k + 24]!r} vs {sent[k:k + 24]!r})"


class TranscriptReplayLibrary(LabrcSimLibrary):
    """``@labrc`` with a transcript path: answers from the recording, in order, and fails on the first difference.

    Each opened session replays the transcript from its start (pyvisa caches a library per path)."""

    def _init(self) -> None:
        self.sessions = {}
        self._events = {}
        self.transcript = load_transcript(str(self.library_path))
        self.config = SimConfig()
        self.lock = threading.RLock()
        self.instrument = None
        self.devices = Devices()
        for res in (self.config.tcpip_resource, self.config.gpib_resource):
            dev = Device(f"transcript replay of {self.transcript.source}", b"")
            dev.add_eom("TCPIP SOCKET", "\0", "\0")
            dev.add_eom("GPIB INSTR", "\n", "\n")
            self.devices.add_device(rname.to_canonical_name(res), dev)
        self._reset()

    def _reset(self) -> None:
        self.pos = 0                       # next record to serve
        self.failure: str | None = None    # the first mismatch; every later command is refused
        self._stopped_at = ""
        self._out: dict[int, bytearray] = {}
        self._handshake: dict[int, str] = {}
        self._started = False              # a recorded command was matched: the handshake window is over

    # --- what a test or a report asks ---------------------------------------------------------------
    @property
    def remaining(self) -> int:
        """Records not yet served (0 after a session that did exactly what was recorded)."""
        return len(self.transcript.records) - self.pos

    def _where(self) -> str:
        return f"{self.transcript.source} line"

    def _diverge(self, message: str) -> TranscriptMismatch:
        rec = self._next()
        self._stopped_at = f"{self._where()} {rec.line}" if rec is not None else "its end"
        self.failure = f"transcript replay: {message}"
        return TranscriptMismatch(self.failure)

    def _next(self) -> Record | None:
        recs = self.transcript.records
        return recs[self.pos] if self.pos < len(recs) else None

    # --- pyvisa ----------------------------------------------------------------------------------------
    def open(self, session, resource_name, access_mode=constants.AccessModes.no_lock,
             open_timeout=constants.VI_TMO_IMMEDIATE):
        with self.lock:
            self._reset()
        return super().open(session, resource_name, access_mode, open_timeout)

    def _term(self, session) -> bytes:
        sess = self.sessions.get(session)
        gpib = getattr(getattr(sess, "parsed", None), "interface_type_const", None) == constants.InterfaceType.gpib
        return b"\n" if gpib else b"\0"

    def write(self, session, data):
        if session not in self.sessions:
            return 0, constants.StatusCode.error_invalid_object
        text = bytes(data).decode("ascii", errors="replace").strip("\r\n\0 ")
        with self.lock:
            self._command(session, text)
        return len(data), constants.StatusCode.success

    def _command(self, session, text: str) -> None:
        if self.failure is not None:
            raise TranscriptMismatch(f"transcript replay stopped at the first difference ({self._stopped_at}); "
                                     f"{_short(text)!r} not answered")
        rec = self._next()
        if rec is not None and rec.dir == "w" and rec.text == text:
            self.pos += 1
            self._started = True
            return
        ident = self.transcript.identity
        if not self._started and text in HANDSHAKE and ident is not None and (rec is None or rec.text != text):
            self._handshake[session] = ident[text]     # the connection handshake, from the run's metadata
            return
        if rec is None:
            raise self._diverge(f"the transcript ended (all {len(self.transcript.records)} records served), "
                                f"but the client sent {text!r}")
        if rec.dir == "w":
            raise self._diverge(f"{self._where()} {rec.line} expects {_short(rec.text)!r}, the client sent "
                                f"{_short(text)!r}{_first_difference(rec.text, text)}")
        raise self._diverge(f"{self._where()} {rec.line} expects the client to read the reply {rec.text[:60]!r}, "
                            f"the client sent {text!r}")

    def read(self, session, count):
        if session not in self.sessions:
            return b"", constants.StatusCode.error_invalid_object
        with self.lock:
            buf = self._out.get(session)
            if not buf:
                buf = self._out[session] = bytearray(self._reply(session) + self._term(session))
            chunk = bytes(buf[:count])
            del buf[:count]
            status = constants.StatusCode.success_max_count_read if buf else constants.StatusCode.success
            return chunk, status

    def _reply(self, session) -> bytes:
        if session in self._handshake:
            return self._handshake.pop(session).encode("ascii")
        if self.failure is not None:
            raise TranscriptMismatch(f"transcript replay stopped at the first difference ({self._stopped_at}); "
                                     "no reply")
        rec = self._next()
        if rec is not None and rec.dir == "r":
            self.pos += 1
            return rec.text.encode("ascii", errors="replace")
        if rec is not None and rec.dir == "e":            # the recorded read failed: a timeout here too
            self.pos += 1
            raise errors.VisaIOError(constants.VI_ERROR_TMO)
        if rec is None:
            raise self._diverge(f"the transcript ended (all {len(self.transcript.records)} records served), "
                                "but the client reads a reply")
        raise self._diverge(f"{self._where()} {rec.line} expects the client to send {rec.text!r}, "
                            "the client reads a reply instead")

    def read_stb(self, session):
        """GPIB serial polls are not recorded in a transcript: no error, nothing ready (see the module doc)."""
        if session not in self.sessions:
            return 0, constants.StatusCode.error_invalid_object
        return 0, constants.StatusCode.success

    def wait_on_event(self, session, in_event_type, timeout):
        raise self._diverge("the client waits for a service request; a transcript records none")
