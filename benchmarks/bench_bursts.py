"""Read-write-read cycles as PMU Segment-Arb bursts through driver -> pyvisa -> simulated 4200.

Each burst is one looped sequence (``:PMU:SARB:WFM:SEQ:LIST 1, 1, n``) of the cycle from
``instruments.bursts.read_write_read_segments`` (2 spot-mean reads per cycle), planned by
``plan_bursts`` (<= 65,536 points per execute -> 32,768 cycles), read back in 2048-point
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

from instruments.bursts import PmuCycle, read_write_read_segments  # noqa: E402
from instruments.keithley4200 import Keithley4200  # noqa: E402
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
    cyc = PmuCycle(read_write_read_segments(), n_cycles=args.cycles, i_range_a=10e-3, budget_s=args.budget)
    plan = cyc.plan()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, v0 = time.perf_counter(), sim.clock_s
    n = 0
    checksum = 0.0
    for b in cyc.run(k):
        n += len(b)
        checksum += float(b.i_a.sum())      # the data are consumed block by block, nothing is kept
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
