"""Characterization report: the simulated die measured through the real stack, against the paper.

Each row says where its number comes from (``Row.source``):

* **measured through the instrument** — protocols sent through the driver
  (:class:`instruments.keithley4200.Keithley4200`) and pyvisa to the simulated 4200
  (:class:`sim_backend.library.LabrcSimLibrary`); the device model is never called directly. Endurance and
  retention run the real protocols through :func:`labrc.runner.run_protocol` and their run files are kept
  in ``out_dir`` (one per device and mode / level, named in the row's note). The other rows are single-list
  measurements through the same driver (:class:`Probe`), because they need one list sweep with no command
  latency inside it (a relaxation of 5–20 ms, a SET within a DC sweep);
* **model parameter** — a number the simulator was *given*, read from the die's provenance, never a
  result: the OGB endurance medians (2 × 10⁶ volatile, 5655 non-volatile) unless ``full=True``, which
  cycles every device of the die to failure in both modes (parallel processes; hours for the volatile mode).

Each tolerance names its source (``Row.tolerance_source``): ``paper`` when the paper states the bound,
``chosen`` when it is ours (the paper gives a single value or none), ``model`` when it follows from a model
parameter (e.g. the Weibull shape behind a median's standard error). The Icc → G slope and range follow
from the model's critical filament voltage (G ≈ Icc / v_c): they are measured, but they test the instrument
path and the compliance physics, not an independent property of the device — the note says so.

Pulses with compliance are list sweeps whose points are the pulse levels: every point lasts
``delay + integration time``, so ``delay = width − t_int`` gives the pulse width, and every point is
measured. The paper's patterns (Methods): volatile read 0.1 V / write +2 V 5 ms at Icc = 1 µA / read;
non-volatile write +5 V 5 ms at Icc = 1 mA, erase −7 V 5 ms, read 0.1 V. The erase runs with a larger
compliance (10 mA): with 1 mA the SMU clamps the device voltage near −V_c and nothing resets, which is
why the paper applies 1 mA "during SET operation" only.

:func:`format_table` prints target | paper | measured | tolerance | source | result.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from instruments.keithley4200 import Keithley4200, SweepResult
from labrc.store import RunReader
from protocols.icc_set import icc_fit
from protocols.smu_ops import staircase
from sim_backend.kxci import PLC, SimConfig
from sim_backend.library import LabrcSimLibrary

__all__ = ["Row", "characterize", "format_table"]

# --- protocol constants (paper Methods unless noted) ------------------------------------------------
READ_V = 0.1
ICC_VOL_A = 1e-6                 # volatile (diffusive) mode
ICC_NV_A = 1e-3                  # non-volatile (drift) mode, SET only
ICC_ERASE_A = 10e-3              # erase/RESET compliance: must exceed I_LRS at -V_reset (model docstring)
WRITE_VOL_V, WRITE_NV_V, ERASE_V = 2.0, 5.0, -7.0
PULSE_S = 5e-3                   # write/erase/read pulse width
RELAX_POINTS = 6                 # 6 × 5 ms = 30 ms at 0 V before the next read (volatile OFF read)
SPIKE_V, SPIKE_S = 1.0, 20e-3    # reservoir spike for the relaxation measurement (paper: 1 V, 20 ms)
SWEEP_STEP_V, SWEEP_DELAY_S = 0.01, 1e-3   # DC sweeps: 10 mV steps, 1 ms delay + 0.1 PLC ≈ 3.75 V/s [chosen]
RETENTION_S = 1e5
ICC_LEVELS_A = np.array([10, 29, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]) * 1e-6
IT = 1                           # integration 0.1 PLC everywhere (fastest reads)


@dataclass
class Row:
    """One target of the report."""

    target: str
    paper: str
    measured: float
    unit: str
    tolerance: str
    passed: bool
    note: str = ""               # how it was measured (devices, cycles, method, run files)
    source: str = "measured through the instrument"     # or "model parameter"
    tolerance_source: str = "chosen"                    # "paper", "chosen" or "model" (see module doc)

    def __post_init__(self) -> None:
        self.measured = float(self.measured)
        self.passed = bool(self.passed)

    @property
    def name(self) -> str:
        return self.target

    @property
    def measured_text(self) -> str:
        return _fmt(self.measured, self.unit)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["measured_text"] = self.measured_text
        d["status"] = "PASS" if self.passed else "FAIL"
        return d


def _fmt(x: float, unit: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    ax = abs(x)
    if unit == "%" and ax < 0.01:
        txt = "< 0.01" if x >= 0 else "> -0.01"
    elif ax == 0 or 1e-2 <= ax < 1e4 or unit == "cycles":
        txt = f"{x:.3g}"
    else:
        txt = f"{x:.2e}"
    return f"{txt} {unit}".strip()


MEASURED, MODEL = "measured through the instrument", "model parameter"


def format_table(rows: list[Row]) -> str:
    """Aligned text table: target | paper | measured | tolerance (source) | measured/model | PASS/FAIL, then notes."""
    head = ("target", "paper", "measured", "tolerance", "source", "result")
    body = []
    notes = []
    for r in rows:
        tag = ""
        if r.note:
            notes.append(r.note)
            tag = f" [{len(notes)}]"
        body.append((r.target + tag, r.paper, r.measured_text, f"{r.tolerance} [{r.tolerance_source}]",
                     "measured" if r.source == MEASURED else "model parameter", "PASS" if r.passed else "FAIL"))
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [line(head), "-+-".join("-" * w for w in widths)]
    out += [line(b) for b in body]
    n_fail = sum(not r.passed for r in rows)
    out.append("")
    out.append(f"{len(rows) - n_fail}/{len(rows)} targets pass" + (f", {n_fail} FAIL" if n_fail else ""))
    if notes:
        out.append("")
        out += [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    return "\n".join(out)


# ==================================================================== the bench: one device under the probes
class Probe:
    """Device ``index`` of the die under the probes of a fresh simulated 4200, reached through pyvisa + driver.

    A fresh instrument (and die, the same one bit for bit: it is seeded) per device: the configuration
    picks the device under test, as on the probe station.
    """

    def __init__(self, sim: SimConfig, index: int, top: int, ground: int | None):
        self.lib = LabrcSimLibrary.create(replace(sim, device_index=int(index)))
        self.k = Keithley4200(sim.tcpip_resource, visa_library=self.lib, timeout=60_000)
        self.top, self.ground = top, ground
        self.t_int = PLC[IT] / sim.line_frequency_hz

    def __enter__(self) -> "Probe":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.k.shutdown()
        finally:
            self.k.adapter.close()

    def sweep(self, v: np.ndarray, icc_a: float, delay_s: float = 0.0, hold_s: float = 0.0) -> SweepResult:
        return self.k.list_sweep(self.top, np.asarray(v, dtype=np.float64), icc_a, delay_s, hold_s,
                                 integration=IT, ground_smu=self.ground)

    def pulses(self, levels, icc_a: float, width_s: float = PULSE_S) -> SweepResult:
        """A train of pulses of ``width_s`` each (every level measured at its end)."""
        return self.sweep(levels, icc_a, delay_s=max(width_s - self.t_int, 0.0))

    def dc_sweep(self, *corners: float, icc_a: float, tail: list[float] = ()) -> SweepResult:
        v = _ramp(*corners)
        return self.sweep(np.concatenate([v, np.asarray(tail, dtype=np.float64)]), icc_a, SWEEP_DELAY_S)


def _ramp(*corners: float) -> np.ndarray:
    return staircase(*corners, step_v=SWEEP_STEP_V)


def _vol_cycles(n: int) -> np.ndarray:
    """Paper volatile endurance pattern: read 0.1 V, write +2 V (5 ms), then 30 ms at 0 V."""
    return np.tile(np.r_[READ_V, WRITE_VOL_V, np.zeros(RELAX_POINTS)], n)


VOL_K = 2 + RELAX_POINTS   # points per volatile cycle


# ==================================================================== protocols on one OGB device
@dataclass
class DeviceResult:
    rev_switched: bool = False
    rev_i_max_a: float = float("nan")
    v_set_vol: float = float("nan")
    tau_s: float = float("nan")
    mem23: float = float("nan")
    onoff_vol: np.ndarray = field(default_factory=lambda: np.empty(0))
    v_set_nv: float = float("nan")
    v_reset: float = float("nan")
    g_lrs: float = float("nan")
    onoff_nv: float = float("nan")
    icc_g: np.ndarray = field(default_factory=lambda: np.empty(0))
    drift: float = float("nan")
    onoff_ret: float = float("nan")
    reconfigured: bool = False
    onoff_reconf: float = float("nan")


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def measure_ogb_device(p: Probe, n_cycles: int) -> DeviceResult:
    r = DeviceResult()
    # 1. reverse bias in the volatile mode (pristine device): 0 → −2 → 0 V at 1 µA, reads before/after
    s = p.dc_sweep(0.0, -2.0, 0.0, icc_a=ICC_VOL_A, tail=[READ_V] * 3)
    i_rev = s.i_meas_a[:-3]
    g_after = float(np.median(s.i_meas_a[-3:])) / READ_V
    r.rev_i_max_a = float(np.abs(i_rev).max())
    r.rev_switched = bool(s.compliance.any() or r.rev_i_max_a > 0.5 * ICC_VOL_A or g_after > 0.5 * ICC_VOL_A / 0.3)

    # 2. volatile DC sweep 0 → 2 → 0 V at 1 µA: SET = first point in compliance
    s = p.dc_sweep(0.0, WRITE_VOL_V, 0.0, icc_a=ICC_VOL_A, tail=[0.0] * 20)
    j = _first(s.compliance)
    r.v_set_vol = float(s.v_set_v[j]) if j is not None else float("nan")

    # 3. relaxation after a 1 V, 20 ms spike: reads at 0.1 V every 0.1 PLC for 80 ms
    r.tau_s, r.mem23 = measure_relaxation(p)

    # 4. volatile ON/OFF: read / write / 30 ms at 0 V, n cycles at 1 µA
    s = p.pulses(_vol_cycles(n_cycles), ICC_VOL_A)
    i = s.i_meas_a.reshape(n_cycles, VOL_K)
    ok = s.compliance.reshape(n_cycles, VOL_K)[:, 1]
    r.onoff_vol = np.where(ok, i[:, 1] / np.abs(i[:, 0]), np.nan)

    # 5. non-volatile DC sweeps: 0 → +5 → 0 V at 1 mA, then 0 → −7 → 0 V at 10 mA, reads at 0.1 V after each
    s = p.dc_sweep(0.0, WRITE_NV_V, 0.0, icc_a=ICC_NV_A, tail=[READ_V] * 3)
    j = _first(s.compliance)
    r.v_set_nv = float(s.v_set_v[j]) if j is not None else float("nan")
    g_lrs = float(np.median(s.i_meas_a[-3:])) / READ_V
    s = p.dc_sweep(0.0, ERASE_V, 0.0, icc_a=ICC_ERASE_A, tail=[READ_V] * 3)
    g_hrs = float(np.median(s.i_meas_a[-3:])) / READ_V
    vv, ii = s.v_set_v[:-3], s.i_meas_a[:-3]
    with np.errstate(divide="ignore", invalid="ignore"):
        g_neg = np.abs(ii / np.where(vv < 0, vv, np.nan))
    j = _first((vv < 0) & (g_neg < 0.5 * g_lrs))
    r.v_reset = float(vv[j]) if j is not None else float("nan")
    r.g_lrs, r.onoff_nv = g_lrs, g_lrs / abs(g_hrs)

    # 6. Icc → G: erase (−7 V, 10 mA), write (+5 V 5 ms at Icc), read 0.1 V
    out = []
    for icc in ICC_LEVELS_A:
        p.pulses([ERASE_V, READ_V], ICC_ERASE_A)
        s = p.pulses([WRITE_NV_V, READ_V], float(icc))
        out.append(float(s.i_meas_a[1]) / READ_V)
    r.icc_g = np.array(out)

    # 8. reconfiguration: after the non-volatile states above, erase and run the volatile pattern again
    p.pulses([ERASE_V, READ_V], ICC_ERASE_A)
    s = p.pulses(_vol_cycles(5), ICC_VOL_A)
    i = s.i_meas_a.reshape(5, VOL_K)
    switches = s.compliance.reshape(5, VOL_K)[:, 1].all()
    ratio = i[:, 1] / np.abs(i[:, 0])
    r.onoff_reconf = float(np.median(ratio))
    r.reconfigured = bool(switches and np.all(ratio >= 1e2))
    return r


def measure_relaxation(p: Probe) -> tuple[float, float]:
    """(1/e time in s, fraction left at 23 ms) of the filament after a 1 V / 20 ms spike at 1 µA.

    One list sweep (so no command latency between the spike and the reads): 50 ms at 0 V, 3 reads of
    the OFF state at 0.1 V, the spike, then 0.1 V reads every 0.1 PLC for 80 ms. The filament's
    conductance = read G − OFF G, relative to I/V at the spike's last point (SMU-measured V)."""
    n_spike = int(round(SPIKE_S / p.t_int))
    v = np.r_[[0.0] * 30, [READ_V] * 3, [SPIKE_V] * n_spike, [READ_V] * 48]
    s = p.sweep(v, ICC_VOL_A)
    g_off = float(np.median(s.i_meas_a[30:33])) / READ_V
    k_end = 33 + n_spike - 1
    i_end, v_end = float(s.i_meas_a[k_end]), float(s.v_meas_v[k_end])
    g_end = i_end / v_end - g_off
    t = s.t_s[k_end + 1:] - s.t_s[k_end]
    frac = (s.i_meas_a[k_end + 1:] / READ_V - g_off) / g_end
    return _cross_time(t, frac, 1 / math.e), float(np.interp(23e-3, t, frac))


