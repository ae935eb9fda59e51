"""Run store: one crash-safe, live-readable HDF5 file (+ journal) per measurement run.

Design follows ``reference/hdf5-streaming.md`` §6: a run is a directory on a *local* disk::

    <data_dir>/<YYYYmmddTHHMMSSZ>_<run_type>_<device>_<uuid8>/
        run.h5          SWMR-written (uncompressed) HDF5; becomes the analysis file at finalization
        run.journal     append-only CRC-framed binary journal of every append/event (source of truth)
        run.state.json  {"status", "pid", "host", "n_rows", "last_seq", ...}; atomic tmp+fsync+replace

Versioned layout ``labrc.run/1`` (NeXus-flavoured, netCDF/xarray readable once closed)::

    /                         @layout="labrc.run/1" @creator="labrc <ver>" @file_time @file_name
                              @HDF5_Version @h5py_version @default="entry" [@file_update_time at finalization]
    /entry                    @NX_class="NXentry" @default=<first stream with a signal>
                              @run_id @run_type @device @start_time @protocol @backend_kind @seed
        run_id, run_type, device, start_time, status("running")      scalar str datasets (up front)
        end_time, reason, safe_state_json, status(final)             written at finalization (r+, no SWMR)
        metadata_json                                                the whole metadata dict as JSON
        layout_json                                                  the schema (streams/columns/dtypes/units)
        /config       @NX_class="NXcollection"  <key>_json for each top-level metadata key
        /instrument   @NX_class="NXinstrument"
            /smu      @NX_class="NXcollection" @idn @options @resource
        /sample       @NX_class="NXsample" name=<device>
        /<stream>     @NX_class="NXdata" @signal @axes @<axis>_indices=0 [@n_rows at finalization]
            <column>  (N,) or (N, *shape), chunked, maxshape=(None, ...), uncompressed, @units;
                      the ``seq`` column (Stream.seq) is a dimension scale attached to the others
        /events       t f8 (s since start), level S16, message S256 -- appendable log incl. faults
        /segments     t f8 (s), wall_time S32 (ISO), reason S32, start_<stream> i8 (row offset per stream)

Rules: every object exists before ``swmr_mode=True``; only column datasets are appended during the run;
columns of a stream may differ by one flush, so readers clip to the common length and keep the longest
prefix where ``seq[i] == seq[0] + i``. Stream names ``config instrument sample events segments`` are
reserved. ``t`` columns are the caller's (seconds since start by convention).

Journal (``run.journal``): ``b"LABRCJ01"``, u32 header length, JSON header (layout, metadata, run identity),
then frames ``<IHHIII`` = magic, stream index, kind (0 rows, 1 event, 2 segment), n rows, payload bytes,
crc32(header[:16] + payload) followed by the payload. Row payloads are column-major (each column's bytes
in schema order, little-endian). Reading stops at the first bad frame (torn tail). It is fsynced about
every second by a background thread, so a power cut loses ~1 s; a kill -9 loses nothing already appended.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

LAYOUT_VERSION = "labrc.run/1"
H5_NAME, JOURNAL_NAME, STATE_NAME = "run.h5", "run.journal", "run.state.json"
STATUSES = ("running", "completed", "aborted", "failed", "interrupted")
_RESERVED = {"config", "instrument", "sample", "events", "segments"}
_LIBVER = ("v110", "v110")
_J_MAGIC, _F_MAGIC = b"LABRCJ01", 0x4A43524C
_FRAME = struct.Struct("<IHHIII")
_K_ROWS, _K_EVENT, _K_SEGMENT = 0, 1, 2
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


# ----------------------------------------------------------------------------------------- journal

class _Journal:
    """Append-only CRC-framed journal; frames go straight to the OS (one writev per call), a
    background thread fsyncs every ``fsync_s`` seconds (fsync releases the GIL, so appends never wait)."""

    def __init__(self, path: Path, header: dict | None, fsync_s: float = 1.0) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
        self.fd = os.open(path, flags, 0o644)
        if header is not None:
            h = json.dumps(header).encode()
            os.write(self.fd, _J_MAGIC + struct.pack("<I", len(h)) + h)
            os.fsync(self.fd)
        self._stop = threading.Event()
        self._dirty = False
        self._thread = threading.Thread(target=self._syncer, args=(fsync_s,), daemon=True, name="labrc-journal-fsync")
        self._thread.start()

    def _syncer(self, every: float) -> None:
        while not self._stop.wait(every):
            if self._dirty:
                self._dirty = False
                try:
                    os.fsync(self.fd)
                except OSError:
                    return

    def frame(self, stream: int, kind: int, n: int, bufs: list) -> None:
        views = [memoryview(b).cast("B") for b in bufs]
        size = sum(v.nbytes for v in views)
        head = _FRAME.pack(_F_MAGIC, stream, kind, n, size, 0)[:16]
        crc = zlib.crc32(head)
        for v in views:
            crc = zlib.crc32(v, crc)
        out = [head + struct.pack("<I", crc), *views]
        total = 20 + size
        done = os.writev(self.fd, out)
        if done < total:  # short write (rare, huge frames): finish with a plain write
            rest = b"".join(bytes(v) for v in out)[done:]
            while rest:
                rest = rest[os.write(self.fd, rest):]
        self._dirty = True

    def close(self) -> None:
        if self.fd < 0:
            return
        self._stop.set()
        self._thread.join()
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1


def read_journal(path: Path) -> tuple[dict, list[tuple[int, int, int, bytes]], int]:
    """Parse a journal: (header, [(stream, kind, n, payload)], byte offset of the valid end)."""
    data = Path(path).read_bytes()
    if data[:8] != _J_MAGIC:
        raise StoreError(f"{path}: not a labrc journal")
    (hl,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12:12 + hl])
    pos, frames = 12 + hl, []
    while pos + 20 <= len(data):
        magic, st, kind, n, size, crc = _FRAME.unpack_from(data, pos)
        end = pos + 20 + size
        if magic != _F_MAGIC or end > len(data):
            break
        payload = data[pos + 20:end]
        if zlib.crc32(payload, zlib.crc32(data[pos:pos + 16])) != crc:
            break
        frames.append((st, kind, n, payload))
        pos = end
    return header, frames, pos


def _decode_rows(stream: Stream, n: int, payload: bytes) -> dict[str, np.ndarray]:
    out, off = {}, 0
    for c in stream.columns:
        cnt = n * int(np.prod(c.shape, dtype=np.int64))
        a = np.frombuffer(payload, dtype=c.np_dtype, count=cnt, offset=off).reshape((n, *c.shape))
        out[c.name] = a
        off += a.nbytes
    return out


# ----------------------------------------------------------------------------------------- state / pids

def _proc_start(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except Exception:
        return None


def _pid_alive(pid: int, host: str, start: str | None) -> bool:
    """True if the writer process recorded in the state file still runs (same host; guards pid reuse
    and zombies via /proc on Linux). Another host's writer cannot be checked and counts as alive."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        st = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if st[0] in ("Z", "X"):
            return False
        return start is None or st[19] == start
    except OSError:
        return True  # no /proc (Windows/mac): trust kill(0)


