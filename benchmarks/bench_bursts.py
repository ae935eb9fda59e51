"""Read-write-read cycles as PMU Segment-Arb bursts through driver -> pyvisa -> simulated 4200.

Each burst is one looped sequence (``:PMU:SARB:WFM:SEQ:LIST 1, 1, n``) of the cycle from
``instruments.pmu_segments.read_write_read_segments`` (2 spot-mean reads per cycle), planned by
``protocols.bursts.plan_bursts`` (<= 65,536 points per execute -> 32,768 cycles), executed by the
driver's ``pmu.plan_segment_arb`` + ``pmu.run`` (the only PMU runner), read back in 2048-point
``:PMU:DATA:GET`` blocks and parsed into numpy. Reports cycles/s, peak RSS, and the speed-up over the
instrument's own timing (virtual time / wall time).

    python benchmarks/bench_bursts.py --cycles 2000000 --load resistor:1e5
    python benchmarks/bench_bursts.py --cycles 200000 --load memristor
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instruments.keithley4200 import Keithley4200  # noqa: E402
from instruments.limits import PMU_POINTS_MAX, PMU_SARB_LOOPS_MAX  # noqa: E402
from instruments.pmu import ChannelSetup, SarbSequence  # noqa: E402
from instruments.pmu_segments import read_write_read_segments  # noqa: E402
from protocols.bursts import plan_bursts  # noqa: E402
from sim_backend.kxci import SimConfig  # noqa: E402
from sim_backend.library import LabrcSimLibrary  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=2_000_000)
    ap.add_argument("--load", default="resistor:1e5", help='"memristor" or "resistor:<ohms>"')
    ap.add_argument("--budget", type=float, default=2.0, help="instrument seconds per burst")
    args = ap.parse_args()
    cfg = SimConfig(load=args.load)
    k = Keithley4200(cfg.tcpip_resource, visa_library=LabrcSimLibrary.create(cfg), timeout=20000)
    sim = k.adapter.connection.visalib.instrument
    seq = SarbSequence.from_segments(read_write_read_segments())
    plan = plan_bursts(args.cycles, seq.duration_s, seq.points_per_pass(), PMU_POINTS_MAX, args.budget,
                       max_cycles=int(PMU_SARB_LOOPS_MAX), burst_overhead_s=0.05)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, v0 = time.perf_counter(), sim.clock_s
    n = 0
    checksum = 0.0
    for loops in plan.sizes():
        setup = ChannelSetup(1, {1: seq}, [(1, loops)], 10.0, 10e-3, 1e6, True)
        d = k.pmu.run(k.pmu.plan_segment_arb([setup]))[1]
        n += loops
        checksum += float(d.i_a.sum())      # the data are consumed burst by burst, nothing is kept
    wall = time.perf_counter() - t0
    virt = sim.clock_s - v0
    out = {
        "load": args.load, "cycles": n, "bursts": plan.n_bursts, "cycles_per_burst": plan.cycles_per_burst,
        "bound_by": plan.bound_by, "points": 2 * n, "wall_s": round(wall, 3), "cycles_per_s": round(n / wall),
        "virtual_s": round(virt, 3), "eta_s_planned": round(plan.eta_s, 3), "speedup_virtual_over_wall": round(virt / wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mb": round(rss0 / 1024, 1),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
