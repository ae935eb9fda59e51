"""Volatile endurance end to end: cycles through driver → pyvisa → simulated 4200 → model → HDF5.

    python benchmarks/bench_endurance.py [--cycles 2000000]

Reports wall time, cycles/s, the speed-up over the instrument's own timing (the simulated run's
instrument time / wall time) and the peak resident memory (it must not grow with the cycle count).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

from labrc.config import load_config
from labrc.runner import run_protocol
from labrc.store import RunReader
from protocols import VolatileEndurance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=2_000_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(None, [f'data.dir="{d}"'])
        proto = VolatileEndurance.from_options(None, {"cycles": str(a.cycles), "stop_on_failure": "false"})
        plan = proto.plan()
        t0 = time.perf_counter()
        out = run_protocol(cfg, proto, progress=False, echo=lambda m: None)
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # before reading anything back
        with RunReader(out.path) as r:
            n = r.n_rows("cycles")
            t_instr = float(r.last_row("cycles")["t"])
    print(f"{n:,} volatile endurance cycles ({plan.n_blocks} bursts, {proto.points_per_cycle} points/cycle) "
          f"in {wall:.1f} s -> {n / wall:,.0f} cycles/s")
    print(f"instrument time {t_instr / 3600:.2f} h -> speed-up {t_instr / wall:,.0f}x over real time")
    print(f"peak RSS {rss:.0f} MiB; status {out.status}")


if __name__ == "__main__":
    main()
