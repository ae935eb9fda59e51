"""Device-model throughput: device-segments per second for the volatile endurance pattern.

Pattern (paper Methods, volatile endurance): read 0.1 V 1 ms / write 2 V 5 ms at Icc = 1 µA / 0 V 30 ms
(relaxation, so the next cycle's read sees the OFF state), in blocks of ~4096 segments through
``Memristor.apply_cycles`` (the vectorized periodic path), plus the generic ``apply_segments`` path on the
same blocks and a 4096-point 0→2→0 V sweep at 1 µA (in compliance from ≈ 0.66 V: the vectorized chain
solve of ``Memristor._creep_stretch``) against the segment-by-segment reference (``vectorized = False``).
Times are best and median of repeats (the machine is shared; the best is the figure of the code).
Floors set for the project: apply_cycles ≥ 8 M device-segments/s, the sweep ≤ 5 ms.

Usage: python benchmarks/bench_model.py [--cycles 100000] [--block 4096]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sim_backend.model import Die


def bench_cycles(n_cycles: int, block: int, fast: bool) -> float:
    v = np.array([0.1, 2.0, 0.0])
    dt = np.array([1e-3, 5e-3, 30e-3])
    dev = Die(1, seed=0).device(0)
    per = max(1, block // v.size)
    done, t0 = 0, time.perf_counter()
    while done < n_cycles:
        m = min(per, n_cycles - done)
        if fast:
            dev.apply_cycles(v, dt, 1e-6, m)
        else:
            dev.apply_segments(np.tile(v, m), np.tile(dt, m), 1e-6)
        done += m
    el = time.perf_counter() - t0
    assert dev.cycle_counts["volatile"] == n_cycles, dev.cycle_counts
    return n_cycles * v.size / el


def bench_sweep(repeats: int = 50, vectorized: bool = True) -> tuple[float, float]:
    """(best, median) seconds of one 4096-point 0→2→0 V sweep at 1 µA."""
    dev = Die(1, seed=0).device(0)
    dev.vectorized = vectorized
    v = np.concatenate([np.linspace(0, 2, 2048), np.linspace(2, 0, 2048)])
    dt = np.full(v.size, 1e-3)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dev.apply_segments(v, dt, 1e-6)
        ts.append(time.perf_counter() - t0)
    return min(ts), float(np.median(ts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=100_000)
    ap.add_argument("--block", type=int, default=4096)
    a = ap.parse_args()
    best = max(bench_cycles(a.cycles, a.block, fast=True) for _ in range(3))
    print(f"apply_cycles   volatile endurance: {best / 1e6:6.2f} M device-segments/s "
          f"({a.cycles} cycles, blocks of {a.block // 3 * 3} segments, best of 3; floor 8 M)")
    slow = bench_cycles(min(a.cycles, 20_000), a.block, fast=False)
    print(f"apply_segments volatile endurance: {slow / 1e6:6.2f} M device-segments/s (generic path)")
    best_s, med_s = bench_sweep()
    ref_s, _ = bench_sweep(repeats=3, vectorized=False)
    print(f"4096-point 0→2→0 V sweep at 1 µA: {best_s * 1e3:.2f} ms best, {med_s * 1e3:.2f} ms median "
          f"(floor 5 ms; segment-by-segment reference {ref_s * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
