"""Compaction of a finished run: a gzip + shuffle copy of run.h5, verified, swapped in atomically, journal removed.

Why: while streaming, run.h5 must stay uncompressed (hdf5-streaming.md §2.4, §3.4: compression + SWMR grows
the file without bound, compression without SWMR corrupts the last chunk on a crash), and the journal is
kept as the source of truth. A finished 2×10⁶-cycle endurance run therefore takes twice its data
(133 MB + 132 MB, issue 10 item 13). §6.4 step 3-4: compress when finalizing, verify, then drop the journal.

Filters: HDF5's own shuffle + deflate (gzip), which every HDF5 reader has (no plugin: MATLAB, HDFView,
netCDF-C). Level 1 by default: measured on a 2×10⁶-cycle volatile endurance run (see README / report),
level 4 costs more time for a few per cent of size. Chunks of ≤ 1 MiB (§3.3: keeps HDF5 1.14 and 2.0
alike) but larger than the streaming 128 KiB ones, which compress better and index smaller.

Crash safety (every step can be killed with SIGKILL; the run opens and loses nothing at each point):

1. write ``run.h5.compact.tmp``      kill → run.h5 + journal untouched; the tmp is deleted by the next
                                     compact / recover / close (``remove_leftovers``)
2. verify tmp: every dataset, attribute and dimension scale equal to run.h5, every journal row present
   bit for bit                       kill → as 1
3. fsync tmp, ``os.replace`` over run.h5, fsync the directory
                                     kill → either the old or the new run.h5 (rename is atomic), journal kept
4. unlink the journal, fsync dir     kill before → a compacted run.h5 with its journal: the next compact
                                     verifies it against the journal and removes the journal
5. state file gets ``compacted``     kill before → nothing lost (the file's ``compaction`` attribute says it)

Resume after compaction: refused (decision). Compaction is for runs that ended (completed, device failure;
aborted/failed/interrupted only with ``final=True``); resuming would need the journal and an uncompressed
file (SWMR appends to gzip chunks grow the file without bound, §3.4). ``recover`` and therefore
``RunWriter.resume`` answer a compacted run with one line: nothing to recover or resume.
"""
from __future__ import annotations

import json
import os
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from .journal import scan_journal
from .recovery import _journal_content, _verify, check_free_space, remove_leftovers, verify_stream
from .salvage import _same_bytes
from .schema import (
    _LIBVER,
    H5_NAME,
    JOURNAL_NAME,
    STATE_NAME,
    StoreError,
    Stream,
    _iso,
    _now,
)
from .state import _effective_status, _fsync_path, _read_state, _write_state

COMPACT_TMP = "run.h5.compact.tmp"
DEFAULT_LEVEL = 1
DEFAULT_CHUNK_BYTES = 1 << 20
_DIM_ATTRS = ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "DIMENSION_LABELS")
_FINAL = ("completed", "device_failure")
_RESUMABLE = ("aborted", "failed", "interrupted")
_WORKERS = max(1, min(4, os.cpu_count() or 1))  # threads compressing chunks (zlib releases the GIL)


def is_compacted(h5: Path | str) -> bool:
    """True if run.h5 is a compacted copy (root attribute ``compaction``). A file that does not open plainly
    (SWMR flags of a killed writer, truncated) is not compacted; plain opens fail fast, they do not hang."""
    try:
        with h5py.File(h5, "r") as f:
            return "compaction" in f.attrs
    except Exception:  # noqa: BLE001 - any unreadable file is "not compacted"
        return False


def _fsync_dir(d: Path) -> None:
    try:
        _fsync_path(d)
    except OSError:  # pragma: no cover - Windows cannot open a directory; NTFS renames are journaled
        pass


def _shuffle_deflate(a: np.ndarray, rows: int, level: int) -> bytes:
    """One chunk as HDF5's filter pipeline stores it for ``shuffle=True, compression="gzip"``: the chunk
    padded to its full ``rows`` (edge chunks are stored whole; the padding is never read), then the shuffle
    filter (H5Zshuffle.c: byte 0 of every element, then byte 1, …), then deflate in the zlib format
    (H5Zdeflate.c: ``compress2`` at ``level``). The library reads it back like any chunk it wrote."""
    if len(a) < rows:
        full = np.zeros((rows, *a.shape[1:]), a.dtype)
        full[:len(a)] = a
        a = full
    u = np.ascontiguousarray(a).view(np.uint8).reshape(-1, a.dtype.itemsize)
    return zlib.compress(np.ascontiguousarray(u.T), level)