def _write_state(path: Path, state: dict, fsync: bool = True) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(state, fh, indent=1)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read_state(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / STATE_NAME).read_text())
    except (OSError, ValueError):
        return None


def _effective_status(state: dict | None, file_status: str | None) -> str:
    if state is not None:
        s = state.get("status", "running")
        if s == "running" and not _pid_alive(state.get("pid", -1), state.get("host", ""), state.get("pid_start")):
            return "interrupted"
        return s
    if file_status in (None, "running"):
        return "interrupted"  # no live writer can be proven without the state file
    return file_status


def _fsync_path(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------- h5 helpers

def _str_ds(g: h5py.Group, name: str, value: str) -> None:
    if name in g:
        del g[name]
    g.create_dataset(name, data=value, dtype=h5py.string_dtype())


def _attr_safe(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool, np.number)) else json.dumps(v, default=str)


def _build_skeleton(f: h5py.File, schema: dict[str, Stream], meta: dict, ident: dict) -> None:
    """Create every group/dataset/attribute of the run (must happen before SWMR starts)."""
    f.attrs.update({"layout": LAYOUT_VERSION, "creator": f"labrc {_version()}", "file_time": ident["start_time"],
                    "file_name": H5_NAME, "HDF5_Version": h5py.version.hdf5_version,
                    "h5py_version": h5py.version.version, "default": "entry"})
    e = f.create_group("entry")
    e.attrs["NX_class"] = "NXentry"
    for k in ("run_id", "run_type", "device", "start_time"):
        _str_ds(e, k, ident[k])
        e.attrs[k] = ident[k]
    _str_ds(e, "status", "running")
    _str_ds(e, "metadata_json", json.dumps(meta, default=str))
    _str_ds(e, "layout_json", json.dumps({k: s.to_json() for k, s in schema.items()}))
    backend = meta.get("backend") or {}
    for k, v in (("protocol", meta.get("protocol")), ("backend_kind", backend.get("kind")), ("seed", backend.get("seed"))):
        if v is not None:
            e.attrs[k] = _attr_safe(v)
    cfg = e.create_group("config")
    cfg.attrs["NX_class"] = "NXcollection"
    for k, v in meta.items():
        _str_ds(cfg, f"{k}_json", json.dumps(v, default=str))
    ins = e.create_group("instrument")
    ins.attrs["NX_class"] = "NXinstrument"
    smu = ins.create_group("smu")
    smu.attrs["NX_class"] = "NXcollection"
    for k, v in (meta.get("instrument") or {}).items():
        smu.attrs[k] = _attr_safe(v) if v is not None else ""
    smp = e.create_group("sample")
    smp.attrs["NX_class"] = "NXsample"
    _str_ds(smp, "name", ident["device"])
    default = None
    for name, st in schema.items():
        g = e.create_group(name)
        g.attrs["NX_class"] = "NXdata"
        if st.signal:
            g.attrs["signal"] = st.signal
            default = default or name
        if st.axes:
            g.attrs["axes"] = list(st.axes)
            for a in st.axes:
                g.attrs[f"{a}_indices"] = 0
        for c in st.columns:
            row_bytes = c.np_dtype.itemsize * int(np.prod(c.shape, dtype=np.int64))
            chunk = max(1, min(st.chunk_rows, _MAX_CHUNK_BYTES // max(row_bytes, 1)))
            d = g.create_dataset(c.name, shape=(0, *c.shape), maxshape=(None, *c.shape), dtype=c.np_dtype,
                                 chunks=(chunk, *c.shape))
            d.attrs["units"] = c.unit
        if st.seq_col:
            scale = g[st.seq_col]
            scale.make_scale(st.seq_col)
            for c in st.columns:
                if c.name != st.seq_col:
                    g[c.name].dims[0].attach_scale(scale)
    if default:
        e.attrs["default"] = default
    for gname, cols in (("events", _EVENT_COLS), ("segments", _SEG_COLS + tuple((f"start_{s}", "<i8", "") for s in schema))):
        g = e.create_group(gname)
        g.attrs["NX_class"] = "NXcollection"
        for n, dt, u in cols:
            g.create_dataset(n, shape=(0,), maxshape=(None,), dtype=dt, chunks=(256,)).attrs["units"] = u


def _append_rows(g: h5py.Group, cols: dict[str, np.ndarray], order: list[str]) -> None:
    for name in order:
        d, a = g[name], cols[name]
        n0 = d.shape[0]
        d.resize(n0 + len(a), axis=0)
        d[n0:] = a


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


# ----------------------------------------------------------------------------------------- writer

class _Buf:
    """Fixed-capacity per-column staging buffers of one stream (memory bounded by flush_rows)."""

    def __init__(self, st: Stream, cap: int) -> None:
        self.cap, self.n = cap, 0
        self.cols = {c.name: np.empty((cap, *c.shape), c.np_dtype) for c in st.columns}


class RunWriter:
    """Single writer of one run. Not for concurrent use from several threads without the internal lock
    being enough: every public method takes one lock, so a fault handler may call ``event`` safely."""

    def __init__(self) -> None:  # use RunWriter.create / RunWriter.resume
        raise StoreError("use RunWriter.create(...) or RunWriter.resume(...)")

    # -- construction
    @classmethod
    def create(cls, data_dir: Path | str, run_type: str, device: str, schema: dict[str, Stream], metadata: dict,
               flush_interval_s: float = 1.0, flush_rows: int = 65536) -> "RunWriter":
        """Create the run directory, the full HDF5 skeleton (then switch SWMR on), journal and state."""
        _check_schema(schema)
        start = _now()
        rid = uuid.uuid4().hex
        safe = lambda s: "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in str(s)) or "x"
        run_dir = Path(data_dir) / f"{start:%Y%m%dT%H%M%SZ}_{safe(run_type)}_{safe(device)}_{rid[:8]}"
        run_dir.mkdir(parents=True, exist_ok=False)
        ident = {"run_id": rid, "run_type": str(run_type), "device": str(device), "start_time": _iso(start)}
        json.dumps(metadata, default=str)  # fail early on non-serialisable metadata
        f = h5py.File(run_dir / H5_NAME, "w", libver=_LIBVER, rdcc_nbytes=1 << 20)
        _build_skeleton(f, schema, metadata, ident)
        self = object.__new__(cls)
        self._init(run_dir, f, schema, ident, flush_interval_s, flush_rows, last_seq={}, t_offset=0.0)
        self._journal = _Journal(self.journal_path, {"layout": LAYOUT_VERSION, **ident, "metadata": metadata,
                                                     "schema": {k: s.to_json() for k, s in schema.items()}})
        self._segment("start")  # before SWMR starts: row 0 of /entry/segments
        f.flush()
        f.swmr_mode = True
        self._write_state()
        return self

    @classmethod
    def resume(cls, run_dir: Path | str, reason: str = "resume", flush_interval_s: float = 1.0,
               flush_rows: int = 65536) -> "RunWriter":
        """Continue an interrupted/aborted/failed run: recover run.h5 from the journal, add a /entry/segments
        and an event row, and keep appending. ``seq`` must continue at ``last_seq(stream) + 1``."""
        run_dir = Path(run_dir)
        status = _effective_status(_read_state(run_dir), None)
        if status in ("running", "completed"):
            raise StoreError(f"{run_dir}: cannot resume a run that is {status}")
        recover(run_dir)
        f = h5py.File(run_dir / H5_NAME, "a", libver=_LIBVER, rdcc_nbytes=1 << 20)
        e = f["entry"]
        for k in ("end_time", "reason", "safe_state_json", "instrument/safe_state"):
            if k in e:
                del e[k]
        for obj, k in [(e, "status"), (e, "end_time"), (f, "file_update_time")] + [(e[s], "n_rows") for s in e if
                                                                                      "n_rows" in e[s].attrs]:
            if k in obj.attrs:
                del obj.attrs[k]
        _str_ds(e, "status", "running")
        schema = {k: Stream.from_json(v) for k, v in json.loads(e["layout_json"][()]).items()}
        ident = {k: e.attrs[k] for k in ("run_id", "run_type", "device", "start_time")}
        last = {}
        for name, st in schema.items():
            if st.seq_col and e[name][st.seq_col].shape[0]:
                last[name] = int(e[name][st.seq_col][-1])
        t_off = (_now() - datetime.fromisoformat(str(ident["start_time"]))).total_seconds()
        self = object.__new__(cls)
        self._init(run_dir, f, schema, ident, flush_interval_s, flush_rows, last_seq=last, t_offset=t_off)
        self._journal = _Journal(self.journal_path, None)
        self._segment(reason)
        self._event_rows(f"resumed ({reason}); last_seq={last}", "warning")
        f.flush()
        f.swmr_mode = True
        self._write_state()
        return self

    def _init(self, run_dir: Path, f: h5py.File, schema: dict[str, Stream], ident: dict, flush_interval_s: float,
              flush_rows: int, last_seq: dict[str, int], t_offset: float) -> None:
        self.run_dir, self.path = run_dir, run_dir / H5_NAME
        self.journal_path, self.state_path = run_dir / JOURNAL_NAME, run_dir / STATE_NAME
        self.run_id, self.run_type, self.device = str(ident["run_id"]), str(ident["run_type"]), str(ident["device"])
        self.start_time = str(ident["start_time"])
        self.schema, self._f = schema, f
        self.flush_interval_s, self.flush_rows = flush_interval_s, max(1, int(flush_rows))
        self._bufs = {k: _Buf(s, self.flush_rows) for k, s in schema.items()}
        self._order = {k: [c.name for c in s.columns if c.name != s.seq_col] + ([s.seq_col] if s.seq_col else [])
                       for k, s in schema.items()}  # seq column written last (crash validator)
        self._sid = {k: i for i, k in enumerate(schema)}
        self._n_rows = {k: f["entry"][k][s.columns[0].name].shape[0] for k, s in schema.items()}
        self._last_seq = dict(last_seq)
        self._t0, self._t_offset = time.monotonic(), t_offset
        self._last_flush = self._last_state = time.monotonic()
        self._lock = threading.RLock()
        self._closed = False
        self.status: str = "running"

    # -- writing
    def _t(self) -> float:
        return self._t_offset + time.monotonic() - self._t0

    def append(self, stream: str, block: dict[str, np.ndarray]) -> None:
        """Validate and buffer a block of rows (all columns, equal length); journal it immediately; write
        to HDF5 + ``f.flush()`` when ``flush_interval_s`` elapsed or ``flush_rows`` are buffered."""
        with self._lock:
            if self._closed:
                raise StoreError("run is closed")
            st = self.schema.get(stream)
            if st is None:
                raise StoreError(f"unknown stream {stream!r}")
            names = {c.name for c in st.columns}
            extra = set(block) - names
            if extra:
                raise StoreError(f"stream {stream!r}: unexpected column(s) {sorted(extra)}")
            cols, n = [], None
            for c in st.columns:
                if c.name not in block:
                    raise StoreError(f"stream {stream!r}: missing column {c.name!r}")
                a = np.asarray(block[c.name])
                if a.dtype != c.np_dtype and not _castable(a, c.np_dtype):
                    raise StoreError(f"stream {stream!r} column {c.name!r}: dtype {a.dtype} not castable to {c.dtype}")
                if a.ndim == 0 or a.shape[1:] != c.shape:
                    raise StoreError(f"stream {stream!r} column {c.name!r}: shape {a.shape}, expected (n, *{c.shape})")
                if n is None:
                    n = a.shape[0]
                elif a.shape[0] != n:
                    raise StoreError(f"stream {stream!r} column {c.name!r}: length {a.shape[0]} != {n}")
                cols.append(np.ascontiguousarray(a, dtype=c.np_dtype))
            if not n:
                return
            if st.seq_col:
                seq = cols[[c.name for c in st.columns].index(st.seq_col)]
                first = self._last_seq.get(stream)
                if (first is not None and seq[0] != first + 1) or _seq_prefix(seq) != n:
                    raise StoreError(f"stream {stream!r} column {st.seq_col!r}: not contiguous "
                                     f"(expected start {None if first is None else first + 1}, got {seq[0]}..{seq[-1]})")
                self._last_seq[stream] = int(seq[-1])
            self._journal.frame(self._sid[stream], _K_ROWS, n, cols)
            buf = self._bufs[stream]
            if buf.n + n > buf.cap:
                self._flush_locked()
            if n > buf.cap:  # oversized block: straight to HDF5
                _append_rows(self._f["entry"][stream], dict(zip((c.name for c in st.columns), cols)),
                             self._order[stream])
                self._n_rows[stream] += n
                self._f.flush()
            else:
                for c, a in zip(st.columns, cols):
                    buf.cols[c.name][buf.n:buf.n + n] = a
                buf.n += n
            if buf.n >= buf.cap or time.monotonic() - self._last_flush >= self.flush_interval_s:
                self._flush_locked()

    def _flush_locked(self) -> None:
        e = self._f["entry"]
        for name, buf in self._bufs.items():
            if buf.n:
                _append_rows(e[name], {k: v[:buf.n] for k, v in buf.cols.items()}, self._order[name])
                self._n_rows[name] += buf.n
                buf.n = 0
        self._f.flush()
        self._last_flush = now = time.monotonic()
        if now - self._last_state >= 5.0:
            self._write_state()

    def n_rows(self) -> dict[str, int]:
        """Rows per stream written so far (file + buffer): where a resumed protocol continues."""
        with self._lock:
            return {k: self._n_rows[k] + self._bufs[k].n for k in self.schema}

    def last_row(self, stream: str) -> dict[str, Any]:
        """The last row of a stream already in the file (after resume: the last recovered row), or {}."""
        with self._lock:
            g = self._f["entry"][stream]
            n = self._n_rows[stream]
            if n == 0:
                return {}
            return {c.name: g[c.name][n - 1].tolist() for c in self.schema[stream].columns}

    def flush(self) -> None:
        """Write all buffered rows to HDF5 and publish them to SWMR readers."""
        with self._lock:
            if not self._closed:
                self._flush_locked()

    def _event_rows(self, message: str, level: str) -> None:
        t = self._t()
        self._journal.frame(0, _K_EVENT, 1, [json.dumps({"t": t, "level": level, "message": message}).encode()])
        _append_rows(self._f["entry"]["events"], {"t": np.array([t]), "level": np.array([_enc(level, 16)], "S16"),
                                                  "message": np.array([_enc(message, 256)], "S256")},
                     ["level", "message", "t"])

    def event(self, message: str, level: str = "info") -> None:
        """Append to /entry/events (t, level, message); written through and flushed immediately."""
        with self._lock:
            if self._closed:
                raise StoreError("run is closed")
            self._event_rows(str(message), str(level))
            self._flush_locked()

    def _segment(self, reason: str) -> None:
        row = {"t": self._t(), "wall_time": _iso(_now()), "reason": reason,
               **{f"start_{s}": self._n_rows[s] for s in self.schema}}
        self._journal.frame(0, _K_SEGMENT, 1, [json.dumps(row).encode()])
        _append_rows(self._f["entry"]["segments"], _segment_arrays(row, self.schema), list(_segment_arrays(row, self.schema)))

    def _write_state(self, **extra: Any) -> None:
        self._last_state = time.monotonic()
        _write_state(self.state_path, {
            "layout": LAYOUT_VERSION, "status": self.status, "pid": os.getpid(), "host": socket.gethostname(),
            "pid_start": _proc_start(os.getpid()), "run_id": self.run_id, "run_type": self.run_type,
            "device": self.device, "start_time": self.start_time, "n_rows": dict(self._n_rows),
            "last_seq": dict(self._last_seq), "updated": _iso(_now()), **extra})

    # -- finalization
    def close(self, status: str, reason: str = "", safe_state: dict | None = None,
              attachments: dict[str, dict[str, np.ndarray]] | None = None) -> None:
        """Drain, close the SWMR file, reopen r+ to write end_time/status/reason/n_rows/safe state,
        fsync, and mark the state file. Idempotent (later calls do nothing).

        ``attachments`` are whole tables known only at the end (e.g. the instrument transcript):
        written at finalization to ``/entry/attachments/<name>/<column>``, gzip-compressed (never
        while streaming)."""
        with self._lock:
            if self._closed:
                return
            if status not in ("completed", "aborted", "failed"):
                raise StoreError(f"bad final status {status!r}")
            try:
                self._flush_locked()
            finally:
                self._closed = True
                self._f.close()
                self._journal.close()
            end = _iso(_now())
            _finalize(self.path, status, reason, end, safe_state, attachments)
            self.status = status
            self._write_state(end_time=end, reason=reason)

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, et: type | None, ev: BaseException | None, tb: Any) -> None:
        if ev is None:
            self.close("completed")
        elif isinstance(ev, KeyboardInterrupt):
            self.close("aborted", "KeyboardInterrupt")
        else:
            self.close("failed", repr(ev))


def _segment_arrays(row: dict, schema: dict[str, Stream]) -> dict[str, np.ndarray]:
    out = {"t": np.array([row["t"]], "<f8"), "wall_time": np.array([_enc(row["wall_time"], 32)], "S32"),
           "reason": np.array([_enc(row["reason"], 32)], "S32")}
    out.update({f"start_{s}": np.array([row.get(f"start_{s}", 0)], "<i8") for s in schema})
    return out


def _open_rw(path: Path, tries: float = 0.2) -> h5py.File:
    """Open r+ (non-SWMR). Live SWMR readers hold a shared OS lock: retry briefly, then open without
    locking (finalization only adds objects to /entry; readers reopen when run.state.json changes)."""
    deadline = time.monotonic() + tries
    while True:
        try:
            return h5py.File(path, "r+", libver=_LIBVER)
        except BlockingIOError:
            if time.monotonic() > deadline:
                return h5py.File(path, "r+", libver=_LIBVER, locking=False)
            time.sleep(0.05)


def _finalize(path: Path, status: str, reason: str, end: str, safe_state: dict | None,
              attachments: dict[str, dict[str, np.ndarray]] | None = None) -> None:
    with _open_rw(path) as f:
        e = f["entry"]
        for name, cols in (attachments or {}).items():
            g = e.require_group("attachments")
            g.attrs["NX_class"] = "NXcollection"
            if name in g:
                del g[name]
            sub = g.create_group(name)
            for col, arr in cols.items():
                a = np.asarray(arr)
                if a.dtype == object:
                    sub.create_dataset(col, data=a.astype(str).tolist() if a.size else np.empty(0, "S1"),
                                       dtype=h5py.string_dtype() if a.size else None,
                                       compression="gzip" if a.size else None)
                else:
                    sub.create_dataset(col, data=a, compression="gzip" if a.size > 1024 else None)
        _str_ds(e, "status", status)
        _str_ds(e, "reason", reason)
        _str_ds(e, "end_time", end)
        e.attrs.update({"status": status, "end_time": end})
        _str_ds(e, "safe_state_json", json.dumps(safe_state, default=str))
        if safe_state:
            g = e["instrument"].require_group("safe_state")
            g.attrs["NX_class"] = "NXcollection"
            for k, v in safe_state.items():
                g.attrs[str(k)] = _attr_safe(v) if v is not None else ""
        for name, st in _schema_of(f).items():
            n = min(e[name][c.name].shape[0] for c in st.columns)
            e[name].attrs["n_rows"] = n
        f.attrs["file_update_time"] = _iso(_now())
    _fsync_path(path)


def _schema_of(f: h5py.File) -> dict[str, Stream]:
    return {k: Stream.from_json(v) for k, v in json.loads(f["entry"]["layout_json"][()]).items()}


# ----------------------------------------------------------------------------------------- reader

def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class RunReader:
    """Read a run, finished or being written by another process (SWMR read; call ``refresh()`` to see
    growth). Use the writer's own buffers in the writing process: HDF5 refuses a second handle there."""

    def __init__(self, path_or_run_dir: Path | str) -> None:
        p = Path(path_or_run_dir)
        self.path = p / H5_NAME if p.is_dir() else p
        self.run_dir = self.path.parent
        self._f: h5py.File | None = None
        self._open()

    def _open(self) -> None:
        try:
            self._f = h5py.File(self.path, "r", swmr=True)
        except (OSError, FileNotFoundError) as ex:
            raise StoreError(f"cannot open {self.path}: {ex}") from ex
        layout = _s(self._f.attrs.get("layout", ""))
        if layout != LAYOUT_VERSION:
            self._f.close()
            raise StoreError(f"{self.path}: unknown layout {layout!r} (this labrc reads {LAYOUT_VERSION})")
        e = self._f["entry"]
        self.schema = _schema_of(self._f)
        self.metadata: dict = json.loads(e["metadata_json"][()])
        self.run_id, self.run_type, self.device, self.start_time = (
            _s(e[k][()]) for k in ("run_id", "run_type", "device", "start_time"))
        self._file_status = _s(e["status"][()])
        self.end_time: str | None = _s(e["end_time"][()]) if "end_time" in e else None
        self.reason: str = _s(e["reason"][()]) if "reason" in e else ""
        ss = _s(e["safe_state_json"][()]) if "safe_state_json" in e else "null"
        self.safe_state: dict | None = json.loads(ss)
        self._state = _read_state(self.run_dir)

    @property
    def status(self) -> str:
        """running|completed|aborted|failed|interrupted (state file first: a dead writer = interrupted)."""
        self._state = _read_state(self.run_dir) or self._state
        return _effective_status(self._state, self._file_status)

    def refresh(self) -> None:
        """See rows flushed since the last call; reopen once the writer has finalized the file."""
        self._state = _read_state(self.run_dir)
        if self._file_status == "running" and self._state and self._state.get("status") != "running":
            self.close()
            self._open()
            return
        for g in ("events", *self.schema):
            for d in self._f["entry"][g].values():
                d.id.refresh()

    def _group(self, name: str) -> h5py.Group:
        if name not in self.schema:
            raise StoreError(f"unknown stream {name!r}; streams: {list(self.schema)}")
        return self._f["entry"][name]

    def _valid_n(self, name: str, full_check: bool = False) -> int:
        g, st = self._group(name), self.schema[name]
        n = min(g[c.name].shape[0] for c in st.columns)
        if st.seq_col and n:
            s = g[st.seq_col]
            if full_check or int(s[n - 1]) - int(s[0]) != n - 1:
                n = _seq_prefix(s[:n])
        return n

    def n_rows(self, name: str) -> int:
        """Rows of the stream in the valid prefix (common length, contiguous seq)."""
        return self._valid_n(name)

    def stream(self, name: str) -> dict[str, np.ndarray]:
        """All columns of a stream, cut to the seq-valid prefix common to all columns."""
        g, st = self._group(name), self.schema[name]
        n = min(g[c.name].shape[0] for c in st.columns)
        out = {c.name: g[c.name][:n] for c in st.columns}
        if st.seq_col:
            k = _seq_prefix(out[st.seq_col])
            out = {c: a[:k] for c, a in out.items()}
        return out

    def last_row(self, name: str) -> dict[str, Any]:
        """The newest row of the stream's valid prefix (``{}`` if empty), without reading the rest."""
        n = self._valid_n(name)
        if n == 0:
            return {}
        g = self._group(name)
        return {c.name: g[c.name][n - 1].tolist() for c in self.schema[name].columns}

    def units(self, name: str) -> dict[str, str]:
        g = self._group(name)
        return {c.name: _s(g[c.name].attrs["units"]) for c in self.schema[name].columns}

    def events(self) -> list[dict]:
        g = self._f["entry"]["events"]
        n = min(d.shape[0] for d in g.values())
        t, lv, msg = g["t"][:n], g["level"][:n], g["message"][:n]
        return [{"t": float(a), "level": _s(b), "message": c.decode("utf-8", "replace")} for a, b, c in zip(t, lv, msg)]

    def segments(self) -> list[dict]:
        g = self._f["entry"]["segments"]
        n = min(d.shape[0] for d in g.values())
        cols = {k: d[:n] for k, d in g.items()}
        return [{k: (_s(v[i]) if v.dtype.kind == "S" else v[i].item()) for k, v in cols.items()} for i in range(n)]

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> "RunReader":
        return self

    def __exit__(self, *a: Any) -> None:
        self.close()


def list_runs(data_dir: Path | str) -> list[dict]:
    """Summaries (run_id, path, run_dir, run_type, device, status, start_time, end_time, n_rows) of the runs
    under data_dir, sorted by start time. Uses run.state.json (never opens a possibly damaged HDF5 file
    when the state file is there; n_rows of a running run lag by ≤ ~5 s)."""
    out = []
    for h5 in sorted(Path(data_dir).rglob(H5_NAME)):
        st = _read_state(h5.parent)
        if st is not None:
            out.append({"run_id": st.get("run_id"), "path": h5, "run_dir": h5.parent, "run_type": st.get("run_type"),
                        "device": st.get("device"), "status": _effective_status(st, None),
                        "start_time": st.get("start_time"), "end_time": st.get("end_time"),
                        "n_rows": st.get("n_rows", {})})
            continue
        try:
            with RunReader(h5) as r:
                out.append({"run_id": r.run_id, "path": h5, "run_dir": h5.parent, "run_type": r.run_type,
                            "device": r.device, "status": r.status, "start_time": r.start_time,
                            "end_time": r.end_time, "n_rows": {s: r.n_rows(s) for s in r.schema}})
        except StoreError:
            continue
    return sorted(out, key=lambda d: d["start_time"] or "")


# ----------------------------------------------------------------------------------------- recovery

_SALVAGE = r"""
import sys, json, numpy as np, h5py
src, dst = sys.argv[1], sys.argv[2]
out = {}
with h5py.File(src, "r", swmr=True) as f:
    e = f["entry"]
    layout = json.loads(e["layout_json"][()])
    for name, st in layout.items():
        cols, n = {}, None
        for cname, *_ in st["columns"]:
            d = e[name][cname]; step = max(d.chunks[0] * 16, 1); parts = []; k = 0
            while k < d.shape[0]:
                try:
                    parts.append(d[k:k + step]); k += step
                except Exception:
                    break
            a = np.concatenate(parts) if parts else d[:0]
            cols[cname] = a; n = len(a) if n is None else min(n, len(a))
        for cname, a in cols.items():
            out[name + "/" + cname] = a[:n]
np.savez(dst, **out)
"""


def _salvage(h5: Path, timeout_s: float) -> dict[str, dict[str, np.ndarray]]:
    """Read what a (possibly damaged) run.h5 holds, in a child process with a timeout (HDF5 can hang)."""
    dst = h5.with_name("salvage.tmp.npz")
    try:
        subprocess.run([sys.executable, "-c", _SALVAGE, str(h5), str(dst)], timeout=timeout_s,
                       capture_output=True, check=True)
        out: dict[str, dict[str, np.ndarray]] = {}
        with np.load(dst) as z:
            for k in z.files:
                s, c = k.split("/", 1)
                out.setdefault(s, {})[c] = z[k]
        return out
    except (subprocess.SubprocessError, OSError, ValueError):
        return {}
    finally:
        dst.unlink(missing_ok=True)


def _merge(s: dict, j: dict, seqc: str | None, cols: list[str]) -> dict:
    """Combine salvaged HDF5 rows (s) and journal rows (j): salvage prefix + journal rows past it when
    they join up, else the longer of the two (both cut to their seq-valid prefix)."""
    if seqc is None:
        return s if len(s[cols[0]]) > len(j[cols[0]]) else j
    s = {c: a[:_seq_prefix(s[seqc])] for c, a in s.items()}
    j = {c: a[:_seq_prefix(j[seqc])] for c, a in j.items()}
    if not len(s[seqc]) or not len(j[seqc]):
        return j if len(j[seqc]) else s
    last = s[seqc][-1]
    if s[seqc][0] <= j[seqc][0] <= last + 1:
        keep = j[seqc] > last
        return {c: np.concatenate([s[c], j[c][keep]]) for c in cols}
    return j if len(j[seqc]) >= len(s[seqc]) else s


def recover(run_dir: Path | str, salvage_timeout_s: float = 60.0) -> dict[str, int]:
    """Rebuild run.h5 of a crashed run from its journal plus whatever a salvage read of the old file
    holds beyond the journal (e.g. a journal tail lost to power cut). The old file is kept as
    run.crashed.h5, the torn journal tail is cut, status becomes "interrupted". Returns rows per stream.
    Refuses while the writer is alive."""
    run_dir = Path(run_dir)
    state = _read_state(run_dir)
    if state and _effective_status(state, None) == "running":
        raise StoreError(f"{run_dir}: writer pid {state.get('pid')} is alive")
    jpath, h5 = run_dir / JOURNAL_NAME, run_dir / H5_NAME
    header, frames, valid_end = read_journal(jpath)
    if valid_end < jpath.stat().st_size:
        os.truncate(jpath, valid_end)
    schema = {k: Stream.from_json(v) for k, v in header["schema"].items()}
    names = list(schema)
    rows: dict[str, list[dict[str, np.ndarray]]] = {k: [] for k in schema}
    events, segments = [], []
    for sid, kind, n, payload in frames:
        if kind == _K_ROWS:
            rows[names[sid]].append(_decode_rows(schema[names[sid]], n, payload))
        elif kind == _K_EVENT:
            events.append(json.loads(payload))
        elif kind == _K_SEGMENT:
            segments.append(json.loads(payload))
    salv = _salvage(h5, salvage_timeout_s) if h5.exists() else {}
    tmp = run_dir / "run.h5.tmp"
    ident = {k: header[k] for k in ("run_id", "run_type", "device", "start_time")}
    counts: dict[str, int] = {}
    with h5py.File(tmp, "w", libver=_LIBVER) as f:
        _build_skeleton(f, schema, header["metadata"], ident)
        e = f["entry"]
        for name, st in schema.items():
            cols = [c.name for c in st.columns]
            j = {c: np.concatenate([b[c] for b in rows[name]]) if rows[name] else np.empty((0, *cc.shape), cc.np_dtype)
                 for c, cc in zip(cols, st.columns)}
            s = salv.get(name, {})
            s = {c: s[c] for c in cols} if all(c in s for c in cols) else {c: j[c][:0] for c in cols}
            j = _merge(s, j, st.seq_col, cols)
            _append_rows(e[name], j, cols)
            counts[name] = len(j[cols[0]])
        for ev in events:
            _append_rows(e["events"], {"t": np.array([ev["t"]]), "level": np.array([_enc(ev["level"], 16)], "S16"),
                                       "message": np.array([_enc(ev["message"], 256)], "S256")}, ["level", "message", "t"])
        for sg in segments:
            a = _segment_arrays(sg, schema)
            _append_rows(e["segments"], a, list(a))
        msg = f"recovered after crash from journal ({len(frames)} frames) + salvage; rows {counts}"
        t_last = float(events[-1]["t"]) if events else 0.0
        _append_rows(e["events"], {"t": np.array([t_last]), "level": np.array([b"warning"], "S16"),
                                   "message": np.array([_enc(msg, 256)], "S256")}, ["level", "message", "t"])
    jw = _Journal(jpath, None)
    jw.frame(0, _K_EVENT, 1, [json.dumps({"t": t_last, "level": "warning", "message": msg}).encode()])
    jw.close()
    end = _iso(_now())
    _finalize(tmp, "interrupted", msg, end, None)
    if h5.exists():
        os.replace(h5, run_dir / "run.crashed.h5")
    os.replace(tmp, h5)
    st = dict(state or {})
    st.update({"layout": LAYOUT_VERSION, **ident, "status": "interrupted", "reason": msg, "n_rows": counts,
               "recovered": end, "end_time": end})
    _write_state(run_dir / STATE_NAME, st)
    return counts
