"""Device-model throughput: device-segments per second on the volatile endurance workload, and memory.

Workload (what the SMU test engine hands the model for ``labrc run volatile-endurance`` at its defaults,
protocols/endurance.py): levels [0.1, 2.0, 0, 0, 0, 0, 0] V (read, write, rest_s = 30 ms as 5 points of
0 V), each point 5 ms DT + 0.1 PLC at 60 Hz, Icc = 1 µA, 585 cycles per 4095-point list, one
``Memristor.apply_cycles`` call per list (``sim_backend/kxci.py`` ``_apply`` finds the period and calls it).
2×10⁶ cycles are 14×10⁶ device-segments; the engine issue (11) needs them end to end in ≤ 5 s, so the
model's floor is 10 M segments/s.

The issue's run itself: 2×10⁶ cycles on the default device (seed 0, device 0), which wears out at cycle
1,838,077 (stuck OFF), so its last 162 k cycles are a device that no longer switches; reported as the
model time of the whole run. Also: the generic ``apply_segments`` path on the same lists, and a 4096-point
0→2→0 V sweep at 1 µA (the vectorized chain solve of ``_creep_stretch``) against the segment-by-segment
reference (``vectorized = False``; floor 5 ms).

The spike-train campaign (``labrc run spike-train --campaign``, protocols/spike_train.py: 25 devices × 199
cycles × 4 classes = 19,900 patterns in 3,325 lists of 3,960 points at 1 µA on a 1/600 s grid: 0 V rests,
1 V / 20 ms spikes, −0.5 V reads) goes through ``apply_segments``: its first lists for 3 devices, taken from
the protocol's own block plans, applied in order on a fresh OGB die (seed 0, as ``sim.seed``), batched
(:mod:`sim_backend.model.runs`) and run by run (``batch_runs = False``, the code before it); reported as
lists/s, device-segments/s and the model time of the whole campaign at that rate. Times are best and median of repeats, by wall time and by
this process's CPU time: the machine is shared, the best is the figure of the code. Memory: the peak of
numpy/Python allocations during one list (tracemalloc) and the process's peak RSS after the run (it must
not grow with the cycle count).

Usage: python benchmarks/bench_model.py [--cycles 500000] [--repeats 3] [--campaign-only]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from labrc.engine.messages import ListSweep
from protocols import SpikeTrain
from sim_backend.model import Die

LEVELS_V = np.array([0.1, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0])
STEP_S = 5e-3 + 0.1 / 60.0            # DT + 0.1 PLC at 60 Hz
ICC_A = 1e-6
CYCLES_PER_LIST = 4095 // LEVELS_V.size   # 585
FLOOR_SEG_PER_S = 10e6
CAMPAIGN_LISTS = 3325                 # 25 devices x ceil(796 patterns / 6 per list)


def workload() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = LEVELS_V.size
    return LEVELS_V.copy(), np.full(k, STEP_S), np.full(k, ICC_A)


def bench_cycles(n_cycles: int, fast: bool = True) -> tuple[float, float]:
    """Device-segments per second over n_cycles on one device, in lists of CYCLES_PER_LIST cycles:
    (by wall time, by this process's CPU time — the steadier figure when other jobs share the cores)."""
    v, dt, icc = workload()
    dev = Die(1, seed=0).device(0)
    done, t0, c0 = 0, time.perf_counter(), time.process_time()
    while done < n_cycles:
        m = min(CYCLES_PER_LIST, n_cycles - done)
        if fast:
            dev.apply_cycles(v, dt, icc, m)
        else:
            dev.apply_segments(np.tile(v, m), np.tile(dt, m), np.tile(icc, m))
        done += m
    el, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert dev.cycle_counts["volatile"] == n_cycles, dev.cycle_counts
    return n_cycles * v.size / el, n_cycles * v.size / cpu


def bench_full_run(n_cycles: int = 2_000_000) -> tuple[float, float, int, str | None]:
    """(wall s, CPU s, volatile cycles counted, failure) of n_cycles on the default device, in the engine's lists."""
    v, dt, icc = workload()
    dev = Die(1, seed=0).device(0)
    done, t0, c0 = 0, time.perf_counter(), time.process_time()
    while done < n_cycles:
        m = min(CYCLES_PER_LIST, n_cycles - done)
        dev.apply_cycles(v, dt, icc, m)
        done += m
    return time.perf_counter() - t0, time.process_time() - c0, dev.cycle_counts["volatile"], dev.failed


def list_peak_bytes() -> int:
    """Peak traced allocation of one 585-cycle list (after a warm-up list)."""
    v, dt, icc = workload()
    dev = Die(1, seed=0).device(0)
    dev.apply_cycles(v, dt, icc, CYCLES_PER_LIST)
    tracemalloc.start()
    dev.apply_cycles(v, dt, icc, CYCLES_PER_LIST)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


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


def campaign_lists(n_devices: int = 3, per_device: int = 8) -> list[tuple[int, np.ndarray]]:
    """(device, source voltages) of the campaign's first ``per_device`` lists on devices 0 … n_devices − 1."""
    proto = SpikeTrain.from_options(None, {"campaign": "true"})
    out = []
    for d, a, e in proto.blocks():
        if d < n_devices and sum(k == d for k, _ in out) < per_device:
            plan = proto.block((d, a, e), {})
            msg = next(plan)
            while not isinstance(msg, ListSweep):
                msg = next(plan)
            plan.close()
            out.append((d, msg.voltages_v))
    return out


def bench_campaign(lists, batch: bool, repeats: int) -> tuple[float, float, float]:
    """(best wall s, median wall s, best CPU s) per list of the campaign's lists, each device from fresh."""
    dt_s, icc_a = 1 / 600, 1e-6
    wall, cpu = [], []
    for _ in range(repeats):
        die = Die(25, seed=0)
        for dev in (die.device(k) for k in {d for d, _ in lists}):
            dev.batch_runs = batch
        t0, c0 = time.perf_counter(), time.process_time()
        for d, v in lists:
            die.device(d).apply_segments(v, np.full(v.size, dt_s), icc_a)
        wall.append((time.perf_counter() - t0) / len(lists))
        cpu.append((time.process_time() - c0) / len(lists))
    return min(wall), float(np.median(wall)), min(cpu)


def report_campaign(repeats: int) -> None:
    lists = campaign_lists()
    n_pts = lists[0][1].size
    for batch, name in ((True, "batched    "), (False, "run by run ")):
        best, med, cpu = bench_campaign(lists, batch, repeats if batch else max(1, repeats // 3))
        print(f"spike-train campaign lists, {name}: {best * 1e3:6.3f} ms/list best ({1 / best:7.0f} lists/s, "
              f"{n_pts / best / 1e6:5.2f} M device-segments/s), {med * 1e3:.3f} median, {cpu * 1e3:.3f} best by CPU; "
              f"campaign model time ≈ {CAMPAIGN_LISTS * best:.2f} s ({len(lists)} lists of {n_pts} points, 3 devices)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=500_000, help="cycles per repeat (2000000 = the issue's run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--campaign-only", action="store_true", help="only the spike-train campaign lists")
    a = ap.parse_args()
    if a.cycles < 1 or a.repeats < 1:
        ap.error("--cycles and --repeats must be >= 1")
    report_campaign(3 * a.repeats)
    if a.campaign_only:
        return
    rates = [bench_cycles(a.cycles) for _ in range(a.repeats)]
    wall, cpu = [r[0] for r in rates], [r[1] for r in rates]
    print(f"apply_cycles   volatile endurance: {max(wall) / 1e6:6.2f} M device-segments/s best, "
          f"{float(np.median(wall)) / 1e6:.2f} median by wall time; {max(cpu) / 1e6:.2f} best by CPU time "
          f"({a.cycles} cycles x {LEVELS_V.size} points in lists of {CYCLES_PER_LIST} cycles, {a.repeats} repeats; "
          f"floor {FLOOR_SEG_PER_S / 1e6:.0f} M)")
    el, el_cpu, counted, failed = bench_full_run()
    print(f"the issue's run: 2e6 cycles on device 0 (wears out: {failed}, {counted:,} cycles counted) in {el:.2f} s "
          f"wall, {el_cpu:.2f} s CPU -> {2e6 * LEVELS_V.size / el / 1e6:.2f} M device-segments/s by wall time")
    slow, _ = bench_cycles(min(a.cycles, 20_000), fast=False)
    print(f"apply_segments volatile endurance: {slow / 1e6:6.2f} M device-segments/s (generic path, same lists)")
    best_s, med_s = bench_sweep()
    ref_s, _ = bench_sweep(repeats=3, vectorized=False)
    print(f"4096-point 0→2→0 V sweep at 1 µA: {best_s * 1e3:.2f} ms best, {med_s * 1e3:.2f} ms median "
          f"(floor 5 ms; segment-by-segment reference {ref_s * 1e3:.0f} ms)")
    peak = list_peak_bytes()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"memory: {peak / 1024:.0f} KiB peak allocation per {CYCLES_PER_LIST}-cycle list (tracemalloc); "
          f"process peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
