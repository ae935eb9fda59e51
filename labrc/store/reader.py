"""RunReader and list_runs: read runs, finished or live (SWMR), through the versioned layout only."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .h5open import open_run_h5
from .layout import _schema_of
from .schema import H5_NAME, LAYOUT_VERSION, StoreError, _s, _seq_prefix
from .state import _effective_status, _read_state

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
        self._f = open_run_h5(self.path)      # StoreError, fast, on a missing/empty/foreign/truncated file
        try:
            self._read_identity()
        except StoreError:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - damaged metadata: one line, never a traceback or a hang
            self.close()
            raise StoreError(f"{self.path}: damaged or not a labrc run file ({type(exc).__name__}: {exc})") from None

    def _read_identity(self) -> None:
        layout = _s(self._f.attrs.get("layout", ""))
        if layout != LAYOUT_VERSION:
            what = "not a labrc run file" if not layout else f"unknown layout {layout!r}"
            raise StoreError(f"{self.path}: {what} (this labrc reads {LAYOUT_VERSION})")
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
        # where and how the device under test failed (status "device_failure"), else None
        self.failure: dict | None = json.loads(_s(e["device_failure_json"][()])) if "device_failure_json" in e else None
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
                n = self._seq_valid(s[:n])
        return n

    def _seq_valid(self, seq: np.ndarray) -> int:
        """Rows a reader may trust. Live or killed file: the prefix where seq is contiguous (a torn write
        never shows). Finalized file: the prefix where seq strictly increases — a recovery that lost
        rows no copy held keeps the rows after the hole (recorded in /entry/events and ``rows_lost``)."""
        if self._file_status == "running":
            return _seq_prefix(seq)
        bad = np.flatnonzero(np.diff(seq) <= 0)
        return int(bad[0]) + 1 if bad.size else len(seq)

    def n_rows(self, name: str) -> int:
        """Rows of the stream in the valid prefix (common length, contiguous seq)."""
        return self._valid_n(name)

    def stream(self, name: str) -> dict[str, np.ndarray]:
        """All columns of a stream, cut to the seq-valid prefix common to all columns."""
        g, st = self._group(name), self.schema[name]
        n = min(g[c.name].shape[0] for c in st.columns)
        out = {c.name: g[c.name][:n] for c in st.columns}
        if st.seq_col:
            k = self._seq_valid(out[st.seq_col])
            out = {c: a[:k] for c, a in out.items()}
        return out

    def last_row(self, name: str) -> dict[str, Any]:
        """The newest row of the stream's valid prefix (``{}`` if empty), without reading the rest."""
        n = self._valid_n(name)
        if n == 0:
            return {}
        g = self._group(name)
        return {c.name: g[c.name][n - 1].tolist() for c in self.schema[name].columns}

    def read(self, name: str, start: int = 0, stop: int | None = None, step: int = 1,
             columns: tuple[str, ...] | list[str] | None = None) -> dict[str, np.ndarray]:
        """Rows ``start:stop:step`` of ``columns`` (default all) of a stream, inside its valid prefix —
        for live views that read only what is new, or a decimated stride, without loading the stream."""
        n = self._valid_n(name)
        g = self._group(name)
        stop = n if stop is None else min(int(stop), n)
        cols = list(columns) if columns is not None else [c.name for c in self.schema[name].columns]
        unknown = set(cols) - {c.name for c in self.schema[name].columns}
        if unknown:
            raise StoreError(f"stream {name!r} has no column(s) {sorted(unknown)}")
        return {c: g[c][int(start):stop:max(1, int(step))] for c in cols}

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

    # -- data out (labrc.export: units as attributes, 2-D columns; needs the optional "data" extra)
    def to_pandas(self, stream: str, max_split: int = 64):
        """``stream`` as a pandas DataFrame: units in ``df.attrs["units"]``, the run identity in ``df.attrs``;
        a 2-D column of at most ``max_split`` values per row becomes ``<name>_0 … <name>_<k-1>``, a wider one
        is dropped and named in ``df.attrs["dropped"]`` (``to_xarray`` keeps it)."""
        from ..export import stream_to_pandas
        return stream_to_pandas(self, stream, max_split)

    def to_xarray(self, stream: str):
        """``stream`` as an xarray Dataset on dimension ``seq``: ``units`` on every variable, 2-D columns as
        ``<name>_index`` dimensions, the run identity in ``ds.attrs``."""
        from ..export import stream_to_xarray
        return stream_to_xarray(self, stream)


def list_runs(data_dir: Path | str) -> list[dict]:
    """Summaries of the runs under data_dir, sorted by start time: run_id, path, run_dir, run_type, device,
    status, start_time, end_time, n_rows, safe_ok (False/None: the safe state was not verified), failure
    (device failure record or None), finalized, and ``damaged`` (why the file cannot be read, or "").

    Row counts come from the file (the state file's may be stale: a killed writer's forever); a file that
    cannot be read is listed with ``damaged`` set — never skipped, never a hang."""
    out = []
    for h5 in sorted(Path(data_dir).rglob(H5_NAME)):
        st = _read_state(h5.parent) or {}
        row = {"run_id": st.get("run_id"), "path": h5, "run_dir": h5.parent, "run_type": st.get("run_type"),
               "device": st.get("device"), "status": _effective_status(st or None, None) if st else "interrupted",
               "start_time": st.get("start_time"), "end_time": st.get("end_time"), "n_rows": st.get("n_rows", {}),
               "safe_ok": st.get("safe_ok"), "failure": st.get("failure"), "finalized": st.get("finalized", True),
               "reason": st.get("reason", ""), "damaged": ""}
        try:
            with RunReader(h5) as r:
                row.update(run_id=r.run_id, run_type=r.run_type, device=r.device, status=r.status,
                           start_time=r.start_time, end_time=r.end_time, n_rows={s: r.n_rows(s) for s in r.schema})
                if r.safe_state is not None:
                    row["safe_ok"] = bool(r.safe_state.get("ok"))
        except StoreError as exc:
            row["damaged"] = str(exc)
            if row["run_id"] is None:          # neither a state file nor a readable file: not a run
                continue
        out.append(row)
    return sorted(out, key=lambda d: d["start_time"] or "")
