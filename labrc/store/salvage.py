"""Salvage of a crashed run's old run.h5 for recovery: read what the (possibly damaged) file still holds in a
child process with a timeout (HDF5 can hang on a damaged file, hdf5-streaming.md §2.5), and merge it per
stream with the journal's rows, using file rows only where the journal has none and the file agrees with it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from .schema import Stream, _seq_prefix

# Child process: every column of every stream as far as it reads (chunk-block by chunk-block, stopping at the
# first block that fails), *not* cut to a common length: the merge decides whether the file can be trusted.
_SALVAGE = r"""
import sys, json, numpy as np, h5py
src, dst, what = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
with h5py.File(src, "r", swmr=True) as f:
    e = f["entry"]
    layout = json.loads(e["layout_json"][()])
    for name, st in layout.items():
        for cname, *_ in st["columns"]:
            if what == "seq" and cname != st["seq"]:
                out[name + "/" + cname] = np.zeros(0, e[name][cname].dtype)
                continue
            d = e[name][cname]; step = max(d.chunks[0] * 16, 1); parts = []; k = 0
            while k < d.shape[0]:
                try:
                    parts.append(d[k:k + step]); k += step
                except Exception:
                    break
            out[name + "/" + cname] = np.concatenate(parts) if parts else d[:0]
np.savez(dst, **out)
"""


def _salvage(h5: Path, timeout_s: float, what: str = "all") -> dict[str, dict[str, np.ndarray]]:
    """Read what a (possibly damaged) run.h5 holds, in a child process with a timeout (HDF5 can hang).
    ``what="seq"``: only the seq columns (the other columns come back empty)."""
    dst = h5.with_name("salvage.tmp.npz")
    try:
        subprocess.run([sys.executable, "-c", _SALVAGE, str(h5), str(dst), what], timeout=timeout_s,
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


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Same shape and the same bytes (NaN == NaN with the same payload), compared 1 MiB at a time without
    copying either array into bytes."""
    if a.shape != b.shape:
        return False
    ua, ub = np.ascontiguousarray(a).reshape(-1).view(np.uint8), np.ascontiguousarray(b).reshape(-1).view(np.uint8)
    if ua.size != ub.size:
        return False
    step = 1 << 20
    return all(np.array_equal(ua[k:k + step], ub[k:k + step]) for k in range(0, ua.size, step))


def _rows_differ(a: dict, b: dict, cols: list[str]) -> list[str]:
    return [c for c in cols if not _same_bytes(a[c], b[c])]


def _merge_stream(name: str, st: Stream, j: dict[str, np.ndarray], s: dict[str, np.ndarray]
                  ) -> tuple[dict[str, np.ndarray], int, list[str]]:
    """Rows of one stream: the journal's (j) first; salvaged file rows (s) only where the journal has none
    (a journal tail lost to a power cut, a damaged journal frame), and only if the file is consistent: rows
    present in every column (common length), seq contiguous, and bitwise equal to the journal wherever both
    hold a row (a file damaged by a half-done write has wrong values inside its seq-valid range: issue 10
    item 2). A file that shares no row with the journal must also have all columns of the same length.
    Returns (rows, file rows used, notes for the event log)."""
    cols = [c.name for c in st.columns]
    seqc, notes = st.seq_col, []
    nj = len(j[cols[0]])
    if seqc is not None and nj:  # out-of-order or repeated journal rows (never written by RunWriter): first wins
        seq = j[seqc]
        prev = np.concatenate([[np.iinfo(np.int64).min], np.maximum.accumulate(seq)[:-1]])
        keep = seq > prev
        if not keep.all():
            notes.append(f"{name}: {int((~keep).sum())} out-of-order journal rows dropped")
            j = {c: a[keep] for c, a in j.items()}
            nj = len(j[cols[0]])
    lens = {len(s[c]) for c in cols} if all(c in s for c in cols) else {0}
    if min(lens) == 0:
        return j, 0, notes
    n_common = min(lens)
    s = {c: s[c][:n_common] for c in cols}
    if seqc is None:  # no row key: the file may only extend the journal, which must be its exact prefix
        if n_common <= nj or len(lens) != 1 or _rows_differ({c: s[c][:nj] for c in cols}, j, cols):
            if n_common > nj:
                notes.append(f"{name}: run.h5 disagrees with the journal or its columns differ in length: "
                             "file rows not used")
            return j, 0, notes
        return {c: np.concatenate([j[c], s[c][nj:]]) for c in cols}, n_common - nj, notes
    k = _seq_prefix(s[seqc])
    s = {c: a[:k] for c, a in s.items()}
    both_f = np.isin(s[seqc], j[seqc])
    if both_f.any():
        both_j = np.isin(j[seqc], s[seqc])
        bad = _rows_differ({c: a[both_f] for c, a in s.items()}, {c: a[both_j] for c, a in j.items()}, cols)
        if bad:
            notes.append(f"{name}: run.h5 disagrees with the journal in {bad[:4]}: journal kept, file rows not used")
            return j, 0, notes
    elif len(lens) != 1:  # nothing to check the file against, and its columns disagree: do not trust it
        notes.append(f"{name}: run.h5 columns differ in length {sorted(lens)} and share no row with the journal: "
                     "file rows not used")
        return j, 0, notes
    extra = ~both_f
    n_extra = int(extra.sum())
    if not n_extra:
        return j, 0, notes
    out = {c: np.concatenate([j[c], s[c][extra]]) for c in cols}
    order = np.argsort(out[seqc], kind="stable")
    return {c: a[order] for c, a in out.items()}, n_extra, notes


def _salvage_beyond(h5: Path, schema: dict[str, Stream], jrows: dict, timeout_s: float) -> dict:
    """The old file's rows, read only if it may hold rows the journal lacks. A kill -9 never leaves such
    rows (every append is journaled before it is buffered), so the usual recovery reads just the file's seq
    columns (a 2×10⁶-row run: ~16 MB instead of ~130 MB, in the child and here)."""
    probe = _salvage(h5, timeout_s, "seq")
    for name, st in schema.items():
        if st.seq_col is None:
            return _salvage(h5, timeout_s)  # no row key: only a full read can tell
        fseq = probe.get(name, {}).get(st.seq_col)
        if fseq is not None and len(fseq) and not np.isin(fseq[:_seq_prefix(fseq)], jrows[name][st.seq_col]).all():
            return _salvage(h5, timeout_s)
    return {}


def _holes(seq: np.ndarray) -> list[tuple[int, int]]:
    """Missing seq ranges (first, last) inside a strictly increasing seq column."""
    if len(seq) < 2:
        return []
    at = np.flatnonzero(np.diff(seq) > 1)
    return [(int(seq[i]) + 1, int(seq[i + 1]) - 1) for i in at]