def _cross_time(t: np.ndarray, y: np.ndarray, level: float) -> float:
    """First time y falls to ``level`` (linear interpolation between samples)."""
    j = _first(y <= level)
    if j is None:
        return float("nan")
    if j == 0:
        return float(t[0])
    t0, t1, y0, y1 = t[j - 1], t[j], y[j - 1], y[j]
    return float(t0 + (y0 - level) / (y0 - y1) * (t1 - t0)) if y0 != y1 else float(t1)


# ==================================================================== stored runs through labrc.runner
def _run_job(job: dict) -> dict:
    """One protocol run on one device of a die, through :func:`labrc.runner.run_protocol` (a worker process).

    Returns the run file, its status, the device failure (first failing cycle) and the protocol summary."""
    from labrc.config import Config
    from labrc.runner import run_protocol
    from labrc.store import RunReader
    from protocols import get_protocol
    cfg = Config.model_validate(job["config"])
    proto = get_protocol(job["protocol"]).from_options(None, {k: str(v) for k, v in job["params"].items()})
    out = run_protocol(cfg, proto, progress=False, echo=lambda m: None)
    with RunReader(out.path) as r:
        summary = type(proto).summary(r)
    return {**job, "path": str(out.path), "status": out.status, "reason": out.reason,
            "failure": out.failure, "summary": summary}


