"""Sweep throughput through the whole stack, and the simulator's read path against stock pyvisa-sim.

    python benchmarks/bench_sweep.py [--sweeps 20]

1. `labrc`'s run loop: I–V list sweeps of 4096 points (driver → pyvisa → simulated 4200 → device
   model → HDF5 store), reported as sweep points per second.
2. One 4096-value `DO` reply read through pyvisa with labrc's whole-message read path and with
   pyvisa-sim's stock byte-by-byte read.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from instruments.keithley4200 import Keithley4200
from labrc.config import load_config
from labrc.runner import run_protocol
from protocols import IVSweep
from sim_backend.kxci import SimConfig
from sim_backend.library import LabrcSimLibrary


def bench_stack(n_sweeps: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(None, [f'data.dir="{d}"'])
        proto = IVSweep.from_options("nonvolatile", {"step_v": "0.0059", "repeats": str(n_sweeps), "delay_s": "0"})
        n_pts = proto.plan().n_points
        t = time.perf_counter()
        out = run_protocol(cfg, proto, progress=False, echo=lambda m: None)
        dt = time.perf_counter() - t
        assert out.status == "completed", out.reason
    rate = n_pts / dt
    print(f"whole stack: {n_sweeps} sweeps x {n_pts // n_sweeps} points in {dt:.2f} s -> {rate:,.0f} points/s")
    return rate


def bench_read(fast: bool, reps: int) -> float:
    lib = LabrcSimLibrary.create(SimConfig(load="resistor:1e6"))
    lib.fast_read = fast
    k = Keithley4200(SimConfig.tcpip_resource, visa_library=lib, timeout=60000)
    k.list_sweep(1, np.linspace(-1, 1, 4096), 1e-3, 0.0, integration=1, ground_smu=2)
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        reply = k.query("DO 'I1'")
        best = min(best, time.perf_counter() - t)
    assert reply.count(",") == 4095
    k.adapter.close()
    print(f"4096-value DO reply ({len(reply)} bytes), {'labrc fast read' if fast else 'stock pyvisa-sim read'}: "
          f"{best * 1e3:.2f} ms")
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweeps", type=int, default=20)
    a = ap.parse_args()
    bench_stack(a.sweeps)
    fast, stock = bench_read(True, 20), bench_read(False, 3)
    print(f"read-path speed-up: {stock / fast:.0f}x")


if __name__ == "__main__":
    main()
