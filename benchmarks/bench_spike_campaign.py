"""The paper's spike-train campaign end to end: classes × cycles × devices into HDF5, then the readout.

    python benchmarks/bench_spike_campaign.py [--cycles 199] [--devices 25] [--seed 0] [--isi-mode gap|onset]

Defaults are the paper's 4 × 199 × 25 = 19,900 patterns. ``--seed`` seeds both the spike trains and the
simulated die (issue 12's "default seed and two others": 0, 1, 2); ``--isi-mode`` picks the reading of the
Methods' ISI (:mod:`protocols.patterns`). Reports wall time, patterns/s, the speed-up
over the instrument's own timing, peak RSS, and the readout accuracies (paper: 91.8 % float64,
85.1 % Icc-programmed).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

from labrc.config import load_config
from labrc.reservoir import format_result, train_readout
from labrc.runner import run_protocol
from labrc.store import RunReader
from protocols import SpikeTrain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=199)
    ap.add_argument("--devices", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0, help="spike-train seed and sim.seed")
    ap.add_argument("--isi-mode", choices=("gap", "onset"), default=None, help="default: the protocol's")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(None, [f'data.dir="{d}"', f"sim.seed={a.seed}"])
        values = {"campaign": "true", "cycles": str(a.cycles), "devices": str(a.devices), "seed": str(a.seed)}
        if a.isi_mode:
            values["isi_mode"] = a.isi_mode
        proto = SpikeTrain.from_options(None, values)
        plan = proto.plan()
        t0 = time.perf_counter()
        out = run_protocol(cfg, proto, progress=False, echo=lambda m: None)
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with RunReader(out.path) as r:
            n = sum(r.n_rows(s) for s in r.schema)
        print(f"{n:,} patterns in {wall:.1f} s -> {n / wall:,.0f} patterns/s; instrument time ≈ {plan.eta_s:,.0f} s "
              f"-> speed-up {plan.eta_s / wall:,.0f}x; peak RSS {rss:.0f} MiB; status {out.status}")
        t0 = time.perf_counter()
        res = train_readout([out.path], None, seed=0)
        print(f"readout trained in {time.perf_counter() - t0:.1f} s")
        print(format_result(res))


if __name__ == "__main__":
    main()