def run_jobs(jobs: list[dict], workers: int) -> list[dict]:
    """Run the jobs in ``workers`` processes (spawned: each its own simulated instrument), in order."""
    if workers <= 1 or len(jobs) <= 1:
        return [_run_job(j) for j in jobs]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        return list(ex.map(_run_job, jobs))


def _job_config(cfg, preset: str, seed: int, device: int, out_dir: Path) -> dict:
    """The configuration of one run: the die ``preset``/``seed`` with ``device`` under the probes, runs in out_dir."""
    d = cfg.to_dict()
    d["instrument"]["backend"] = "sim"
    d["data"]["dir"] = str(out_dir)
    d["sim"].update(preset=preset, seed=int(seed), device=int(device), load="memristor", realtime_factor=0.0,
                    faults={})
    return d


def endurance_jobs(cfg, preset: str, seed: int, devices: list[int], mode: str, max_cycles: int,
                   out_dir: Path) -> list[dict]:
    """Cycle each device to failure (``stop_on_failure``) with the paper's pattern, at most ``max_cycles``."""
    name = "volatile-endurance" if mode == "volatile" else "nonvolatile-endurance"
    return [{"config": _job_config(cfg, preset, seed, k, out_dir), "protocol": name, "device": k, "mode": mode,
             "params": {"cycles": max_cycles, "stop_on_failure": True, "n_detail": 20}} for k in devices]


