"""Commands and seconds per list-sweep burst: the full setup every burst vs only what changed.

    python benchmarks/bench_stream.py [--bursts 200] [--points 4095] [--load resistor:1e6|memristor]

The embedded simulator (driver → pyvisa → simulated 4200 in-process), one ``VL`` list of ``--points``
points per burst, the current fetched only (``fetch=("I",)``, as endurance bursts do). The list
values change every burst (a new read level): "list" is the list-only stream (``SS VL…``, the check,
``MD ME1``, the poll, ``DO``). "full" forgets the held setup before each burst (``invalidate_held``),
which is the stream the driver sent before it tracked the setup; "same" sends one identical list every
burst (an endurance run's tiled cycle): the pages hold it, so the burst is ``MD ME1``, ``SP``, ``DO``.
Reported: commands per burst (from the transcript), median and best seconds per burst, and the dry
run's planning cost per burst.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from instruments.keithley4200 import Keithley4200
from instruments.transcript import TranscriptRecorder
from sim_backend.kxci import SimConfig
from sim_backend.library import LabrcSimLibrary

# a volatile read / write / read / rest cycle (V), tiled to the list length
CYCLE_V = np.array([0.1, 0.6, 0.1, 0.0, 0.1, 0.0, 0.1])


def lists(n_bursts: int, n_points: int, same: bool = False) -> list[np.ndarray]:
    base = np.resize(CYCLE_V, n_points)
    return [np.where(base == 0.1, 0.1 + (0.0 if same else 0.001 * (b % 50)), base) for b in range(n_bursts)]


def bench(mode: str, load: str, n_bursts: int, n_points: int) -> dict:
    lib = LabrcSimLibrary.create(SimConfig(load=load))
    k = Keithley4200(SimConfig.tcpip_resource, visa_library=lib, timeout=60_000)
    rec = k.start_transcript(TranscriptRecorder(keep_in_memory=True, max_text_chars=64))
    vs = lists(n_bursts + 1, n_points, same=(mode == "same"))
    k.list_sweep(1, vs[0], 1e-4, 1e-3, 0.0, 1, 2, fetch=("I",))          # the first burst is full in both
    n0 = sum(r["dir"] == "w" for r in rec.records)
    times = []
    for v in vs[1:]:
        if mode == "full":
            k.invalidate_held()
        t = time.perf_counter()
        k.list_sweep(1, v, 1e-4, 1e-3, 0.0, 1, 2, fetch=("I",))
        times.append(time.perf_counter() - t)
    n_cmds = (sum(r["dir"] == "w" for r in rec.records) - n0) / n_bursts
    k.stop_transcript()
    t = time.perf_counter()
    with k.dry_run() as dry:
        for v in vs[1:]:
            if mode == "full":
                k.invalidate_held()
            k.list_sweep(1, v, 1e-4, 1e-3, 0.0, 1, 2, fetch=("I",))
    plan_s = (time.perf_counter() - t) / n_bursts
    assert dry.n_commands == n_cmds * n_bursts
    k.adapter.close()
    return {"cmds": n_cmds, "median_s": statistics.median(times), "best_s": min(times), "plan_s": plan_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bursts", type=int, default=200)
    ap.add_argument("--points", type=int, default=4095)
    ap.add_argument("--load", default="resistor:1e6")
    a = ap.parse_args()
    res = {m: bench(m, a.load, a.bursts, a.points) for m in ("full", "list", "same")}
    print(f"{a.bursts} bursts x {a.points} points, load {a.load}, fetch I only")
    for m, r in res.items():
        print(f"  {m:>4}: {r['cmds']:5.1f} commands/burst, {r['median_s'] * 1e3:7.2f} ms/burst median "
              f"({r['best_s'] * 1e3:.2f} best), dry-run planning {r['plan_s'] * 1e3:.2f} ms/burst")
    f, li = res["full"], res["list"]
    print(f"  list-only saves {f['cmds'] - li['cmds']:.0f} commands and "
          f"{(f['median_s'] - li['median_s']) * 1e3:.2f} ms per burst ({f['median_s'] / li['median_s']:.2f}x)")


if __name__ == "__main__":
    main()
