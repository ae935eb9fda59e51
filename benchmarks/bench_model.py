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

Simulated ME1 figures (``--me1-only``): the issue's run in the protocol's own bursts (``VolatileEndurance`` at
2×10⁶ cycles: its current bursts, printed), model only, as the sum over bursts of each burst's least time over
the repeats (the other jobs on a shared machine only add time); ``ME1`` of the protocol's largest burst and of
the campaign's lists through ``sim_backend.kxci.Kxci4200.handle``, with the time inside the device model.

Measured (this 2-core machine, load average 3–5 from other jobs, ``--me1-only --repeats 5``, two alternating
runs each of e55dde1 and of this code; least-time figures, so the load shows less than in wall totals; taken
when the protocol's bursts were 4,907 of ≤ 408 cycles, before ``burst_s`` became 30 s — now 3,425 of ≤ 585):

    ===========================================  ===================  ===================
    figure                                        before (e55dde1)     after
    ===========================================  ===================  ===================
    model, 2e6 cycles in the protocol's bursts    1.21 / 1.42 s        1.15 / 1.18 s
    model, one 408-cycle burst                    0.255 / 0.279 ms     0.236 / 0.245 ms
    ME1 of a 408-cycle burst                      0.457 / 0.669 ms     0.364 / 0.358 ms
      of it beyond the model                      0.164 / 0.253 ms     0.098 / 0.094 ms
    ME1 of a campaign list (3,960 points)         0.688 / 0.731 ms     0.449 / 0.458 ms
      of it model (apply_segments)                0.447 / 0.472 ms     0.330 / 0.338 ms
      per pattern (6 a list)                      0.115 / 0.122 ms     0.075 / 0.076 ms
    ===========================================  ===================  ===================

Where the model's burst goes now (py-spy): the generator's draws ≈ 15–25 % (4 normals per cycle and one float32
read-noise normal per point, ≈ 60 µs of numpy's ziggurat per 408 cycles; their order is the model), the rest
≈ 150 numpy calls of ≈ 1 µs on 408-vectors (2–3 chain passes, the creep and V_dev Newton steps), flat.

Usage: python benchmarks/bench_model.py [--cycles 500000] [--repeats 3] [--campaign-only] [--me1-only]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from instruments.limits import integration_time_s
from labrc.engine.messages import ListSweep
from protocols import SpikeTrain, VolatileEndurance
from protocols.bursts import choose_integration
from sim_backend import state as sim_state
from sim_backend.kxci import Kxci4200, SimConfig
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


def _min_per_call(times: list[np.ndarray]) -> np.ndarray:
    """Per call, the least time over the repeats: on a shared machine the other jobs only ever add time."""
    return np.min(np.stack(times), axis=0)


def _protocol() -> VolatileEndurance:
    return VolatileEndurance.from_options(None, {"cycles": "2000000", "stop_on_failure": "false"})


def _largest_burst() -> int:
    return max(n for _, n in _protocol().blocks())


def bench_protocol_bursts(repeats: int) -> tuple[float, float, float]:
    """The issue's run as the protocol plans it (``VolatileEndurance`` at 2×10⁶ cycles, stop_on_failure off:
    its bursts, ``Die(25, "OGB-Ag", 0).device(0)``): (sum over bursts of the least time of each burst over the
    repeats, best total wall time, median ms of a largest burst's least time)."""
    proto = _protocol()
    p = proto.params
    levels = proto.cycle_levels()
    dt = np.full(levels.size, p.width_s + integration_time_s(choose_integration(p.width_s), SimConfig().line_frequency_hz))
    icc = np.full(levels.size, p.icc_a)
    blocks = proto.blocks()
    runs, totals = [], []
    for _ in range(repeats):
        dev = Die(n_devices=25, preset="OGB-Ag", seed=0).device(0)
        t = np.empty(len(blocks))
        t_all = time.perf_counter()
        for j, (_, n) in enumerate(blocks):
            t0 = time.perf_counter()
            dev.apply_cycles(levels, dt, icc, n)
            t[j] = time.perf_counter() - t0
        totals.append(time.perf_counter() - t_all)
        runs.append(t)
    best = _min_per_call(runs)
    sizes = np.array([n for _, n in blocks])
    full = sizes == sizes.max()
    return float(best.sum()), min(totals), float(np.median(best[full])) * 1e3


def _sim_with_list(list_cmd: str, integration: str, delay: str) -> Kxci4200:
    """A simulated 4200 set up as the labrc driver sets it for a list sweep (instruments/smu_sweep.py): CH1 the
    VL list at 1 µA on the top electrode, CH2 0 V on the bottom one."""
    sim = Kxci4200(SimConfig())
    for c in [integration, "DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 3", "CH3", "CH4", "SS", list_cmd,
              "VC2, 0, 0.105", "HT 0", delay, "SM", "DM2", "LI 'V1','I1'", "MD"]:
        sim.handle(c)
    return sim


class _Timed:
    """Wraps a device method and adds up the time spent in it."""

    def __init__(self, fn):
        self.fn, self.s = fn, 0.0

    def __call__(self, *a):
        t0 = time.perf_counter()
        r = self.fn(*a)
        self.s += time.perf_counter() - t0
        return r


def bench_me1_endurance(n_bursts: int, repeats: int) -> tuple[float, float]:
    """ms per ``ME1`` of the protocol's largest endurance burst (:func:`_largest_burst` cycles) through the
    simulator, least over the repeats per burst: (whole ME1, of it in ``apply_cycles``)."""
    cycle = ",".join(f"{x:g}" for x in LEVELS_V)
    tot, mod = [], []
    for _ in range(repeats):
        sim = _sim_with_list("VL1, 1, 1E-06, " + ",".join([cycle] * _largest_burst()), "IT1", "DT 0.005")
        dev = sim.dut
        dev.apply_cycles = timed = _Timed(dev.apply_cycles)
        t, m = np.empty(n_bursts), np.empty(n_bursts)
        for j in range(n_bursts):
            s0, t0 = timed.s, time.perf_counter()
            sim.handle("ME1")
            t[j], m[j] = time.perf_counter() - t0, timed.s - s0
        assert not sim.internal_errors, sim.internal_errors
        tot.append(t)
        mod.append(m)
    return float(_min_per_call(tot).mean()) * 1e3, float(_min_per_call(mod).mean()) * 1e3


def bench_me1_campaign(lists, repeats: int) -> tuple[float, float]:
    """ms per ``ME1`` of the campaign's lists (each device from fresh, lists in order), least over the repeats
    per list: (whole ME1, of it in ``apply_segments``). The VL command itself is not timed."""
    texts = [(d, "VL1, 1, 1E-06, " + ",".join(f"{x:g}" for x in v)) for d, v in lists]
    tot, mod = [], []
    for _ in range(repeats):
        sim = _sim_with_list(texts[0][1], "IT1", "DT 0")
        timed = {}
        t, m = np.empty(len(texts)), np.empty(len(texts))
        for j, (d, text) in enumerate(texts):
            sim_state.select_device(sim, d)
            dev = sim.dut
            if d not in timed:
                dev.apply_segments = timed[d] = _Timed(dev.apply_segments)
            sim.handle("SS")
            sim.handle(text)
            sim.handle("MD")
            s0, t0 = timed[d].s, time.perf_counter()
            sim.handle("ME1")
            t[j], m[j] = time.perf_counter() - t0, timed[d].s - s0
        assert not sim.internal_errors, sim.internal_errors
        tot.append(t)
        mod.append(m)
    return float(_min_per_call(tot).mean()) * 1e3, float(_min_per_call(mod).mean()) * 1e3


def report_me1(repeats: int) -> None:
    s, best, med = bench_protocol_bursts(repeats)
    n_bursts, largest = len(_protocol().blocks()), _largest_burst()
    print(f"the issue's run in the protocol's {n_bursts:,} bursts (model only): {s:.3f} s as the sum of each burst's "
          f"least time over {repeats} repeats, best total {best:.3f} s; a {largest}-cycle burst {med:.3f} ms")
    tot, mod = bench_me1_endurance(300, repeats)
    print(f"ME1 of a {largest}-cycle endurance burst: {tot:.3f} ms, of it model {mod:.3f} ms -> simulator overhead "
          f"{tot - mod:.3f} ms (least per burst over {repeats} repeats of 300)")
    tot, mod = bench_me1_campaign(campaign_lists(), repeats)
    print(f"ME1 of a spike-train campaign list: {tot:.3f} ms, of it model {mod:.3f} ms -> overhead {tot - mod:.3f} ms; "
          f"per pattern {tot / 6:.3f} ms (6 patterns a list; least per list over {repeats} repeats)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=500_000, help="cycles per repeat (2000000 = the issue's run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--campaign-only", action="store_true", help="only the spike-train campaign lists")
    ap.add_argument("--me1-only", action="store_true", help="only the protocol's bursts and the simulated ME1 figures")
    a = ap.parse_args()
    if a.cycles < 1 or a.repeats < 1:
        ap.error("--cycles and --repeats must be >= 1")
    if not a.campaign_only:
        report_me1(max(3, a.repeats))
    if a.me1_only:
        return
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