def failure_cycles(results: list[dict]) -> np.ndarray:
    """First failing cycle of each endurance run (NaN: no failure within the run)."""
    return np.array([float(r["failure"]["cycle"]) + 1 if r.get("failure") else np.nan for r in results])


def _runs_note(results: list[dict]) -> str:
    dirs = sorted({Path(r["path"]).parent.name for r in results})
    return f"runs: {dirs[0]} … ({len(dirs)} run files)" if len(dirs) > 1 else f"run: {dirs[0]}"


# ==================================================================== the report
def _pct(x: np.ndarray) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not x.size:
        return (float("nan"),) * 3
    return float(np.median(x)), float(np.percentile(x, 10)), float(np.percentile(x, 90))


def _spread_txt(x: np.ndarray, unit: str, scale: float = 1.0) -> str:
    m, lo, hi = _pct(np.asarray(x) * scale)
    return f"median {m:.3g} {unit}, p10 {lo:.3g}, p90 {hi:.3g}"


def _over(devs: list, what: Callable) -> np.ndarray:
    return np.array([what(d) for d in devs], dtype=np.float64)


def characterize(cfg, preset: str | None = None, seed: int | None = None, quick: bool = False,
                 progress: Callable[[str], None] | None = None, full: bool = False,
                 out_dir: Path | str | None = None, workers: int = 2) -> list[Row]:
    """Measure the die of ``cfg`` (``preset``/``seed`` override ``cfg.sim``); one Row per target.

    ``quick``: 5 OGB devices, 10 DDAB devices, fewer cycles, retention on one device (tens of seconds);
    default: the whole die (25 devices), retention on 3. ``full``: also cycle every OGB device of the die to
    failure in both modes (the endurance rows become measured). Endurance and retention runs are written to
    ``out_dir`` (default: ``<data.dir>/characterize``) by ``workers`` processes.
    """
    say = progress or (lambda msg: None)
    sim = cfg.sim_config()
    sim = replace(sim, preset=preset or sim.preset, seed=sim.seed if seed is None else int(seed),
                  load="memristor", realtime_factor=0.0, faults={})
    ligand = sim.preset.split("-")[0]   # the main section measures this die against the paper's OGB-Ag targets
    top, ground = cfg.instrument.top_smu, cfg.instrument.ground_smu
    lim = cfg.limits
    for v in (WRITE_NV_V, ERASE_V):
        if not lim.v_min_v <= v <= lim.v_max_v:
            raise ValueError(f"the paper's {v:+g} V pulse is outside the operator limits "
                             f"[{lim.v_min_v:g}, {lim.v_max_v:g}] V (limits.v_min_v / v_max_v)")
    if ICC_ERASE_A > lim.icc_max_a:
        raise ValueError(f"the erase compliance {ICC_ERASE_A:g} A exceeds limits.icc_max_a={lim.icc_max_a:g} A")
    out = Path(out_dir) if out_dir is not None else Path(cfg.data_dir) / "characterize"
    out.mkdir(parents=True, exist_ok=True)

    n_dev = min(5, sim.n_devices) if quick else sim.n_devices
    n_ret = 1 if quick else min(3, sim.n_devices)
    n_cyc = 20 if quick else 100
    devices = list(range(n_dev))
    # the DDAB medians (≈ 10 / ≈ 50 cycles, Weibull spread) need more than 5 devices even in a quick run
    dd_devices = list(range(min(10, sim.n_devices) if quick else sim.n_devices))
    rows: list[Row] = []

    # ---------------------------------------------------------------- runs through labrc.runner (parallel)
    jobs = []
    for k in range(n_ret):
        for icc in ICC_LEVELS_A:
            jobs.append({"config": _job_config(cfg, sim.preset, sim.seed, k, out), "protocol": "retention",
                         "device": k, "icc": float(icc), "params": {"icc_a": float(icc), "t_max_s": RETENTION_S}})
    jobs += endurance_jobs(cfg, "DDAB-Ag", sim.seed, dd_devices, "volatile", 200, out)
    jobs += endurance_jobs(cfg, "DDAB-Ag", sim.seed, dd_devices, "nonvolatile", 250, out)
    if full:
        jobs += endurance_jobs(cfg, sim.preset, sim.seed, list(range(sim.n_devices)), "volatile", 10_000_000, out)
        jobs += endurance_jobs(cfg, sim.preset, sim.seed, list(range(sim.n_devices)), "nonvolatile", 100_000, out)
    say(f"{len(jobs)} retention / endurance runs in {workers} processes → {out}")
    results = run_jobs(jobs, workers)
    ret = [r for r in results if r["protocol"] == "retention"]
    dd_nv = [r for r in results if r["protocol"] == "nonvolatile-endurance" and r["config"]["sim"]["preset"] == "DDAB-Ag"]
    dd_vol = [r for r in results if r["protocol"] == "volatile-endurance" and r["config"]["sim"]["preset"] == "DDAB-Ag"]
    ogb_vol = [r for r in results if r["protocol"] == "volatile-endurance" and r["config"]["sim"]["preset"] == sim.preset]
    ogb_nv = [r for r in results if r["protocol"] == "nonvolatile-endurance" and r["config"]["sim"]["preset"] == sim.preset]

    # ---------------------------------------------------------------- OGB-Ag die, single-list measurements
    res: list[DeviceResult] = []
    for k in devices:
        say(f"{sim.preset} device {k}")
        with Probe(sim, k, top, ground) as p:
            res.append(measure_ogb_device(p, n_cyc))
    with Probe(sim, 0, top, ground) as p:
        model = p.lib.instrument.die.describe()
    per = f"{n_dev} devices"

    v_set = _over(res, lambda d: d.v_set_vol)
    m, lo, hi = _pct(v_set)
    rows.append(Row("volatile SET voltage, p90 of die (Icc 1 µA)", "< 1 V", hi, "V", "< 1 V",
                    bool(hi < 1.0 and np.isfinite(v_set).all()),
                    f"DC sweep 0→2→0 V, 10 mV steps at ≈3.75 V/s, Icc = 1 µA, first point in compliance; "
                    f"{per}: {_spread_txt(v_set, 'V')}", tolerance_source="paper"))
    onoff = np.concatenate([d.onoff_vol for d in res])
    m_on = float(np.nanmedian(onoff))
    rows.append(Row("volatile ON/OFF (I@2 V write / I@0.1 V read), median", "≈ 1e3", m_on, "",
                    "1e2 … 1e4 (within a decade)", bool(1e2 <= m_on <= 1e4),
                    f"paper pattern read 0.1 V / write 2 V 5 ms at 1 µA / 30 ms at 0 V, {n_cyc} cycles × {per}; "
                    f"median over cycles, p10 {np.nanpercentile(onoff, 10):.3g}, p90 {np.nanpercentile(onoff, 90):.3g}; "
                    f"writes without compliance: {int(np.isnan(onoff).sum())}",
                    tolerance_source="chosen (paper: '~10^3', an order of magnitude)"))
    tau = _over(res, lambda d: d.tau_s) * 1e3
    m, lo, hi = _pct(tau)
    rows.append(Row("volatile relaxation time (1/e), median", "5–20 ms (≥ 5 ms)", m, "ms", "5 … 20 ms",
                    bool(5 <= m <= 20),
                    f"1 V 20 ms spike at 1 µA, then 0.1 V reads every 0.1 PLC in the same list; filament conductance "
                    f"(read − HRS) relative to I/V at the spike's end; {per}: p10 {lo:.3g} ms, p90 {hi:.3g} ms",
                    tolerance_source="paper ('short-term memory between 5 and 20 ms')"))
    mem = _over(res, lambda d: d.mem23) * 100
    m, lo, hi = _pct(mem)
    rows.append(Row("state reflects the last < 23 ms: G left 23 ms after a spike", "memory < 23 ms", m, "%",
                    "≤ 10 % (median)", bool(m <= 10), f"same spike; {per}: p10 {lo:.3g} %, p90 {hi:.3g} %",
                    tolerance_source="chosen (paper: '< 23 ms', no level given)"))
    rev_n = int(sum(d.rev_switched for d in res))
    rev_i = max(d.rev_i_max_a for d in res)
    rows.append(Row("no switching under reverse bias (volatile)", "none", rev_n, "devices",
                    "0 devices switch", rev_n == 0,
                    f"DC sweep 0→−2→0 V at 1 µA then 0.1 V reads: switched = compliance, |I| > Icc/2 or ON read after; "
                    f"largest |I| on the die {rev_i * 1e9:.3g} nA", tolerance_source="paper"))
    v_nv = _over(res, lambda d: d.v_set_nv)
    m, lo, hi = _pct(v_nv)
    rows.append(Row("non-volatile SET voltage, p90 of die (Icc 1 mA)", "< 1 V", hi, "V", "< 1 V",
                    bool(hi < 1.0 and np.isfinite(v_nv).all()),
                    f"DC sweep 0→5→0 V at 1 mA, first point in compliance; {per}: {_spread_txt(v_nv, 'V')}",
                    tolerance_source="paper"))
    v_rs = _over(res, lambda d: d.v_reset)
    m, lo, hi = _pct(v_rs)
    rows.append(Row("non-volatile RESET voltage, median", "negative (sweep to −7 V)", m, "V",
                    "every device resets, at −7 V < V < 0", bool(np.isfinite(v_rs).all() and np.all(v_rs < 0)),
                    f"DC sweep 0→−7→0 V at 10 mA: first point where |I/V| < G_LRS/2; {per}: p10 {lo:.3g} V, "
                    f"p90 {hi:.3g} V", tolerance_source="paper"))
    on_nv = _over(res, lambda d: d.onoff_nv)
    m, lo, hi = _pct(on_nv)
    rows.append(Row("non-volatile ON/OFF at 0.1 V, min of die", "≥ 1e3", float(np.min(on_nv)), "", "≥ 1e3",
                    bool(np.min(on_nv) >= 1e3),
                    f"0.1 V reads after the +5 V (1 mA) and −7 V (10 mA) sweeps; {per}: median {m:.3g}",
                    tolerance_source="paper"))

    icc = np.tile(ICC_LEVELS_A, len(res))
    g = np.concatenate([d.icc_g for d in res])
    sel = (icc >= 10e-6) & (icc <= 1e-3)
    fit = icc_fit({"icc": icc[sel], "g_lrs": g[sel]})      # the same fit the icc-set protocol stores
    a, b, r2 = fit["slope_s_per_a"], fit["intercept_s"], fit["r2"]
    circ = "; G ≈ Icc / v_c follows from the model's v_c (a model parameter): this checks the instrument path"
    fit_note = (f"erase −7 V (10 mA), write +5 V 5 ms at Icc ∈ {{10, 29, 100, 200, …, 1000}} µA, read 0.1 V; "
                f"one pooled fit over {per} × {ICC_LEVELS_A.size} levels (d2d + c2c scatter included){circ}")
    rows.append(Row("Icc → G slope (10 µA–1 mA)", "linear; ≈ 3.5 S/A (0.1–3.5 mS)", a, "S/A", "2.8 … 4.2 S/A (±20 %)",
                    bool(2.8 <= a <= 4.2), fit_note, tolerance_source="chosen (±20 % of the paper's range / Icc span)"))
    rows.append(Row("Icc → G intercept", "≈ 0", b * 1e3, "mS", "|b| ≤ 0.1 mS", bool(abs(b) <= 1e-4),
                    tolerance_source="chosen (the lowest readout level, 0.1 mS)"))
    rows.append(Row("Icc → G linearity R²", "linear", r2, "", "R² ≥ 0.95", bool(r2 >= 0.95),
                    tolerance_source="chosen"))
    g29 = float(np.median(g[icc == 29e-6])) * 1e3
    g1m = float(np.median(g[icc == 1e-3])) * 1e3
    rows.append(Row("readout range G(29 µA) … G(1 mA)", "0.1–3.5 mS", g1m, "mS",
                    "G(29 µA) 0.07–0.13 mS and G(1 mA) 2.45–4.55 mS (±30 %)",
                    bool(0.07 <= g29 <= 0.13 and 2.45 <= g1m <= 4.55),
                    f"medians over the die: G(29 µA) = {g29:.3g} mS, G(1 mA) = {g1m:.3g} mS (measured column){circ}",
                    tolerance_source="chosen (±30 % of the paper's ends)"))
    rows += _retention_rows(ret)
    n_rc = int(sum(d.reconfigured for d in res))
    rows.append(Row("reconfigures back to volatile after NV programming + RESET", "yes", n_rc, "devices",
                    f"all {n_dev} devices", n_rc == n_dev,
                    f"after the NV sweeps and {ICC_LEVELS_A.size} Icc programmings: erase −7 V, then "
                    f"5 volatile cycles at 1 µA; volatile = every write clamps at 1 µA and every read after "
                    f"30 ms at 0 V is OFF (ON/OFF ≥ 1e2); median ON/OFF {np.median(_over(res, lambda d: d.onoff_reconf)):.3g}",
                    tolerance_source="paper"))
    g_l = _over(res, lambda d: d.g_lrs) * 1e3
    for label, x, unit in (("SET voltage (volatile)", v_set, "V"), ("LRS conductance at 1 mA", g_l, "mS")):
        x = x[np.isfinite(x)]
        cv = float(np.std(x) / np.mean(x)) * 100
        m, lo, hi = _pct(x)
        rows.append(Row(f"d2d spread: CV of {label}", f"{sim.n_devices} devices, d2d variation", cv, "%",
                        "1–30 % (present, bounded)", bool(1 <= cv <= 30),
                        f"coefficient of variation over {per}: median {m:.3g} {unit}, p10 {lo:.3g}, p90 {hi:.3g}",
                        tolerance_source="chosen (paper: variability captured, no figure)"))
    rows += _ogb_endurance_rows(model, ogb_vol, ogb_nv)

    # ---------------------------------------------------------------- DDAB-Ag die (stored endurance runs)
    per_dd = f"{len(dd_devices)} devices"
    first_on = []
    for r in dd_vol:
        with RunReader(r["path"]) as rd:
            c = rd.stream("cycles")
        first_on.append(float(c["on_off"][0]) if c["on_off"].size else float("nan"))
    m = float(np.nanmedian(first_on)) if first_on else float("nan")
    rows.append(Row("DDAB volatile ON/OFF (first cycle)", "≈ 10", m, "", "3 … 30", bool(3 <= m <= 30),
                    f"first cycle of the volatile-endurance runs on {per_dd} of a DDAB-Ag die; {_runs_note(dd_vol)}",
                    tolerance_source="chosen (×/÷ 3 of the paper's '~10')"))
    for label, rr, target, cap, how in (
            ("DDAB volatile endurance (falls non-volatile)", dd_vol, 10, 200,
             "volatile-endurance run (paper pattern) until its failure detection (stuck ON: the read after 30 ms "
             "at 0 V stays ON)"),
            ("DDAB non-volatile endurance (stuck, non-erasable)", dd_nv, 50, 250,
             "nonvolatile-endurance run (+5 V 1 mA / −7 V 10 mA) until its failure detection (stuck ON: the "
             "erase leaves an LRS)")):
        x = failure_cycles(rr)
        m, lo, hi = _pct(x)
        rows.append(Row(f"{label} (median)", f"≈ {target}", m, "cycles", "×/÷ 2",
                        bool(np.isfinite(m) and target / 2 <= m <= target * 2 and not np.isnan(x).any()),
                        f"{how}; {per_dd}; p10 {lo:.3g}, p90 {hi:.3g}; no failure within {cap}: "
                        f"{int(np.isnan(x).sum())}; {_runs_note(rr)}", tolerance_source="chosen (paper: '~10', '~50')"))

    # ---------------------------------------------------------------- OGB-Au die
    au = replace(sim, preset=f"{ligand}-Au")
    i_max, n_cc = 0.0, 0
    for k in devices:
        with Probe(au, k, top, ground) as p:
            s = p.dc_sweep(0.0, WRITE_NV_V, 0.0, icc_a=ICC_NV_A)
            i_max = max(i_max, float(np.abs(s.i_meas_a).max()))
            n_cc += int(s.compliance.any())
    rows.append(Row(f"{ligand}-Au: no switching (max |I| at ≤ 5 V)", "never reaches 1 mA", i_max * 1e6, "µA",
                    "< 1 mA and no compliance on any device", bool(i_max < 1e-3 and n_cc == 0),
                    f"DC sweep 0→5→0 V at Icc 1 mA on {per} of an {ligand}-Au die; devices in compliance: {n_cc}",
                    tolerance_source="paper (Suppl. Fig. 14)"))
    return rows


