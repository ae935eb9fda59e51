"""``labrc demo``: the paper's main job on the embedded simulator, end to end, then every headline number of the
paper beside the one measured here.

Every step is a real protocol run through :func:`labrc.runner.run_protocol` (driver → pyvisa → simulated
4200 → device model → HDF5 run file), in the order an operator would run them on one die:

1. I–V sweeps in both modes (volatile 0 → 2 → 0 V at 1 µA; non-volatile 0 → 5 → 0 → −7 → 0 V at 1 mA);
2. short endurance in both modes (the Methods' read / write / read patterns);
3. an Icc ladder 29 µA … 1 mA (the readout's 0.1–3.5 mS range), which also programs the Icc readout;
4. retention at 29 µA, 100 µA, 300 µA and 1 mA to 10⁵ s; the volatile relaxation after a 1 V / 20 ms spike
   (one list sweep per device through the driver: :func:`volatile_relaxation`);
5. the spike-train campaign (paper size by default: 25 devices × 199 cycles × 4 classes);
6. the reservoir readouts (float64 and Icc-programmed) with the memoryless and stimulus baselines, 3 seeds.

The table (:data:`DemoRow`) marks each value *measured* (read from this demo's run files) or *model
parameter* (a number the simulator was given, read from the run's provenance — e.g. the OGB endurance
medians, which a 5-minute demo cannot cycle to). Everything lands in one folder: ``runs/`` (the run files),
``figures/`` (one PNG per run, the reservoir's learning curves and confusion matrices), ``reservoir.h5``,
``demo_table.txt`` and ``demo.json``.

The campaign runs in a second process while the short protocols run in this one (2 cores: the campaign is
≈ 2/3 of the work); each process has its own simulated instrument, as two probe stations would.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .config import Config
from .store import RunReader

RETENTION_LEVELS_A = (29e-6, 100e-6, 300e-6, 1e-3)


@dataclass
class DemoRow:
    """One headline number: the paper's value beside the measured one and where the measured one comes from."""

    quantity: str
    paper: str
    measured: str
    source: str          # "measured" (from this demo's run files) or "model parameter" (simulator input)
    note: str = ""


@dataclass
class DemoSize:
    iv_step_v: float
    vol_cycles: int
    nv_cycles: int
    ladder_levels: int
    ladder_repeats: int
    retention_reads: int
    campaign_cycles: int
    campaign_devices: int
    seeds: int
    relax_devices: int


PAPER_SIZE = DemoSize(0.02, 2000, 200, 10, 5, 26, 199, 25, 3, 25)
QUICK_SIZE = DemoSize(0.05, 200, 20, 4, 2, 8, 8, 3, 2, 3)


def _cfg(runs_dir: Path) -> Config:
    """The embedded simulator with default wiring, writing into ``runs_dir`` (whatever labrc.toml says)."""
    return Config.model_validate({"instrument": {"backend": "sim"}, "data": {"dir": str(runs_dir)}})


def _run(runs_dir: Path, name: str, preset: str | None = None, **values) -> Path:
    from protocols import get_protocol

    from .runner import run_protocol
    proto = get_protocol(name).from_options(preset, {k: str(v) for k, v in values.items()})
    out = run_protocol(_cfg(runs_dir), proto, progress=False, echo=lambda m: None)
    if out.status not in ("completed", "device_failure"):
        raise RuntimeError(f"demo step {name}: run {out.status}: {out.reason}")
    return out.path


def _campaign(runs_dir: str, cycles: int, devices: int, queue) -> None:
    """Child process: the spike-train campaign; reports its run file (or the error) through ``queue``."""
    try:
        queue.put(("ok", str(_run(Path(runs_dir), "spike-train", campaign="true", cycles=cycles, devices=devices))))
    except BaseException as exc:
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def _fmt(x: float, unit: str = "", digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g} {unit}".strip()


def _summary(path: Path) -> tuple[dict, dict]:
    from protocols import PROTOCOLS
    with RunReader(path) as r:
        return PROTOCOLS[r.metadata["protocol"]].summary(r), r.metadata


