"""Stream and column declarations, layout constants and small helpers shared by the store modules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import numpy as np

LAYOUT_VERSION = "labrc.run/1"
H5_NAME, JOURNAL_NAME, STATE_NAME = "run.h5", "run.journal", "run.state.json"
STATUSES = ("running", "completed", "device_failure", "aborted", "failed", "interrupted")
_RESERVED = {"config", "instrument", "sample", "events", "segments"}
_LIBVER = ("v110", "v110")
_EVENT_COLS = (("t", "<f8", "s"), ("level", "S16", ""), ("message", "S256", ""))
_SEG_COLS = (("t", "<f8", "s"), ("wall_time", "S32", ""), ("reason", "S32", ""))
_MAX_CHUNK_BYTES = 1 << 20


class StoreError(Exception):
    """Any misuse of the store or unreadable/unknown run file."""


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("labrc")
    except Exception:  # pragma: no cover
        return "unknown"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Column:
    """One quantity of a stream: name, numpy dtype string, unit (SI/UCUM), optional per-row shape."""
    name: str
    dtype: str
    unit: str = ""
    shape: tuple[int, ...] = ()

    @cached_property
    def np_dtype(self) -> np.dtype:
        """Little-endian numpy dtype (file and journal byte order)."""
        return np.dtype(self.dtype).newbyteorder("<")


@dataclass(frozen=True)
class Stream:
    """An appendable table: its columns (declared up front, SWMR needs a frozen schema), chunking,
    NXdata plotting hints, and the name of the contiguous row counter column (``None``: no check)."""
    columns: tuple[Column, ...]
    chunk_rows: int = 16384
    signal: str | None = None
    axes: tuple[str, ...] = ()
    seq: str | None = "seq"

    @property
    def seq_col(self) -> str | None:
        return self.seq if self.seq in {c.name for c in self.columns} else None

    def to_json(self) -> dict:
        return {"columns": [[c.name, c.np_dtype.str, c.unit, list(c.shape)] for c in self.columns],
                "chunk_rows": self.chunk_rows, "signal": self.signal, "axes": list(self.axes), "seq": self.seq}

    @staticmethod
    def from_json(d: dict) -> "Stream":
        cols = tuple(Column(n, dt, u, tuple(s)) for n, dt, u, s in d["columns"])
        return Stream(cols, d["chunk_rows"], d["signal"], tuple(d["axes"]), d["seq"])


def _check_schema(schema: dict[str, Stream]) -> None:
    if not schema:
        raise StoreError("schema has no streams")
    for name, st in schema.items():
        if name in _RESERVED or not name.isidentifier():
            raise StoreError(f"stream name {name!r} is reserved or not an identifier")
        names = [c.name for c in st.columns]
        if not names or len(set(names)) != len(names):
            raise StoreError(f"stream {name!r}: empty or duplicate column names")
        for c in st.columns:
            if not c.name.isidentifier():
                raise StoreError(f"stream {name!r}: bad column name {c.name!r}")
            try:
                dt = np.dtype(c.dtype)
            except TypeError as e:
                raise StoreError(f"stream {name!r} column {c.name!r}: bad dtype {c.dtype!r}") from e
            if dt.kind not in "biuf" or dt.hasobject:
                raise StoreError(f"stream {name!r} column {c.name!r}: only fixed-size numeric dtypes")
        for a in (st.signal, *st.axes):
            if a is not None and a not in names:
                raise StoreError(f"stream {name!r}: signal/axis {a!r} is not a column")


def _seq_prefix(seq: np.ndarray) -> int:
    """Length of the longest prefix where seq[i] == seq[0] + i."""
    if len(seq) == 0:
        return 0
    bad = np.flatnonzero(seq != seq[0] + np.arange(len(seq), dtype=seq.dtype))
    return int(bad[0]) if len(bad) else len(seq)


def _castable(a: np.ndarray, dt: np.dtype) -> bool:
    """same_kind casts, plus integer/bool -> any integer when the values fit (e.g. int64 flags -> u1)."""
    if np.can_cast(a.dtype, dt, "same_kind"):
        return True
    if a.dtype.kind in "biu" and dt.kind in "iu":
        info = np.iinfo(dt)
        return a.size == 0 or (int(a.min()) >= info.min and int(a.max()) <= info.max)
    return False


def _enc(s: str, n: int) -> bytes:
    return s.encode("utf-8")[:n]


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


