"""Recovery of a crashed run: rebuild run.h5 from the journal (the source of truth), using the old file only
where the journal has no rows; and ``close_run``, which ends an interrupted run without continuing it.

Sequence (hdf5-streaming.md §6.5): scan the journal (resynchronising after damage, journal.scan_journal) →
salvage-read the old run.h5 in a child process with a timeout (HDF5 can hang on a damaged file, §2.5) →
merge per stream, journal first → write ``run.h5.tmp`` → verify it row for row against the journal →
finalize (plain, non-SWMR: any HDF5 reader opens it) → ``os.replace`` over run.h5. The old file is kept as
``run.crashed.h5`` only when it contributed rows or the verification failed; an event says which.
The salvage read and the per-stream merge live in ``salvage``; this module runs the sequence.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from .journal import (
    _K_EVENT,
    _K_ROWS,
    _K_SEGMENT,
    JournalScan,
    _Journal,
    _row_bytes,
    scan_journal,
)
from .layout import _append_rows, _build_skeleton, _finalize, _segment_arrays
from .salvage import _holes, _merge_stream, _same_bytes, _salvage_beyond
from .schema import (
    _LIBVER,
    H5_NAME,
    JOURNAL_NAME,
    LAYOUT_VERSION,
    STATE_NAME,
    StoreError,
    Stream,
    _enc,
    _iso,
    _now,
)
from .state import _effective_status, _fsync_path, _read_state, _write_state

CRASHED_NAME = "run.crashed.h5"
_TMP_NAMES = ("run.h5.tmp", "salvage.tmp.npz", CRASHED_NAME + ".tmp")


def _seq_selection(file_seq: np.ndarray, journal_seq: np.ndarray) -> np.ndarray:
    """``np.isin(file_seq, journal_seq)``: which file rows the journal holds."""
    return np.isin(file_seq, journal_seq)


def _journal_content(scan: JournalScan, schema: dict[str, Stream]) -> tuple[dict, list[dict], list[dict]]:
    """Rows per stream (each column one array, frames in journal order), events, segments."""
    names = list(schema)
    frames: dict[str, list[tuple[int, memoryview]]] = {k: [] for k in schema}
    events, segments = [], []
    for sid, kind, n, payload in scan.frames:
        if kind == _K_ROWS:
            frames[names[sid]].append((n, payload))
        elif kind == _K_EVENT:
            events.append(json.loads(bytes(payload)))
        elif kind == _K_SEGMENT:
            segments.append(json.loads(bytes(payload)))
    return {name: _concat_rows(st, frames[name]) for name, st in schema.items()}, events, segments


def _concat_rows(st: Stream, frames: list[tuple[int, memoryview]]) -> dict[str, np.ndarray]:
    """The columns of a stream's row frames, each copied once into its final (aligned) array: a frame's
    payload is column after column, n rows each (one concatenation per column, no view per frame and column)."""
    total = sum(n for n, _ in frames)
    per_row = [c.np_dtype.itemsize * int(np.prod(c.shape, dtype=np.int64)) for c in st.columns]
    out = {c.name: np.empty((total, *c.shape), c.np_dtype) for c in st.columns}
    dst = [out[c.name].reshape(-1).view(np.uint8) for c in st.columns]
    pos = 0
    for n, payload in frames:
        src = np.frombuffer(payload, np.uint8)
        off = 0
        for d, b in zip(dst, per_row):
            nb = n * b
            d[pos * b:pos * b + nb] = src[off:off + nb]
            off += nb
        pos += n
    return out


def _verify(path: Path, schema: dict[str, Stream], journal_rows: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """Problems found comparing the rebuilt file with the journal: every journal row must be in the file,
    bit for bit, at its seq (or, without a seq column, as the file's prefix). Empty list = verified."""
    problems = []
    with h5py.File(path, "r") as f:
        for name, st in schema.items():
            problems += verify_stream(name, st, f["entry"][name], journal_rows[name])
    return problems


def verify_stream(name: str, st: Stream, g: h5py.Group, j: dict[str, np.ndarray],
                  also: Callable[[str, np.ndarray], str | None] | None = None) -> list[str]:
    """Problems of one stream group ``g`` against its journal rows ``j``: equal column lengths, and every
    journal row bit for bit at its seq (or, without a seq column, as the file's prefix). One column is read
    at a time (a long run's stream does not fit in memory whole); ``also(column, values)`` checks each
    column's values further (compaction: equal to the original file) and returns a problem or None."""
    cols = [c.name for c in st.columns]
    if len({g[c].shape[0] for c in cols}) != 1:
        return [f"{name}: columns differ in length"]
    sel = _seq_selection(g[st.seq_col][()], j[st.seq_col]) if st.seq_col else slice(0, len(j[cols[0]]))
    problems, bad = [], []
    for c in cols:
        values = g[c][()]
        if also is not None and (why := also(c, values)):
            problems.append(why)
        if not _same_bytes(values[sel], j[c]):
            bad.append(c)
    if bad:
        problems.append(f"{name}: {bad[:4]} differ from the journal")
    return problems


def _ev(t: float, level: str, msg: str) -> dict[str, np.ndarray]:
    return {"t": np.array([t]), "level": np.array([_enc(level, 16)], "S16"),
            "message": np.array([_enc(msg, 256)], "S256")}


def remove_leftovers(run_dir: Path) -> list[str]:
    """Delete what a killed recovery/compaction/writer left behind: temporary files and the writer's disk
    reserve (never run.h5, the journal or the state file). Callers have checked that no writer is alive."""
    # a dead writer's disk reserve (run.reserve) is released too: a full disk gets room to rebuild
    from .compact import COMPACT_TMP
    from .space import RESERVE_NAME
    gone = []
    for n in (*_TMP_NAMES, COMPACT_TMP, RESERVE_NAME):
        p = Path(run_dir) / n
        if p.exists():
            p.unlink()
            gone.append(n)
    return gone


def check_free_space(run_dir: Path, need: int, what: str) -> None:
    """Refuse before writing when the disk cannot hold ``need`` bytes: HDF5 does not survive running out of
    space inside a write (h5py then floods stderr and the process can segfault; issue 10 item 5)."""
    free = shutil.disk_usage(run_dir).free
    if free < need:
        raise StoreError(f"{run_dir.name}: cannot {what}: {free / 1e6:.1f} MB free, about {need / 1e6:.1f} MB "
                         f"needed in {run_dir}; run.h5 and the journal were not changed")


def _keep_as_crashed(h5: Path, run_dir: Path) -> None:
    """Keep the old file as run.crashed.h5 while run.h5 stays in place until the atomic swap (a hard link:
    a kill at any moment leaves a run.h5). Without hard links (FAT, some shares): a rename, as before."""
    link = run_dir / (CRASHED_NAME + ".tmp")
    try:
        link.unlink(missing_ok=True)
        os.link(h5, link)
        os.replace(link, run_dir / CRASHED_NAME)
    except OSError:
        os.replace(h5, run_dir / CRASHED_NAME)


def recover(run_dir: Path | str, salvage_timeout_s: float = 60.0, reason: str | None = None) -> dict[str, int]:
    """Rebuild run.h5 of a crashed run from its journal, plus whatever a salvage read of the old file holds
    where the journal has no rows. Status becomes "interrupted" (``reason``: why, default a description of
    the recovery); the torn journal tail is cut; damaged journal stretches become events (bytes skipped,
    seq range lost or filled from the file). The result is a plain HDF5 file (no SWMR flags) that any
    reader opens. Returns rows per stream. Refuses while the writer is alive.

    Journal damage is left in place (the journal is append-only and the next recovery finds the same gaps
    again; they are derived afresh each time, not copied into the journal)."""
    run_dir = Path(run_dir)
    state = _read_state(run_dir)
    if state and _effective_status(state, None) == "running":
        raise StoreError(f"{run_dir}: writer pid {state.get('pid')} is alive")
    jpath, h5 = run_dir / JOURNAL_NAME, run_dir / H5_NAME
    if not jpath.exists() and h5.exists():
        from .compact import is_compacted
        if is_compacted(h5):
            raise StoreError(f"{run_dir.name}: compacted (journal removed after verification): "
                             "nothing to recover or resume")
    remove_leftovers(run_dir)
    scan = scan_journal(jpath)
    header = scan.header
    schema = {k: Stream.from_json(v) for k, v in header["schema"].items()}
    jrows, events, segments = _journal_content(scan, schema)
    salv = _salvage_beyond(h5, schema, jrows, salvage_timeout_s) if h5.exists() else {}
    notes = [f"journal damage at byte {off}: {nb} bytes skipped"
             + (f" (the damaged frame held {n} rows)" if n else "") for off, nb, n in scan.gaps]
    if scan.tail_bytes:
        notes.append(f"journal torn tail: {scan.tail_bytes} bytes cut")
    merged, counts, from_file, rows_lost = {}, {}, 0, {}
    for name, st in schema.items():
        rows, used, n_notes = _merge_stream(name, st, jrows[name], salv.get(name, {}))
        merged[name], counts[name] = rows, len(rows[st.columns[0].name])
        from_file += used
        notes += n_notes
        if used:
            notes.append(f"{name}: {used} rows missing from the journal taken from run.h5")
        if st.seq_col:
            holes = _holes(rows[st.seq_col])
            if holes:
                lost = rows_lost[name] = sum(b - a + 1 for a, b in holes)
                txt = ", ".join(f"{a}..{b}" for a, b in holes[:4]) + (" ..." if len(holes) > 4 else "")
                notes.append(f"{name}: {lost} rows lost (seq {txt}): in neither the journal nor run.h5")
    tmp = run_dir / "run.h5.tmp"
    need = scan.size + sum(len(merged[k][st.columns[0].name]) * _row_bytes(st) for k, st in schema.items()
                           if from_file) + sum(st.chunk_rows * _row_bytes(st) for st in schema.values()) + (2 << 20)
    check_free_space(run_dir, need, "rebuild run.h5")
    ident = {k: header[k] for k in ("run_id", "run_type", "device", "start_time")}
    t_last = float(events[-1]["t"]) if events else 0.0
    try:
        with h5py.File(tmp, "w", libver=_LIBVER) as f:
            _build_skeleton(f, schema, header["metadata"], ident)
            e = f["entry"]
            for name, st in schema.items():
                _append_rows(e[name], merged[name], [c.name for c in st.columns])
            for ev in events:
                _append_rows(e["events"], _ev(ev["t"], ev["level"], ev["message"]), ["level", "message", "t"])
            for sg in segments:
                a = _segment_arrays(sg, schema)
                _append_rows(e["segments"], a, list(a))
            for n in notes:
                _append_rows(e["events"], _ev(t_last, "warning", n), ["level", "message", "t"])
        problems = _verify(tmp, schema, jrows)
        keep_old = h5.exists() and (from_file > 0 or bool(problems))
        msg = (f"recovered after crash from journal ({len(scan.frames)} frames, {len(scan.gaps)} damaged stretches)"
               f"{' + run.h5 rows' if from_file else ''}; rows {counts}")
        if problems:
            msg += f"; verification against the journal FAILED ({'; '.join(problems)[:100]})"
        if keep_old:
            msg += f"; old file kept as {CRASHED_NAME}"
        elif h5.exists():
            msg += "; verified row for row against the journal, old file deleted"
        with h5py.File(tmp, "r+", libver=_LIBVER) as f:
            _append_rows(f["entry"]["events"], _ev(t_last, "warning", msg), ["level", "message", "t"])
        if scan.tail_bytes:  # cut the torn tail before appending after it
            os.truncate(jpath, scan.valid_end)
        jw = _Journal(jpath, None)
        jw.frame(0, _K_EVENT, 1, [json.dumps({"t": t_last, "level": "warning", "message": msg}).encode()])
        jw.close()
        end = _iso(_now())
        _finalize(tmp, "interrupted", reason or msg, end, None)
        if keep_old:
            _keep_as_crashed(h5, run_dir)
        os.replace(tmp, h5)  # atomic: a kill before this line leaves the old run.h5 and the journal untouched
    except OSError as exc:  # e.g. the disk is still full: nothing changed, say what is needed
        tmp.unlink(missing_ok=True)
        need = h5.stat().st_size if h5.exists() else scan.size
        raise StoreError(f"{run_dir.name}: cannot rebuild run.h5 ({exc.strerror or exc}); "
                         f"it needs about {need / 1e6:.0f} MB free in {run_dir}") from None
    _fsync_path(run_dir)
    st = dict(state or {})
    st.update({"layout": LAYOUT_VERSION, **ident, "status": "interrupted", "reason": reason or msg, "n_rows": counts,
               "last_seq": {k: int(merged[k][s.seq_col][-1]) for k, s in schema.items() if s.seq_col and counts[k]},
               "recovered": end, "end_time": end, "journal_gaps": len(scan.gaps), "rows_lost": rows_lost,
               "verified": not problems})
    _write_state(run_dir / STATE_NAME, st)
    return counts


def close_run(run_dir: Path | str, salvage_timeout_s: float = 60.0) -> dict:
    """End an interrupted run without continuing it (``labrc close``): rebuild and finalize run.h5 from the
    journal (:func:`recover`), status stays "interrupted" with the reason, the file opens in any HDF5 reader
    (plain ``h5py.File(path)``, no SWMR). Never touches the instrument. Refuses a run whose writer is alive;
    a finished or already closed run is left as it is.

    Returns {"closed": bool, "status", "message", "rows"}."""
    run_dir = Path(run_dir)
    run_dir = run_dir.parent if run_dir.is_file() else run_dir
    state = _read_state(run_dir)
    if state is None and not (run_dir / JOURNAL_NAME).exists() and not (run_dir / H5_NAME).exists():
        raise StoreError(f"{run_dir}: not a run directory (no {STATE_NAME}, {JOURNAL_NAME} or {H5_NAME})")
    status = _effective_status(state, None)
    if status == "running":
        raise StoreError(f"{run_dir.name}: writer pid {state.get('pid')} on {state.get('host')} is alive; "
                         "stop it first (Ctrl-C / SIGTERM)")
    if status != "interrupted":
        return {"closed": False, "status": status, "rows": (state or {}).get("n_rows", {}),
                "message": f"{run_dir.name} is {status} (finalized by its writer): nothing to close"}
    if state and state.get("closed"):
        return {"closed": False, "status": status, "rows": state.get("n_rows", {}),
                "message": f"{run_dir.name} was already closed at {state['closed']}: nothing to do"}
    who = f"pid {state.get('pid')} on {state.get('host')}" if state else "unknown (no state file)"
    reason = (f"interrupted: the writer ({who}) ended without finalizing (killed, crashed or power loss); "
              "closed from its journal with labrc close")
    counts = recover(run_dir, salvage_timeout_s, reason=reason)
    st = _read_state(run_dir) or {}
    st["closed"] = _iso(_now())
    _write_state(run_dir / STATE_NAME, st)
    return {"closed": True, "status": "interrupted", "rows": counts, "message": reason}