RETENTION_DRIFT_MAX = 0.30     # |G(1e5 s)/G(0) − 1|: chosen — the paper states retention to 1e5 s, no drift figure


def _retention_rows(ret: list[dict]) -> list[Row]:
    """One row per Icc level of the ladder: the retention runs' retained fraction at 1e5 s over the devices."""
    rows = []
    for icc in ICC_LEVELS_A:
        rr = [r for r in ret if r["icc"] == float(icc)]
        if not rr:
            continue
        frac = np.array([r["summary"].get("retained_fraction", np.nan) for r in rr])
        drift = (frac - 1.0) * 100
        worst = float(drift[np.nanargmax(np.abs(drift))]) if np.isfinite(drift).any() else float("nan")
        g0 = np.array([r["summary"].get("g_initial_s", np.nan) for r in rr]) * 1e3
        claimed = icc >= 29e-6 - 1e-12        # the paper's stable levels span the readout's 0.1–3.5 mS (29 µA …)
        ok = bool(np.isfinite(drift).all() and np.all(np.abs(drift) <= 100 * RETENTION_DRIFT_MAX))
        rows.append(Row(f"retention at Icc {icc * 1e6:g} µA: worst G drift at 1e5 s",
                        "retained to 1e5 s" if claimed else "no claim (below the 0.1–3.5 mS range)", worst, "%",
                        f"|drift| ≤ {RETENTION_DRIFT_MAX:.0%} on every device" if claimed else "reported only",
                        ok if claimed else True,
                        f"retention runs (SET sweep 0→2→0 V at Icc, 0.1 V reads at 26 log-spaced times 1 s … 1e5 s) on "
                        f"{len(rr)} device(s): G(0) {np.nanmedian(g0):.3g} mS, drift per device "
                        f"{', '.join(f'{d:+.1f} %' for d in drift)}; {_runs_note(rr)}",
                        tolerance_source="chosen (paper: retention 1e5 s and 'stable' levels, no drift figure)"
                        if claimed else "none"))
    return rows