def _model_param(meta: dict, key: str) -> float | None:
    """A parameter of the simulated die from a run's provenance (``backend.model``), if recorded."""
    model = meta.get("backend", {}).get("model", {}) or {}
    for section in ("preset_params", "params", "preset"):
        sec = model.get(section)
        if isinstance(sec, dict) and key in sec:
            return float(sec[key])
    return None


def volatile_relaxation(n_devices: int, runs_dir: Path) -> dict:
    """1/e relaxation time and memory left at 23 ms after a 1 V / 20 ms spike at 1 µA on devices 0 … n−1 of the
    default die: one stored ``volatile-relaxation`` run (spike and 0.1 V reads in one list per device, so no
    command latency hides the 5–20 ms decay; :mod:`protocols.relaxation`)."""
    from .characterize import relaxation_arrays
    return relaxation_arrays(_run(runs_dir, "volatile-relaxation", devices=n_devices))


def run_demo(out_dir: Path | str, quick: bool = False, seed: int = 0,
             say: Callable[[str], None] = print) -> dict:
    """Run the demo into ``out_dir``; returns {rows, figures, runs, timings, reservoir} (also in demo.json)."""
    from .reservoir import format_result, train_readout, write_results
    from .reservoir_plots import save_figures
    size = QUICK_SIZE if quick else PAPER_SIZE
    out = Path(out_dir).resolve()
    runs_dir, fig_dir = out / "runs", out / "figures"
    runs_dir.mkdir(parents=True, exist_ok=True)
    fig_dir.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    runs: dict[str, Path] = {}

    # the campaign (the long step) in a second process, the short protocols here
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_campaign, args=(str(runs_dir), size.campaign_cycles, size.campaign_devices, queue),
                        daemon=True)
    child.start()
    n_pat = size.campaign_cycles * size.campaign_devices * 4
    say(f"spike-train campaign: {size.campaign_devices} devices × {size.campaign_cycles} cycles × 4 classes = "
        f"{n_pat} patterns (second process)")

    def step(key: str, label: str, name: str, preset: str | None = None, **values) -> None:
        t0 = time.perf_counter()
        runs[key] = _run(runs_dir, name, preset, **values)
        timings[key] = time.perf_counter() - t0
        say(f"{label}: {runs[key].parent.name} ({timings[key]:.1f} s)")

    try:
        step("iv_volatile", "I–V sweep, volatile (1 µA)", "iv-sweep", "volatile", step_v=size.iv_step_v)
        step("iv_nonvolatile", "I–V sweep, non-volatile (1 mA / −7 V)", "iv-sweep", "nonvolatile",
             step_v=size.iv_step_v)
        step("end_volatile", f"volatile endurance, {size.vol_cycles} cycles", "volatile-endurance",
             cycles=size.vol_cycles)
        step("end_nonvolatile", f"non-volatile endurance, {size.nv_cycles} cycles", "nonvolatile-endurance",
             cycles=size.nv_cycles)
        step("icc", f"Icc ladder 29 µA … 1 mA, {size.ladder_levels} levels × {size.ladder_repeats}", "icc-set",
             icc_min_a=29e-6, icc_max_a=1e-3, n_levels=size.ladder_levels, repeats=size.ladder_repeats)
        for icc in RETENTION_LEVELS_A:
            step(f"ret_{icc * 1e6:.0f}uA", f"retention at {icc * 1e6:g} µA to 1e5 s", "retention", icc_a=icc,
                 n_reads=size.retention_reads)
        t0 = time.perf_counter()
        relax = volatile_relaxation(size.relax_devices, runs_dir)
        timings["relaxation"] = time.perf_counter() - t0
        say(f"volatile relaxation after a 1 V / 20 ms spike, {size.relax_devices} devices ({timings['relaxation']:.1f} s)")
        t0 = time.perf_counter()
        status, msg = queue.get()
        child.join()
        if status != "ok":
            raise RuntimeError(f"demo step spike-train campaign failed: {msg}")
        runs["campaign"] = Path(msg)
        timings["campaign_wait"] = time.perf_counter() - t0
        say(f"spike-train campaign: {runs['campaign'].parent.name} (waited {timings['campaign_wait']:.1f} s more)")
    finally:
        if child.is_alive():
            child.terminate()
            child.join()

    from .plots import plot_run
    figures = []
    for key, p in runs.items():
        with RunReader(p) as r:
            figures.append(plot_run(r, fig_dir / f"{key}.png"))
    t0 = time.perf_counter()
    res = train_readout([runs["campaign"]], runs["icc"], seed=seed, n_seeds=size.seeds)
    write_results(res, out / "reservoir.h5")
    figures += save_figures(res, fig_dir, f"labrc demo: {res.n_patterns} patterns on the simulated OGB-Ag die")
    timings["reservoir"] = time.perf_counter() - t0
    say(f"reservoir readouts + baselines, {size.seeds} seeds ({timings['reservoir']:.1f} s)")
    rows = headline_rows(runs, res, relax)
    timings["total"] = time.perf_counter() - t_all
    table = format_rows(rows)
    (out / "demo_table.txt").write_text(table + "\n\n" + format_result(res) + "\n")
    doc = {"rows": [asdict(r) for r in rows], "figures": [str(f) for f in figures],
           "runs": {k: str(v) for k, v in runs.items()}, "timings_s": timings, "quick": quick,
           "reservoir": res.to_dict(), "reservoir_file": str(out / "reservoir.h5")}
    (out / "demo.json").write_text(json.dumps(doc, indent=1, default=str))
    return doc


