"""Recovery of a crashed run: rebuild run.h5 from the journal plus a salvage read of the old file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from .journal import _K_EVENT, _K_ROWS, _K_SEGMENT, _decode_rows, _Journal, read_journal
from .layout import _append_rows, _build_skeleton, _finalize, _segment_arrays
from .schema import H5_NAME, JOURNAL_NAME, LAYOUT_VERSION, STATE_NAME, _LIBVER, StoreError, Stream, _enc, _iso, _now, _seq_prefix
from .state import _effective_status, _read_state, _write_state

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
