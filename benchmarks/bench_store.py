"""Throughput and memory of labrc.store.RunWriter vs plain h5py appending the same blocks.

Endurance-like stream (seq i8, t f8, i_read_before f8, i_write f8, i_read_after f8, flags u2), blocks of
``--block`` rows. Plain h5py = same columns, chunking and libver, resize+write per block per column, one
flush at the end (no journal, no SWMR, no crash safety): the floor a store cannot beat. Each variant runs
in its own child process so ru_maxrss (peak RSS) is per variant; tracemalloc peak (Python/numpy
allocations) is reported too, on request (it slows numpy a little).

    python benchmarks/bench_store.py --rows 10000000 --block 4096 [--dir /path/on/local/disk]
    python benchmarks/bench_store.py --endurance [--repeat 5]     # issue 11's volatile endurance stream
    python benchmarks/bench_store.py --compact [RUN_DIR] [--repeat 3]

``--endurance``: the stream of a 2×10⁶-cycle volatile endurance run as the engine hands it to the store:
``VolatileEndurance(cycles=2e6).schema()``, one ``RunWriter.append("cycles", …)`` per ``proto.blocks()``
burst (3,425 bursts of up to 585 rows × 11 columns since ``burst_s`` = 30 s; printed), then ``close("completed")``; data pre-generated,
append and close timed separately (issue 11 target: append + close ≤ 0.5 s on a quiet machine).

``--compact``: ``compact_run`` on a fresh copy of a finished, uncompacted run (default: the paper's
19,900-pattern spike campaign, run once with ``data.compact=false`` into the scratch directory, ~20 s).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np

COLS = (("seq", "i8", ""), ("t", "f8", "s"), ("i_read_before", "f8", "A"), ("i_write", "f8", "A"),
        ("i_read_after", "f8", "A"), ("flags", "u2", ""))


def blocks(rows: int, block: int):
    """Pre-generated noisy data reused per block (generation cost kept out of the timing)."""
    rng = np.random.default_rng(0)
    base = {n: rng.normal(1e-6, 1e-7, block).astype(dt) for n, dt, _ in COLS if n != "seq"}
    base["flags"] = rng.integers(0, 4, block).astype("u2")
    for start in range(0, rows, block):
        n = min(block, rows - start)
        b = {k: v[:n] for k, v in base.items()}
        b["seq"] = np.arange(start, start + n, dtype="i8")
        yield b


def run_plain(d: Path, rows: int, block: int) -> None:
    with h5py.File(d / "plain.h5", "w", libver=("v110", "v110")) as f:
        ds = {n: f.create_dataset(n, (0,), dt, maxshape=(None,), chunks=(16384,)) for n, dt, _ in COLS}
        for b in blocks(rows, block):
            for n, a in b.items():
                d_ = ds[n]
                k = d_.shape[0]
                d_.resize((k + len(a),))
                d_[k:] = a
        f.flush()


def run_store(d: Path, rows: int, block: int) -> None:
    from labrc.store import Column, RunWriter, Stream
    schema = {"cycles": Stream(tuple(Column(*c) for c in COLS), chunk_rows=16384, signal="i_read_after", axes=("seq",))}
    w = RunWriter.create(d, "endurance", "BENCH", schema, {"protocol": "bench"})
    for b in blocks(rows, block):
        w.append("cycles", b)
    w.close("completed")


def endurance_blocks() -> tuple[dict, list[dict[str, np.ndarray]]]:
    """The volatile endurance schema and one synthetic block per burst of a 2×10⁶-cycle run."""
    from protocols.endurance import VolatileEndurance
    proto = VolatileEndurance.from_options(None, {"cycles": "2000000"})
    schema = proto.schema()
    rng = np.random.default_rng(0)
    out = []
    for first, n in proto.blocks():
        b = {}
        for c in schema["cycles"].columns:
            if c.name == "seq":
                b[c.name] = np.arange(first, first + n, dtype=np.int64)
            elif c.np_dtype.kind == "f":
                b[c.name] = rng.normal(1e-6, 1e-7, n).astype(c.np_dtype)
            else:
                b[c.name] = rng.integers(0, 2, n).astype(c.np_dtype)
        out.append(b)
    return schema, out


def bench_endurance(d: Path, repeat: int) -> None:
    from labrc.store import RunWriter
    schema, blks = endurance_blocks()
    rows = sum(len(b["seq"]) for b in blks)
    res = []
    for _ in range(repeat):
        w = RunWriter.create(d, "endurance", "floor", schema, {"protocol": "volatile-endurance"})
        c0, t0 = time.process_time(), time.perf_counter()
        for b in blks:
            w.append("cycles", b)
        t1 = time.perf_counter()
        w.close("completed")
        t2, c2 = time.perf_counter(), time.process_time()
        res.append((t1 - t0, t2 - t1, c2 - c0))
        shutil.rmtree(w.run_dir)
    tot = sorted(a + c for a, c, _ in res)
    cpu = sorted(u for *_, u in res)
    print(f"endurance stream: {len(blks):,} appends, {rows:,} rows x {len(schema['cycles'].columns)} columns, "
          f"{repeat} runs")
    for a, c, u in res:
        print(f"  append {a:.3f} s  close {c:.3f} s  total {a + c:.3f} s  (CPU, all threads {u:.3f} s)")
    print(f"  total best {tot[0]:.3f} s  median {tot[len(tot) // 2]:.3f} s; CPU median {cpu[len(cpu) // 2]:.3f} s")


def make_campaign(d: Path) -> Path:
    from labrc.config import load_config
    from labrc.runner import run_protocol
    from protocols import SpikeTrain
    cfg = load_config(None, [f'data.dir="{d}"', "sim.seed=0", "data.compact=false"])
    proto = SpikeTrain.from_options(None, {"campaign": "true", "cycles": "199", "devices": "25", "seed": "0"})
    return run_protocol(cfg, proto, progress=False, echo=lambda m: None).path.parent


def bench_compact(src: Path | None, d: Path, repeat: int) -> None:
    from labrc.store import compact_run
    if src is None:
        t0 = time.perf_counter()
        src = make_campaign(d / "campaign")
        print(f"campaign run made in {time.perf_counter() - t0:.1f} s: {src.name}")
    ts, cpu = [], []
    for k in range(repeat):
        run = d / f"copy{k}"
        shutil.copytree(src, run)
        c0, t0 = time.process_time(), time.perf_counter()
        info = compact_run(run)
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        print(f"  compact {ts[-1]:.3f} s  {info['bytes_before'] / 1e6:.1f} MB -> {info['bytes_after'] / 1e6:.1f} MB"
              f"  (CPU, all threads {cpu[-1]:.3f} s)")
        shutil.rmtree(run)
    ts.sort()
    cpu.sort()
    print(f"  compact best {ts[0]:.3f} s  median {ts[len(ts) // 2]:.3f} s; CPU median {cpu[len(cpu) // 2]:.3f} s")


def child(kind: str, d: str, rows: int, block: int, trace: bool) -> None:
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    (run_plain if kind == "plain" else run_store)(Path(d), rows, block)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"kind": kind, "s": dt, "rss_mib": rss / 1024, "tracemalloc_mib": peak and peak / 2**20}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows per run (1e7 for the endurance figure)")
    ap.add_argument("--block", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="scratch directory (local disk)")
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--endurance", action="store_true", help="issue 11's volatile endurance stream")
    ap.add_argument("--compact", nargs="?", const="", default=None, metavar="RUN_DIR",
                    help="compact_run on copies of RUN_DIR (default: a spike campaign made once)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.endurance or a.compact is not None:
        d = Path(tempfile.mkdtemp(dir=a.dir, prefix="bench_store_"))
        try:
            if a.endurance:
                bench_endurance(d, a.repeat)
            if a.compact is not None:
                bench_compact(Path(a.compact) if a.compact else None, d, a.repeat)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        return
    if a.child:
        return child(a.child[0], a.child[1], a.rows, a.block, a.tracemalloc)
    res: dict[str, list[dict]] = {"plain": [], "store": []}
    for _ in range(a.repeat):
        for kind in ("plain", "store"):  # interleaved to share page-cache/disk state fairly
            d = Path(tempfile.mkdtemp(dir=a.dir, prefix=f"bench_{kind}_"))
            try:
                cmd = [sys.executable, __file__, "--rows", str(a.rows), "--block", str(a.block), "--child", kind, str(d)]
                out = subprocess.run(cmd + (["--tracemalloc"] if a.tracemalloc else []), check=True,
                                     capture_output=True, text=True).stdout
                res[kind].append(json.loads(out.strip().splitlines()[-1]))
            finally:
                shutil.rmtree(d, ignore_errors=True)
    mb = a.rows * sum(np.dtype(dt).itemsize for _, dt, _ in COLS) / 1e6
    print(f"rows={a.rows:,} block={a.block} data={mb:.0f} MB  (best of {a.repeat}; median in brackets)")
    best = {}
    for kind, rs in res.items():
        ts = sorted(r["s"] for r in rs)
        best[kind] = ts[0]
        tm = max((r["tracemalloc_mib"] or 0) for r in rs)
        print(f"  {kind:5s}: {ts[0]:7.2f} s [{ts[len(ts)//2]:.2f}]  {a.rows/ts[0]/1e6:6.2f} M rows/s  "
              f"peak RSS {max(r['rss_mib'] for r in rs):6.1f} MiB" + (f"  tracemalloc peak {tm:.1f} MiB" if a.tracemalloc else ""))
    print(f"  ratio store/plain: {best['store']/best['plain']:.2f}x (best)  "
          f"{sorted(r['s'] for r in res['store'])[len(res['store'])//2] / sorted(r['s'] for r in res['plain'])[len(res['plain'])//2]:.2f}x (median)")


if __name__ == "__main__":
    main()
