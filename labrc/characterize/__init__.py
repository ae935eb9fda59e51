"""Characterization report: the simulated die measured through the real protocols, against the paper.

Every measured row comes from stored runs of the real protocols through :func:`labrc.runner.run_protocol`
— the engine, the simulator station, the driver, pyvisa, the simulated 4200, the store — exactly as
``labrc run`` makes them; the device model is never called directly and no measurement is written twice.
The runs are kept in ``out_dir`` and each row's note names them:

* ``iv-sweep`` (SET voltages, RESET voltage, LRS spread, reverse bias, the Au electrode), ``volatile-`` and
  ``nonvolatile-endurance`` (ON/OFF with the Methods patterns; the DDAB die and, with ``full``, every OGB
  device cycled to failure), ``icc-set`` (the Icc → G ladder), ``retention`` at every level of the ladder
  (:data:`RETENTION_LADDER_A`), ``volatile-relaxation`` (the 5–20 ms decay) and ``reconfigure``;
* their parameters are the protocols' presets and defaults (:mod:`labrc.characterize.plan`); the numbers
  are the protocols' own summaries or their stored streams (:mod:`.targets_ogb`, :mod:`.targets_die`).

Each row says whether it was **measured through the instrument** or is a **model parameter** (a number
the simulator was given, read from a run's provenance, never a result: the OGB endurance medians,
2 × 10⁶ volatile and 5655 non-volatile cycles, unless ``full``), and where its tolerance comes from
(:mod:`.report`). :func:`format_table` prints target | paper | measured | tolerance | source | result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .jobs import run_jobs, validate
from .plan import DEFAULT, QUICK, RETENTION_LADDER_A, plan_jobs
from .report import MEASURED, MODEL, Row, format_table
from .targets_die import au_rows, ddab_rows, ogb_endurance_rows, retention_rows
from .targets_ogb import (
    icc_rows,
    nonvolatile_rows,
    reconfigure_rows,
    spread_rows,
    volatile_rows,
)

__all__ = ["MEASURED", "MODEL", "RETENTION_LADDER_A", "Row", "characterize", "format_table", "relaxation_arrays"]


def characterize(cfg, preset: str | None = None, seed: int | None = None, quick: bool = False,
                 progress: Callable[[str], None] | None = None, full: bool = False,
                 out_dir: Path | str | None = None, workers: int = 2) -> list[Row]:
    """Measure the die of ``cfg`` (``preset``/``seed`` override ``cfg.sim``); one Row per target.

    ``quick``: 5 OGB devices, 10 DDAB devices, fewer cycles, retention on one device (:data:`plan.QUICK`);
    default: the whole die (25 devices), retention on 3 (:data:`plan.DEFAULT`). ``full``: also cycle every
    OGB device to failure in both modes (the endurance rows become measured; hours). All runs are
    written to ``out_dir`` (default ``<data.dir>/characterize``) by ``workers`` processes.
    Raises ValueError (one line) when a run's parameters are outside the operator limits, before any run.
    """
    say = progress or (lambda msg: None)
    sim = cfg.sim_config()
    preset = preset or sim.preset
    seed = sim.seed if seed is None else int(seed)
    out = Path(out_dir) if out_dir is not None else Path(cfg.data_dir) / "characterize"
    jobs = plan_jobs(cfg, preset, seed, QUICK if quick else DEFAULT, sim.n_devices, out, full)
    validate(jobs, cfg.limits)                 # every run's parameters, before the first run
    out.mkdir(parents=True, exist_ok=True)
    say(f"{len(jobs)} protocol runs in {workers} processes → {out}")
    results = run_jobs(jobs, workers, say)
    for r in results:
        if r["status"] not in ("completed", "device_failure"):
            say(f"run {Path(r['path']).parent.name} ({r['protocol']}, {r['tag']}): {r['status']}: {r['reason']}")
    return (volatile_rows(results) + nonvolatile_rows(results) + icc_rows(results) + retention_rows(results)
            + reconfigure_rows(results) + spread_rows(results, sim.n_devices) + ogb_endurance_rows(results, full)
            + ddab_rows(results) + au_rows(results, preset.split("-")[0]))


def relaxation_arrays(path: Path | str) -> dict:
    """Per-device 1/e times (ms) and fractions left at t_memory_s of a ``volatile-relaxation`` run (the demo's table)."""
    import numpy as np

    from ..store import RunReader
    with RunReader(path) as r:
        d = r.stream("decays")
    return {"tau_ms": 1e3 * np.asarray(d["tau"], dtype=np.float64), "left_23ms": np.asarray(d["left"], dtype=np.float64)}