def _ogb_endurance_rows(model: dict, vol: list[dict], nv: list[dict]) -> list[Row]:
    """OGB endurance medians: measured from runs to failure when there are any, else the model's parameters."""
    rows = []
    pp = model.get("preset_params", {}) or {}
    k = float(pp.get("weibull_k", 2.0))
    for label, rr, target, key in (("volatile", vol, 2e6, "median_fail_vol"), ("non-volatile", nv, 5655, "median_fail_nv")):
        if rr:
            x = failure_cycles(rr)
            m, lo, hi = _pct(x)
            n = int(np.isfinite(x).sum())
            # 3 standard errors of the median of n Weibull(k) draws: relative s.e. = 1/(k·ln 2·√n) (k = 2: 0.72/√n)
            tol = 3.0 / (k * math.log(2.0) * math.sqrt(max(n, 1)))
            rows.append(Row(f"OGB {label} endurance (median, cycled to failure)", f"{target:.4g}", m, "cycles",
                            f"±{tol:.0%} (3 s.e. of a {n}-device median)",
                            bool(np.isfinite(m) and abs(m / target - 1) <= tol and n == len(rr)),
                            f"every device of the die cycled with the paper's pattern until failure detection; p10 "
                            f"{lo:.3g}, p90 {hi:.3g}; no failure: {int(np.isnan(x).sum())}; {_runs_note(rr)}",
                            tolerance_source=f"model (Weibull shape k = {k:g} sets the median's spread)"))
        else:
            v = float(pp.get(key, float("nan")))
            rows.append(Row(f"OGB {label} endurance (median)", f"{target:.4g}", v, "cycles", "= paper value",
                            bool(v == target),
                            f"the simulator's wear-out median ({key}), not a measurement: "
                            "`labrc sim characterize --full` cycles every device to failure",
                            source=MODEL, tolerance_source="paper"))
    return rows
