"""The HDF5 layout ``labrc.run/1``: the skeleton created before SWMR, appends, and finalization."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .schema import (H5_NAME, LAYOUT_VERSION, _EVENT_COLS, _LIBVER, _MAX_CHUNK_BYTES, _SEG_COLS, Stream, _enc, _iso,
                     _now, _version)
from .state import _fsync_path

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
              attachments: dict[str, dict[str, np.ndarray]] | None = None, failure: dict | None = None) -> None:
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
        e.attrs["safe_state_ok"] = bool((safe_state or {}).get("ok"))
        if failure:   # a device failure is a result: where and how the device failed, for any reader
            _str_ds(e, "device_failure_json", json.dumps(failure, default=str))
            e.attrs.update({f"failure_{k}": _attr_safe(v) for k, v in failure.items() if v is not None})
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


