"""RunWriter: the single writer of one run (SWMR HDF5 + journal + state file)."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .blocks import _aligned_rows, _Buf, _columns, _columns_fast, _contiguous, _Spec
from .journal import _K_EVENT, _K_SEGMENT, _Journal
from .layout import _append_rows, _build_skeleton, _finalize, _segment_arrays, _str_ds
from .schema import (H5_NAME, JOURNAL_NAME, LAYOUT_VERSION, STATE_NAME, _LIBVER, StoreError, Stream, _check_schema,
                     _enc, _iso, _now)
from .space import RESERVE_NAME, _make_reserve, _SpaceGuard
from .state import _effective_status, _proc_start, _read_state, _write_state

DEFAULT_MIN_FREE_BYTES = 8 << 20   # stop writing while this much is still free on the data disk
STATE_REFRESH_S = 1.0              # run.state.json (rows, last seq) at most this old while the run is live
class RunWriter:
    """Single writer of one run. Not for concurrent use from several threads without the internal lock
    being enough: every public method takes one lock, so a fault handler may call ``event`` safely."""

    def __init__(self) -> None:  # use RunWriter.create / RunWriter.resume
        raise StoreError("use RunWriter.create(...) or RunWriter.resume(...)")

    # -- construction
    @classmethod
    def create(cls, data_dir: Path | str, run_type: str, device: str, schema: dict[str, Stream], metadata: dict,
               flush_interval_s: float = 1.0, flush_rows: int = 65536,
               min_free_bytes: int = DEFAULT_MIN_FREE_BYTES) -> "RunWriter":
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
        self._init(run_dir, f, schema, ident, flush_interval_s, flush_rows, last_seq={}, t_offset=0.0,
                   min_free_bytes=min_free_bytes)
        self.identity = dict(metadata.get("run") or {})
        self._journal = _Journal(self.journal_path, {"layout": LAYOUT_VERSION, **ident, "metadata": metadata,
                                                     "schema": {k: s.to_json() for k, s in schema.items()}})
        self._journal.sync_also(self.path)
        self._segment("start")  # before SWMR starts: row 0 of /entry/segments
        f.flush()
        f.swmr_mode = True
        self._write_state()
        return self

    @classmethod
    def resume(cls, run_dir: Path | str, reason: str = "resume", flush_interval_s: float = 1.0,
               flush_rows: int = 65536, min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
               recovered: bool = False) -> "RunWriter":
        """Continue an interrupted/aborted/failed run: recover run.h5 from the journal (unless the caller
        just did: ``recovered``), add a /entry/segments and an event row, and keep appending. ``seq`` must
        continue at ``last_seq(stream) + 1``, so a run whose recovery lost rows (a hole no copy holds)
        cannot be continued contiguously and is refused: ``labrc close`` ends it."""
        run_dir = Path(run_dir)
        state = _read_state(run_dir)
        status = _effective_status(state, None)
        if status in ("running", "completed", "device_failure"):
            raise StoreError(f"{run_dir}: cannot resume a run that is {status}")
        if not recovered:
            from .recovery import recover  # recovery builds on the writer's layout: import at use
            recover(run_dir)
            state = _read_state(run_dir)
        lost = {k: v for k, v in ((state or {}).get("rows_lost") or {}).items() if v}
        if lost:
            raise StoreError(f"{run_dir.name}: recovery lost rows {lost} (damaged journal and file); a resumed run "
                             "could not continue contiguously — `labrc close` ends it with what was kept")
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
        self._init(run_dir, f, schema, ident, flush_interval_s, flush_rows, last_seq=last, t_offset=t_off,
                   min_free_bytes=min_free_bytes)
        self.identity = dict(json.loads(e["metadata_json"][()]).get("run") or {})
        self._journal = _Journal(self.journal_path, None)
        self._journal.sync_also(self.path)
        self._segment(reason)
        self._event_rows(f"resumed ({reason}); last_seq={last}", "warning")
        f.flush()
        f.swmr_mode = True
        self._write_state()
        return self

    def _init(self, run_dir: Path, f: h5py.File, schema: dict[str, Stream], ident: dict, flush_interval_s: float,
              flush_rows: int, last_seq: dict[str, int], t_offset: float,
              min_free_bytes: int = DEFAULT_MIN_FREE_BYTES) -> None:
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
        self._spec = {k: _Spec(i, s, f["entry"][k], self._order[k], self.flush_rows)
                      for i, (k, s) in enumerate(schema.items())}
        self._n_rows = {k: f["entry"][k][s.columns[0].name].shape[0] for k, s in schema.items()}
        self._last_seq = dict(last_seq)
        self._t0, self._t_offset = time.monotonic(), t_offset
        self._last_flush = self._last_state = time.monotonic()
        self._lock = threading.RLock()
        self._closed = False
        self._busy = False           # inside a write: a re-entrant call (e.g. from a signal handler) is refused
        self.broken = ""             # why writing stopped (disk full, write error); "" while healthy
        self.close_error = ""        # why finalization failed, if it did (the journal still holds every row)
        self.status: str = "running"
        self.identity: dict = {}     # metadata["run"] (sample, device, operator …), set by create/resume
        self._reserve = run_dir / RESERVE_NAME
        _make_reserve(self._reserve)
        self._space = _SpaceGuard(run_dir, min_free_bytes)   # free-space bookkeeping (see space._SpaceGuard)

    @property
    def min_free_bytes(self) -> int:
        """Bytes left free on the data disk: writing stops before a block would use them."""
        return self._space.min_free_bytes

    # -- writing
    def _t(self) -> float:
        return self._t_offset + time.monotonic() - self._t0

    def append(self, stream: str, block: dict[str, np.ndarray]) -> None:
        """Validate and buffer a block of rows (all columns, equal length); journal it immediately; write
        to HDF5 + ``f.flush()`` when ``flush_interval_s`` elapsed or ``flush_rows`` are buffered."""
        with self._lock:
            if self._closed or self.broken or self._busy:   # the checks of _writing(), inline: the hot path
                with self._writing():
                    pass
            self._busy = True
            try:
                self._append_locked(stream, block)
            finally:
                self._busy = False

    def _append_locked(self, stream: str, block: dict[str, np.ndarray]) -> None:
        """append() under the lock, outside any other write: validate, journal, buffer, flush when due."""
        sp = self._spec.get(stream)
        if sp is None:
            raise StoreError(f"unknown stream {stream!r}")
        cols, n = _columns_fast(sp, block)
        if cols is None:
            cols, n = _columns(stream, self.schema[stream], block)
        if not n:
            return
        if sp.seq_i is not None:
            seq = cols[sp.seq_i]
            first = self._last_seq.get(stream)
            if (first is not None and seq[0] != first + 1) or not _contiguous(sp, seq, n):
                raise StoreError(f"stream {stream!r} column {sp.names[sp.seq_i]!r}: not contiguous "
                                 f"(expected start {None if first is None else first + 1}, got {seq[0]}..{seq[-1]})")
            self._last_seq[stream] = int(seq[-1])
        self._check_space(stream, n)
        self._guarded(self._journal.rows_frame, sp.sid, n, cols)
        buf = self._bufs[stream]
        if buf.n + n > buf.cap:   # an oversized block goes after every buffered row: flush them all
            self._flush_locked(keep_tail_of=(stream, buf.cap - n) if n <= buf.cap else None)
        if n > buf.cap:  # oversized block: straight to HDF5
            self._guarded(self._write_h5, sp, cols, n)
            self._n_rows[stream] += n
            self._guarded(self._f.flush)
        else:
            k = buf.n
            for dst, a in zip(buf.arrays, cols):
                dst[k:k + n] = a
            buf.n = k + n
        if buf.n >= buf.cap or time.monotonic() - self._last_flush >= self.flush_interval_s:
            self._flush_locked()

    def _write_h5(self, sp: _Spec, cols: list[np.ndarray], n: int) -> None:
        """Append n rows to the stream's datasets, column by column with the seq column last (crash
        validator, as _append_rows). Rows that fill whole chunks go to the file as they are
        (``write_direct_chunk``: the same bytes in the same chunk, without the library's chunk-cache copy;
        no filters while streaming), the rest through an ordinary write."""
        for d, i, ch, z, direct in zip(sp.dsets, sp.order_i, sp.chunk_rows, sp.zeros, sp.direct):
            a = cols[i]
            n0 = d.shape[0]
            d.resize(n0 + n, axis=0)
            k = min(n, -n0 % ch) if direct else n  # up to the next chunk boundary: ordinary write
            if k:
                d[n0:n0 + k] = a[:k]
            while k + ch <= n:                     # whole chunks, never touched before
                d.id.write_direct_chunk((n0 + k, *z), a[k:k + ch])
                k += ch
            if k < n:
                d[n0 + k:n0 + n] = a[k:n]

    # -- guards: one writer, one write at a time, never into a full disk
    @contextmanager
    def _writing(self):
        """Refuse writes after close or after a write error, and re-entrant writes: a handler that wrote
        from inside a half-done append duplicated and misaligned rows (the signal-handler defect)."""
        if self._closed:
            raise StoreError("run is closed")
        if self.broken:
            raise StoreError(f"run file no longer written: {self.broken}")
        if self._busy:
            raise StoreError("re-entrant write refused (a write is in progress in this thread)")
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def _guarded(self, fn, *args) -> Any:
        """Run one file write; an OSError (ENOSPC, EIO) stops all writing with one clear reason."""
        try:
            return fn(*args)
        except OSError as exc:
            self.broken = f"write error: {exc}"
            raise StoreError(f"{self.run_dir.name}: {self.broken}; rows already journaled are kept") from exc

    def _check_space(self, stream: str, n: int) -> None:
        """Stop *before* the disk is full (the rule and its accounting: space._SpaceGuard)."""
        sp = self._spec[stream]
        why = self._space.shortfall(n, self._bufs[stream].n + n, sp.row_bytes, sp.chunk_bytes)
        if why:
            self.broken = why
            raise StoreError(f"{self.run_dir.name}: {self.broken}; stopped before writing, nothing lost")

    def _flush_locked(self, keep_tail_of: tuple[str, int] | None = None) -> None:
        """Write every buffered row to HDF5, then one ``f.flush()`` (SWMR readers see them).

        ``keep_tail_of`` = (stream, rows its buffer must keep free) when that stream's buffer is full (the
        size budget): its rows past the last whole chunk stay buffered (< one chunk per column), so the file
        ends on a chunk boundary and the next flush writes whole chunks again instead of rewriting a
        partial chunk at every flush. Such a flush leaves ``_last_flush`` (every buffered row was appended
        after it) where it was: the time budget still publishes each row within ``flush_interval_s`` of
        the last complete flush, as before."""
        kept = False
        for name, buf in self._bufs.items():
            if buf.n:
                sp = self._spec[name]
                m = buf.n
                if keep_tail_of is not None and name == keep_tail_of[0]:
                    m = _aligned_rows(sp, self._n_rows[name], buf.n, keep_tail_of[1])
                self._guarded(self._write_h5, sp, buf.arrays, m)
                self._n_rows[name] += m
                if m < buf.n:
                    for a in buf.arrays:
                        a[:buf.n - m] = a[m:buf.n]   # overlapping ranges: numpy copies through a buffer
                    kept = True
                buf.n -= m
        self._guarded(self._f.flush)
        now = time.monotonic()
        if not kept:
            self._last_flush = now
        if now - self._last_state >= STATE_REFRESH_S:
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
            if not self._closed and not self.broken:
                with self._writing():
                    self._flush_locked()

    def _event_rows(self, message: str, level: str) -> None:
        t = self._t()
        rec = json.dumps({"t": t, "level": level, "message": message}).encode()
        self._journal.frame(0, _K_EVENT, 1, [rec])
        _append_rows(self._f["entry"]["events"], {"t": np.array([t]), "level": np.array([_enc(level, 16)], "S16"),
                                                  "message": np.array([_enc(message, 256)], "S256")},
                     ["level", "message", "t"])

    def event(self, message: str, level: str = "info") -> None:
        """Append to /entry/events (t, level, message); written through and flushed immediately."""
        with self._lock, self._writing():
            self._guarded(self._event_rows, str(message), str(level))
            self._flush_locked()

    def _segment(self, reason: str) -> None:
        row = {"t": self._t(), "wall_time": _iso(_now()), "reason": reason,
               **{f"start_{s}": self._n_rows[s] for s in self.schema}}
        self._journal.frame(0, _K_SEGMENT, 1, [json.dumps(row).encode()])
        _append_rows(self._f["entry"]["segments"], _segment_arrays(row, self.schema), list(_segment_arrays(row, self.schema)))

    def _write_state(self, **extra: Any) -> None:
        self._last_state = time.monotonic()
        self._guarded(_write_state, self.state_path, self._state_dict(**extra))

    def _state_dict(self, **extra: Any) -> dict:
        return {
            "layout": LAYOUT_VERSION, "status": self.status, "pid": os.getpid(), "host": socket.gethostname(),
            "pid_start": _proc_start(os.getpid()), "run_id": self.run_id, "run_type": self.run_type,
            "device": self.device, "identity": self.identity, "start_time": self.start_time, "n_rows": dict(self._n_rows),
            "last_seq": dict(self._last_seq), "updated": _iso(_now()), **extra}

    # -- finalization
    def close(self, status: str, reason: str = "", safe_state: dict | None = None,
              attachments: dict[str, dict[str, np.ndarray]] | None = None, failure: dict | None = None) -> None:
        """Drain, close the SWMR file, reopen r+ to write end_time/status/reason/n_rows/safe state (and the
        device failure), fsync, and mark the state file. Idempotent (later calls do nothing). Never raises
        for a storage fault: after a write error the reserve file is released to make room, and if the
        file still cannot be finalized ``close_error`` says why and the state file records the status
        with ``finalized: false`` (the journal holds every row; ``labrc close``/``resume`` rebuild it).

        ``attachments`` are whole tables known only at the end (e.g. the instrument transcript):
        written at finalization to ``/entry/attachments/<name>/<column>``, gzip-compressed (never
        while streaming)."""
        with self._lock:
            if self._closed:
                return
            if status not in ("completed", "device_failure", "aborted", "failed"):
                raise StoreError(f"bad final status {status!r}")
            if self._busy:
                raise StoreError("close refused inside a write")
            self._reserve.unlink(missing_ok=True)      # room to finalize, whatever happened
            if self.broken and status == "completed":
                status, reason = "failed", self.broken
            errors = []
            try:
                if not self.broken:
                    self._flush_locked()
            except (StoreError, OSError) as exc:
                errors.append(str(exc))
            finally:
                self._closed = True
                for fn in (self._f.close, self._journal.close):
                    try:
                        fn()
                    except Exception as exc:  # noqa: BLE001 - keep closing; the journal is the record
                        errors.append(f"{type(exc).__name__}: {exc}")
            end = _iso(_now())
            self.status = status
            info = {"end_time": end, "reason": reason, "safe_ok": bool((safe_state or {}).get("ok")),
                    "failure": failure}
            if not errors:
                try:
                    _finalize(self.path, status, reason, end, safe_state, attachments, failure)
                except Exception as exc:  # noqa: BLE001 - e.g. ENOSPC at finalization
                    errors.append(f"{type(exc).__name__}: {exc}")
            if errors:
                self.close_error = "; ".join(errors)
                info.update(finalized=False, close_error=self.close_error)
            try:
                _write_state(self.state_path, self._state_dict(**info))
            except OSError as exc:
                self.close_error = "; ".join([*errors, f"state file: {exc}"])

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, et: type | None, ev: BaseException | None, tb: Any) -> None:
        if ev is None:
            self.close("completed")
        elif isinstance(ev, KeyboardInterrupt):
            self.close("aborted", "KeyboardInterrupt")
        else:
            self.close("failed", repr(ev))