def headline_rows(runs: dict[str, Path], res, relax: dict) -> list[DemoRow]:
    """Every headline number of the paper (Results, Methods, Fig. 3–4) beside the demo's measured value."""
    M, P = "measured", "model parameter"
    rows: list[DemoRow] = []
    ivv, meta = _summary(runs["iv_volatile"])
    rows.append(DemoRow("volatile SET voltage (Icc 1 µA)", "< 1 V", _fmt(ivv.get("set_v", float("nan")), "V"), M,
                        "I–V sweep 0→2→0 V: first point at ≥ half the peak current"))
    ev, _ = _summary(runs["end_volatile"])
    rows.append(DemoRow("volatile ON/OFF (I at 2 V write / I at 0.1 V read)", "≈ 1e3", _fmt(ev["on_off_median"]), M,
                        f"median of {ev['cycles']} endurance cycles (p10 {ev['on_off_p10']:.3g}, p90 {ev['on_off_p90']:.3g})"))
    rows.append(DemoRow("volatile endurance", "2 × 10⁶ cycles", f"{ev['cycles']} cycles, {ev['failing_cycles']} failing",
                        M, "short run only; the 2e6 median is the next row"))
    mv = _model_param(meta, "median_fail_vol")
    rows.append(DemoRow("volatile endurance, median of the die", "2 × 10⁶ cycles", _fmt(mv, "cycles"), P,
                        "the simulator's wear-out median (labrc sim characterize --full cycles devices to failure)"))
    tau, left = relax["tau_ms"], relax["left_23ms"]
    rows.append(DemoRow("volatile relaxation (1/e), median of devices", "≥ 5 ms; memory 5–20 ms",
                        _fmt(float(np.nanmedian(tau)), "ms"), M,
                        f"1 V / 20 ms spike at 1 µA then 0.1 V reads in one list, {tau.size} devices: p10 "
                        f"{np.nanpercentile(tau, 10):.3g} ms, p90 {np.nanpercentile(tau, 90):.3g} ms; G left at 23 ms "
                        f"{100 * float(np.nanmedian(left)):.0f} % (paper: state reflects the last < 23 ms)"))
    ivn, _ = _summary(runs["iv_nonvolatile"])
    rows.append(DemoRow("non-volatile SET voltage (Icc 1 mA)", "< 1 V", _fmt(ivn.get("set_v", float("nan")), "V"), M,
                        "I–V sweep 0→5→0→−7→0 V"))
    en, meta_n = _summary(runs["end_nonvolatile"])
    rows.append(DemoRow("non-volatile ON/OFF at 0.1 V", "≥ 1e3", _fmt(en["on_off_median"]), M,
                        f"median of {en['cycles']} cycles +5 V (1 mA) / −7 V, p10 {en['on_off_p10']:.3g}"))
    mn = _model_param(meta_n, "median_fail_nv")
    rows.append(DemoRow("non-volatile endurance, median of the die", "5655 cycles", _fmt(mn, "cycles", 4), P,
                        f"the simulator's wear-out median; this demo cycled {en['cycles']}"))
    icc, _ = _summary(runs["icc"])
    rows.append(DemoRow("Icc → G linear", "linear", f"R² {icc.get('r2', float('nan')):.4f}", M,
                        f"slope {icc.get('slope_s_per_a', float('nan')):.3g} S/A, intercept "
                        f"{1e3 * icc.get('intercept_s', float('nan')):.3g} mS, {icc['levels']} programmings"))
    rows.append(DemoRow("LRS range G(29 µA) … G(1 mA)", "0.1–3.5 mS",
                        f"{1e3 * icc['g_mean_s'][0]:.3g}–{1e3 * icc['g_mean_s'][-1]:.3g} mS", M, "mean per level"))
    for level in RETENTION_LEVELS_A:
        s, _ = _summary(runs[f"ret_{level * 1e6:.0f}uA"])
        rows.append(DemoRow(f"retention of a {level * 1e6:g} µA level at {s.get('t_final_s', float('nan')):.0e} s",
                            "10⁵ s (stable multi-level LRS)", f"{100 * s.get('retained_fraction', float('nan')):.1f} % of G",
                            M, f"G {1e3 * s.get('g_initial_s', float('nan')):.3g} → {1e3 * s.get('g_final_s', float('nan')):.3g} mS"))
    with RunReader(runs["campaign"]) as r:
        n = r.n_rows("patterns")
        comp = float(np.mean(r.stream("patterns")["node_comp"]))
    rows.append(DemoRow("spike-train patterns", "19,900 (25 devices × 199 cycles × 4)", f"{n:,}", M,
                        f"reads with the SMU at its 1 µA compliance: {100 * comp:.1f} % (their G from the measured V)"))
    worst = lambda ro: min(ro.per_class_test_acc, key=ro.per_class_test_acc.get)
    for key, paper, label in (("float_", "91.8 %", "float64 readout, test accuracy"),
                              ("icc", "85.1 %", "Icc-programmed readout, test accuracy")):
        ro = getattr(res, key)
        rows.append(DemoRow(label, paper, f"{100 * ro.test_acc_mean:.1f} ± {100 * ro.test_acc_sd:.1f} %", M,
                            f"{len(res.seeds)} seeds; train {100 * ro.train_acc[-1]:.1f} %; worst class {worst(ro)} "
                            f"{100 * ro.per_class_test_acc[worst(ro)]:.1f} %"))
    rows.append(DemoRow("Icc readout train / test", "86.75 % / 85.14 % (train ≈ test)",
                        f"{100 * res.icc.train_acc[-1]:.1f} % / {100 * res.icc.test_acc[-1]:.1f} %", M, "mean of seeds"))
    rows.append(DemoRow("worst class", "Irregular", f"{worst(res.float_)} (float) / {worst(res.icc)} (Icc)", M, ""))
    for key, label in (("memoryless", "memoryless baseline (input at the 30 reads)"),
                       ("stimulus", "stimulus baseline (35 ms spike occupancy)"),
                       ("stimulus_waveform", "stimulus waveform baseline (630 points)")):
        ro = getattr(res, key)
        if ro is not None:
            rows.append(DemoRow(label, "not reported", f"{100 * ro.test_acc_mean:.1f} ± {100 * ro.test_acc_sd:.1f} %", M,
                                next(c["text"] for c in res.comparisons if c["baseline"] == key)))
    p = res.icc.programming
    rows.append(DemoRow("Icc programming events per device (training)", "not reported",
                        f"median {p['events_per_device_median']:.0f}, max {p['events_per_device_max']}", M,
                        f"{100 * p['worst_device_fraction_of_endurance']:.1f} % of the {p['nv_endurance_cycles']}-cycle "
                        "non-volatile endurance (paper)"))
    return rows


def format_rows(rows: list[DemoRow]) -> str:
    head = ("quantity", "paper", "measured", "source")
    body = [(r.quantity, r.paper, r.measured, r.source) for r in rows]
    w = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda c: " | ".join(x.ljust(n) for x, n in zip(c, w)).rstrip()
    out = [line(head), "-+-".join("-" * n for n in w)] + [line(b) for b in body] + [""]
    out += [f"[{i}] {r.quantity}: {r.note}" for i, r in enumerate(rows, 1) if r.note]
    return "\n".join(out)