def _write_block(d: h5py.Dataset, start: int, chunks: list[Future]) -> None:
    """Store the compressed chunks of one block, in order, from row ``start`` (a chunk boundary)."""
    rows, tail = d.chunks[0], (0,) * (d.ndim - 1)
    for i, fut in enumerate(chunks):
        d.id.write_direct_chunk((start + i * rows, *tail), fut.result())


def _copy_attrs(src: h5py.HLObject, dst: h5py.HLObject) -> None:
    for k in src.attrs:
        if k in _DIM_ATTRS:
            continue
        aid = src.attrs.get_id(k)
        dst.attrs.create(k, src.attrs[k], shape=aid.shape, dtype=aid.dtype)


def _recompress(d: h5py.Dataset) -> bool:
    return d.chunks is not None and d.dtype.kind in "biufS" and d.ndim >= 1


def _copy_dataset(d: h5py.Dataset, g: h5py.Group, name: str, level: int, chunk_bytes: int,
                  pool: ThreadPoolExecutor) -> None:
    """A chunked numeric column: same dtype, shape and maxshape, new chunks, shuffle + gzip, copied in
    blocks of 8 whole chunks (memory bounded). The chunks are compressed by ``pool`` while the next block
    is read, and stored as they are (``write_direct_chunk``: the library's own pipeline would compress
    them one at a time on this thread); the file is the same as with ``out[k:] = block``."""
    row_bytes = d.dtype.itemsize * int(np.prod(d.shape[1:], dtype=np.int64))
    rows = max(1, min(chunk_bytes // max(row_bytes, 1), max(d.shape[0], 1)))
    out = g.create_dataset(name, shape=d.shape, maxshape=d.maxshape, dtype=d.dtype, chunks=(rows, *d.shape[1:]),
                           compression="gzip", compression_opts=level, shuffle=True)
    step = rows * 8
    pending: tuple[int, list[Future]] | None = None
    for k in range(0, d.shape[0], step):
        a = d[k:k + step]
        futs = [pool.submit(_shuffle_deflate, a[i:i + rows], rows, level) for i in range(0, len(a), rows)]
        if pending:
            _write_block(out, *pending)
        pending = (k, futs)
    if pending:
        _write_block(out, *pending)
    _copy_attrs(d, out)


def _copy_tree(src: h5py.File, dst: h5py.File, level: int, chunk_bytes: int) -> None:
    with ThreadPoolExecutor(_WORKERS, thread_name_prefix="labrc-compact") as pool:
        _copy_tree_with(src, dst, level, chunk_bytes, pool)


def _copy_tree_with(src: h5py.File, dst: h5py.File, level: int, chunk_bytes: int, pool: ThreadPoolExecutor) -> None:
    _copy_attrs(src, dst)

    def walk(sg: h5py.Group, dg: h5py.Group) -> None:
        for name, obj in sg.items():
            if isinstance(obj, h5py.Group):
                walk(obj, dg.create_group(name, track_order=None))
                _copy_attrs(obj, dg[name])
            elif _recompress(obj):
                _copy_dataset(obj, dg, name, level, chunk_bytes, pool)
            else:  # scalars, strings, vlen attachments: H5Ocopy keeps dtype, filters and attributes
                if any(a in obj.attrs for a in ("DIMENSION_LIST", "REFERENCE_LIST")):
                    raise StoreError(f"{obj.name}: dimension scale on a dataset compaction cannot rebuild")
                sg.copy(obj, dg, name=name)
    walk(src, dst)
    scales = []  # dimension scales: references are file-local, so they are rebuilt by name
    src.visititems(lambda n, o: scales.append(n) if isinstance(o, h5py.Dataset) and
                   o.attrs.get("CLASS") == b"DIMENSION_SCALE" else None)
    for n in scales:
        nm = src[n].attrs.get("NAME", b"")
        dst[n].make_scale(nm.decode() if isinstance(nm, bytes) else str(nm))
    users = []
    src.visititems(lambda n, o: users.append(n) if isinstance(o, h5py.Dataset) and "DIMENSION_LIST" in o.attrs
                   else None)
    for n in users:
        for i, dim in enumerate(src[n].dims):
            for sc in dim.values():
                dst[n].dims[i].attach_scale(dst[sc.name])
            if dim.label:
                dst[n].dims[i].label = dim.label


def _equal_ds(a: h5py.Dataset, b: h5py.Dataset) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.shape == () or a.dtype.kind == "O" or a.size == 0:
        va, vb = a[()], b[()]
        return bool(np.all(va == vb)) if isinstance(va, np.ndarray) else va == vb
    step = max(1, (8 << 20) // max(a.dtype.itemsize * int(np.prod(a.shape[1:], dtype=np.int64)), 1))
    for k in range(0, a.shape[0], step):
        if not _same_bytes(a[k:k + step], b[k:k + step]):
            return False
    return True


def _attrs_equal(a: h5py.HLObject, b: h5py.HLObject, skip: tuple[str, ...] = ()) -> bool:
    ka = {k for k in a.attrs if k not in _DIM_ATTRS + skip}
    kb = {k for k in b.attrs if k not in _DIM_ATTRS + skip}
    if ka != kb:
        return False
    for k in ka:
        va, vb = a.attrs[k], b.attrs[k]
        if a.attrs.get_id(k).dtype != b.attrs.get_id(k).dtype or not np.array_equal(np.asarray(va), np.asarray(vb)):
            return False
    return True


def _verify_copy(src_path: Path, dst_path: Path, journal: tuple[dict[str, Stream], dict] | None = None) -> list[str]:
    """Everything a reader uses, compared: objects, dtypes, shapes, values (bitwise), attributes, scales;
    with ``journal`` (schema, rows) also every journal row in the copy, bit for bit at its seq (the check
    of recovery._verify). Each column of the copy is decompressed once for both comparisons."""
    problems: list[str] = []
    with h5py.File(src_path, "r") as a, h5py.File(dst_path, "r") as b:
        streams = set()
        if journal is not None:
            problems += _verify_streams(a, b, *journal)
            streams = {f"entry/{s}/{c.name}" for s, st in journal[0].items() for c in st.columns}
        if not _attrs_equal(a, b, skip=("compaction",)):
            problems.append("/: attributes differ")
        names_a, names_b = [], []
        a.visit(names_a.append)
        b.visit(names_b.append)
        if sorted(names_a) != sorted(names_b):
            problems.append(f"objects differ: {sorted(set(names_a) ^ set(names_b))[:4]}")
            return problems
        for n in names_a:
            oa, ob = a[n], b[n]
            if type(oa) is not type(ob):
                problems.append(f"{n}: object type differs")
                continue
            if not _attrs_equal(oa, ob):
                problems.append(f"{n}: attributes differ")
            if isinstance(oa, h5py.Dataset):
                if n not in streams and not _equal_ds(oa, ob):   # stream columns: _verify_streams
                    problems.append(f"{n}: values differ")
                if oa.is_scale != ob.is_scale or [[s.name for s in d.values()] for d in oa.dims] != \
                        [[s.name for s in d.values()] for d in ob.dims]:
                    problems.append(f"{n}: dimension scales differ")
            if len(problems) > 8:
                break
    return problems


def _verify_streams(a: h5py.File, b: h5py.File, schema: dict[str, Stream], journal_rows: dict) -> list[str]:
    """Each stream column of the copy ``b`` read once: equal to the original ``a`` (bitwise, same shape and
    dtype) and holding every journal row bit for bit at its seq (recovery.verify_stream)."""
    problems = []
    for name, st in schema.items():
        ga = a["entry"][name]

        def same_as_original(c: str, values: np.ndarray, ga=ga, name=name) -> str | None:
            y = ga[c]
            if values.shape != y.shape or values.dtype != y.dtype or not _same_bytes(values, y[()]):
                return f"entry/{name}/{c}: values differ"
            return None

        problems += verify_stream(name, st, b["entry"][name], journal_rows[name], also=same_as_original)
    return problems


def _journal_rows(jpath: Path) -> tuple[dict[str, Stream], dict] | None:
    if not jpath.exists():
        return None
    scan = scan_journal(jpath)
    schema = {k: Stream.from_json(v) for k, v in scan.header["schema"].items()}
    return schema, _journal_content(scan, schema)[0]


def compact_run(run_dir: Path | str, level: int = DEFAULT_LEVEL, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                final: bool = False) -> dict:
    """Compact a finished run in place (see the module docstring for the crash-safe sequence).

    ``final`` also compacts runs that could still be resumed (aborted, failed, closed/recovered
    interrupted): their journal goes, so they can no longer be resumed. Returns
    ``{"compacted", "message", "h5_bytes_before", "journal_bytes_before", "bytes_before", "bytes_after",
    "ratio", "seconds", "level"}``; a run already compacted gives ``compacted=False``. Refuses (StoreError)
    a run whose writer is alive, an unfinalized interrupted run, or a copy that fails verification
    (nothing is changed then)."""
    if not 1 <= int(level) <= 9:
        raise StoreError(f"level={level}: gzip level must be in [1, 9]")
    if not 1 << 12 <= int(chunk_bytes) <= 1 << 24:
        raise StoreError(f"chunk_bytes={chunk_bytes}: must be in [4096, 16777216]")
    t0 = time.monotonic()
    run_dir = Path(run_dir)
    run_dir = run_dir.parent if run_dir.is_file() else run_dir
    h5, jpath, tmp = run_dir / H5_NAME, run_dir / JOURNAL_NAME, run_dir / COMPACT_TMP
    state = _read_state(run_dir)
    status = _effective_status(state, None)
    if status == "running":
        raise StoreError(f"{run_dir.name}: writer pid {(state or {}).get('pid')} is alive; compact after it ends")
    if not h5.exists():
        raise StoreError(f"{run_dir}: no {H5_NAME}")
    remove_leftovers(run_dir)
    h5_before = h5.stat().st_size
    j_before = jpath.stat().st_size if jpath.exists() else 0
    base = {"h5_bytes_before": h5_before, "journal_bytes_before": j_before, "bytes_before": h5_before + j_before,
            "level": level}
    if is_compacted(h5):
        if not jpath.exists():
            return {**base, "compacted": False, "bytes_after": h5_before, "ratio": 1.0,
                    "seconds": time.monotonic() - t0, "message": f"{run_dir.name} is already compacted"}
        # killed between the swap and the journal's removal: verify the swapped-in file, then finish
        schema, jrows = _journal_rows(jpath)
        problems = _verify(h5, schema, jrows)
        if problems:
            raise StoreError(f"{run_dir.name}: compacted run.h5 does not match its journal ({'; '.join(problems)})")
        return _finish(run_dir, state, base, t0, "compaction finished (journal verified and removed)")
    if status in _RESUMABLE and not final:
        raise StoreError(f"{run_dir.name} is {status} and can still be resumed; compaction removes its journal "
                         "(pass final=True / labrc compact --final to end it)")
    if status == "interrupted" and not (state or {}).get("recovered"):
        raise StoreError(f"{run_dir.name} is interrupted and not finalized: labrc close it first")
    jr = _journal_rows(jpath)
    check_free_space(run_dir, h5_before + (1 << 20), "compact (the copy may need up to the size of run.h5)")
    try:
        with h5py.File(h5, "r") as src, h5py.File(tmp, "w", libver=_LIBVER) as dst:
            _copy_tree(src, dst, level, chunk_bytes)
        problems = _verify_copy(h5, tmp, jr)
        if problems:
            raise StoreError(f"{run_dir.name}: compacted copy failed verification, run left as it was: "
                             f"{'; '.join(problems)[:300]}")
        info = {"time": _iso(_now()), "filters": f"shuffle+gzip-{level}", "chunk_bytes": int(chunk_bytes),
                "h5_bytes_before": h5_before, "journal_bytes_before": j_before,
                "verified": "every dataset, attribute and scale vs run.h5" + ("; every journal row" if jr else "")}
        with h5py.File(tmp, "r+") as dst:
            dst.attrs["compaction"] = json.dumps(info)
        _fsync_path(tmp)
        _swap(tmp, h5)
        _fsync_dir(run_dir)
    except OSError as exc:  # e.g. no room for the copy: the run is left exactly as it was
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{run_dir.name}: compaction failed, run left as it was ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return _finish(run_dir, state, base, t0, f"compacted: shuffle+gzip-{level}, verified")


def _swap(tmp: Path, h5: Path) -> None:
    os.replace(tmp, h5)


def _drop_journal(run_dir: Path) -> None:
    (run_dir / JOURNAL_NAME).unlink(missing_ok=True)
    _fsync_dir(run_dir)


def _finish(run_dir: Path, state: dict | None, base: dict, t0: float, message: str) -> dict:
    _drop_journal(run_dir)
    after = (run_dir / H5_NAME).stat().st_size
    out = {**base, "compacted": True, "bytes_after": after, "ratio": after / max(base["bytes_before"], 1),
           "seconds": time.monotonic() - t0, "message": message}
    if state is not None:
        st = dict(state)
        st["compacted"] = {k: out[k] for k in ("bytes_before", "bytes_after", "level")} | {"time": _iso(_now())}
        _write_state(run_dir / STATE_NAME, st)
    return out
