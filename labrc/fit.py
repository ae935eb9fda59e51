"""A digital twin: fit the device model's parameters to measured runs, write a preset the simulator loads.

``labrc sim fit RUN... [-o device.toml] [--check]`` estimates the parameters of the model on main
(model v2, :mod:`sim_backend.model`) that best reproduce the runs — any mix of protocols, one joint fit —
from *summary statistics* of the runs (not the raw traces), with scipy's ``least_squares``:

=================  ==========================================  =========================================
parameter          what it is in the model                     statistics that carry it
=================  ==========================================  =========================================
``v_c_v``          V_c of the Icc → G line, G = Icc / V_c       icc-set: mean ln G_LRS per Icc level;
                   (the device's effective V_c: the model's     nonvolatile-endurance: ln G read after
                   v_c / g_set_factor)                          the SET; iv-sweep (non-volatile): ln G at
                                                                +0.1 V after the SET
``g_off_s``        HRS leakage, I = g_off·v_nl·sinh(V/v_nl)      ln G of every HRS read (icc-set after the
                                                                RESET, NV endurance before the SET, I–V
                                                                at +0.1 V on the way up)
``cc_g_set``       cycle-to-cycle σ_ln of the programmed LRS     σ of ln G_LRS about its level mean
``cc_hrs``         cycle-to-cycle σ_ln of the HRS                σ of ln G_HRS (pristine reads excluded)
``nu_1ms``         power-law drift ν at 1 mS (ν ∝ G^-½)          retention: slope of ln G vs ln(1 + t/t0)
=================  ==========================================  =========================================

The expected value of each statistic follows from the model's equations (sim_backend/model/kinetics.py,
device.py: G_LRS = (Icc − I_off(v_c))·g_set_factor/v_c·e^{cc_g_set·z}, HRS g_off·e^{cc_hrs·z}, read noise
1 % + 5 pA per point, drift G_p(1 + t/t0)^-ν); each residual is divided by the statistic's standard error
from the data (σ/√n for a mean of ln G, σ/√(2·dof) for a σ, the regression's for a slope). The fit is
joint: ``g_off`` is held by every HRS read of every run, ``V_c`` by every LRS. Uncertainties are 1 σ from
the Jacobian at the optimum, cov = (JᵀJ)⁻¹·max(1, χ²/dof); each run's fit quality is its χ²/n.

Left out on purpose (reported as "not used"): the volatile statistics (volatile endurance, spike trains,
a volatile I–V) depend on the relaxation of the bridge *and* on the instrument's command timing between
lists (≈ 1 ms a command on the simulator, unknown on hardware); fitting τ_v, v_th or the growth rate from
them needs the whole stack as the forward model, which costs a simulated run per evaluation.

The preset (``-o device.toml``) sets the fitted values and the device-to-device spread of each fitted
parameter to 0, so every device of the die *is* the fitted device (its c2c scatter and read noise stay):
``[sim] preset_file = "device.toml"`` in labrc.toml, or ``labrc replay RUN --preset-file device.toml``,
which is how ``--check`` verifies that the fitted device reproduces each run it was fitted on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .store import RunReader

__all__ = ["FIT_PARAMS", "FitError", "FitResult", "Stat", "check_replays", "fit_runs", "run_statistics", "write_preset"]

T0_DRIFT_S = 1.0            # sim_backend.model.params.Preset.t0_drift_s (not fitted)
NU_MAX = 0.05               # sim_backend.model.kinetics.NU_MAX
NOISE_REL, NOISE_ABS_A = 0.01, 5e-12    # read noise per point (Preset.noise_i_rel, noise_i_abs_a)
V_NL_V = 1.0                # Preset.v_nl_v (HRS sinh scale; not fitted)
ICC_NV_MIN_A = 20e-6        # an I–V SET above this compliance makes a stable (non-volatile) filament

# name -> (log-scaled in the fit, start value, lower bound, upper bound, unit)
FIT_PARAMS: dict[str, tuple[bool, float, float, float, str]] = {
    "v_c_v": (True, 0.29, 0.02, 5.0, "V"),
    "g_off_s": (True, 10e-9, 1e-13, 1e-3, "S"),
    "cc_g_set": (False, 0.07, 0.0, 2.0, ""),
    "cc_hrs": (False, 0.25, 0.0, 2.0, ""),
    "nu_1ms": (True, 0.003, 1e-6, 0.05, ""),
}
D2D_OF = {"v_c_v": "sd_g_set", "g_off_s": "sd_g_off", "nu_1ms": "sd_nu"}   # zeroed in the fitted preset


class FitError(ValueError):
    """Runs that cannot be fitted (nothing to fit, bad values): one line."""


@dataclass
class Stat:
    """One summary statistic of one run and the model's expectation of it."""

    run: str
    name: str
    value: float
    se: float
    needs: tuple[str, ...]
    model: Callable[[dict[str, float]], float]

    def z(self, p: dict[str, float]) -> float:
        return (self.model(p) - self.value) / self.se


def _s_read(v: float) -> float:
    """Chord conductance of the sinh leakage at the read voltage, per unit g_off."""
    return V_NL_V / abs(v) * math.sinh(abs(v) / V_NL_V)


def _g_hrs(p: dict, v: float) -> float:
    return p["g_off_s"] * _s_read(v)


def _g_lrs(p: dict, icc: float, v: float) -> float:
    i_off_vc = p["g_off_s"] * V_NL_V * math.sinh(p["v_c_v"] / V_NL_V)
    return max(icc - i_off_vc, 1e-15) / p["v_c_v"] + _g_hrs(p, v)


def _noise_ln(i_a: float, n: int) -> float:
    return (NOISE_REL + NOISE_ABS_A / max(abs(i_a), 1e-15)) / math.sqrt(max(n, 1))


def _mean_ln(run: str, name: str, g: np.ndarray, needs: tuple[str, ...], model) -> list[Stat]:
    x = np.log(g[np.isfinite(g) & (g > 0)])
    if x.size < 1:
        return []
    sd = float(x.std(ddof=1)) if x.size > 1 else 0.1
    return [Stat(run, name, float(x.mean()), max(sd, 1e-3) / math.sqrt(x.size), needs, model)]


def _sigma_ln(run: str, name: str, resid: np.ndarray, dof: int, needs: tuple[str, ...], model) -> list[Stat]:
    if dof < 3:
        return []
    s = float(math.sqrt(np.sum(resid ** 2) / dof))
    return [Stat(run, name, s, max(s, 1e-3) / math.sqrt(2 * dof), needs, model)]


def _lrs_stats(rid: str, tag: str, g: np.ndarray, icc: float, v: float, n_read: int) -> list[Stat]:
    g = g[np.isfinite(g) & (g > 0)]
    noise = _noise_ln(icc * 0.3, n_read)
    out = _mean_ln(rid, f"{tag} ln G_LRS @ {icc:.3g} A", g, ("v_c_v", "g_off_s"),
                   lambda p, icc=icc, v=v: math.log(_g_lrs(p, icc, v)))
    if g.size >= 4:
        x = np.log(g)
        out += _sigma_ln(rid, f"{tag} sigma ln G_LRS", x - x.mean(), x.size - 1, ("cc_g_set",),
                         lambda p, n=noise: math.hypot(p["cc_g_set"], n))
    return out


def _hrs_stats(rid: str, tag: str, g: np.ndarray, v: float, n_read: int) -> list[Stat]:
    g = g[np.isfinite(g) & (g > 0)]
    out = _mean_ln(rid, f"{tag} ln G_HRS", g, ("g_off_s",), lambda p, v=v: math.log(_g_hrs(p, v)))
    if g.size >= 4:
        x = np.log(g)
        noise = _noise_ln(float(np.median(g)) * abs(v), n_read)
        out += _sigma_ln(rid, f"{tag} sigma ln G_HRS", x - x.mean(), x.size - 1, ("cc_hrs",),
                         lambda p, n=noise: math.hypot(p["cc_hrs"], n))
    return out


def run_statistics(r: RunReader) -> tuple[list[Stat], str]:
    """The summary statistics of one run that the fit uses, and "" or why the run contributes none."""
    proto, prm, rid = r.metadata.get("protocol", ""), r.metadata.get("parameters") or {}, r.run_id[:8]
    try:
        if proto == "icc-set":
            lv = r.stream("levels")
            v, n = float(prm.get("v_read_v", 0.1)), int(prm.get("n_read", 5))
            out: list[Stat] = []
            resid, levels = [], np.unique(lv["icc"])
            for icc in levels:
                g = lv["g_lrs"][lv["icc"] == icc]
                out += _mean_ln(rid, f"icc-set ln G_LRS @ {icc:.3g} A", g, ("v_c_v", "g_off_s"),
                                lambda p, icc=float(icc), v=v: math.log(_g_lrs(p, icc, v)))
                x = np.log(g[g > 0])
                resid.append(x - x.mean())
            res = np.concatenate(resid) if resid else np.empty(0)
            noise = _noise_ln(float(levels.mean()), n)
            out += _sigma_ln(rid, "icc-set sigma ln G_LRS", res, res.size - levels.size, ("cc_g_set",),
                             lambda p, n=noise: math.hypot(p["cc_g_set"], n))
            return out + _hrs_stats(rid, "icc-set", lv["g_hrs"], v, n), ""
        if proto == "nonvolatile-endurance":
            c = r.stream("cycles")
            v, icc = float(prm.get("v_read_v", 0.1)), float(prm.get("icc_a", 1e-3))
            ok = (c["fail"] == 0) & (c["seq"] > 0)           # cycle 0's first read is the pristine HRS
            return (_lrs_stats(rid, "nv-endurance", np.abs(c["i_read_after"][ok]) / abs(v), icc, v, 1)
                    + _hrs_stats(rid, "nv-endurance", np.abs(c["i_read_before"][ok]) / abs(v), v, 1)), ""
        if proto == "iv-sweep":
            return _iv_stats(r, prm, rid)
        if proto == "retention":
            return _retention_stats(r, prm, rid)
    except (KeyError, ValueError) as exc:
        raise FitError(f"{rid}: {proto} run without the expected columns ({exc})") from None
    return [], f"{proto}: not used (volatile statistics depend on the command timing; see labrc.fit)"


def _iv_stats(r: RunReader, prm: dict, rid: str) -> tuple[list[Stat], str]:
    from protocols.iv_sweep import iv_summary
    p = r.stream("points")
    up, down = [], []
    for s in np.unique(p["sweep"]):
        m = p["sweep"] == s
        out = iv_summary(p["v_set"][m], p["i_meas"][m], p["compliance"][m].astype(bool), p["sweep"][m])
        up.append(out.get("i_read_up_a", np.nan))
        down.append(out.get("i_read_down_a", np.nan))
    icc = float(prm.get("icc_a", 1e-6))
    stats = _hrs_stats(rid, "iv", np.abs(np.array(up, np.float64)) / 0.1, 0.1, 1)
    if float(prm.get("v_min_v", 0.0)) < 0 and icc >= ICC_NV_MIN_A:
        stats += _lrs_stats(rid, "iv", np.abs(np.array(down, np.float64)) / 0.1, icc, 0.1, 1)
        return stats, ""
    return stats, "iv-sweep: volatile sweep, only its HRS reads are used"


def _retention_stats(r: RunReader, prm: dict, rid: str) -> tuple[list[Stat], str]:
    x = r.stream("reads")
    t, g = x["t"], x["g"]
    ok = np.isfinite(g) & (g > 0) & (t > 0)
    if ok.sum() < 3:
        return [], "retention: fewer than 3 reads"
    u, y = np.log1p(t[ok] / T0_DRIFT_S), np.log(g[ok])
    a = np.vstack([u, np.ones_like(u)]).T
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    dof = max(u.size - 2, 1)
    s2 = float(resid @ resid) / dof
    se = math.sqrt(max(s2, 1e-12) / max(float(np.sum((u - u.mean()) ** 2)), 1e-12))
    g_p = float(math.exp(coef[1]))
    nu_obs = -float(coef[0])
    floor = NOISE_REL / math.sqrt(max(int(prm.get("n_read", 5)), 1)) / max(math.sqrt(float(np.sum((u - u.mean()) ** 2))), 1e-6)
    return [Stat(rid, "retention drift nu", nu_obs, max(se, floor), ("nu_1ms",),
                 lambda p, g_p=g_p: min(p["nu_1ms"] * math.sqrt(1e-3 / g_p), NU_MAX))], ""


@dataclass
class FitResult:
    params: dict[str, float]
    sigma: dict[str, float]
    fixed: list[str]
    stats: list[Stat]
    chi2: float
    dof: int
    per_run: dict[str, dict[str, float]]
    notes: list[str] = field(default_factory=list)
    base: str = "OGB-Ag"
    runs: list[str] = field(default_factory=list)

    def table(self) -> str:
        head = (f"fit of {len(self.runs)} run(s) to model v2 ({self.base}): chi2 = {self.chi2:.3g} for "
                f"{self.dof} degrees of freedom")
        lines = [head, f"{'parameter':<10} {'value':>11} {'± 1 sigma':>11} {'rel':>7}"]
        for k, v in self.params.items():
            s = self.sigma[k]
            rel = f"{100 * s / v:.1f}%" if v else "—"
            lines.append(f"{k:<10} {v:>11.4g} {s:>11.3g} {rel:>7}  {FIT_PARAMS[k][4]}")
        for k in self.fixed:
            lines.append(f"{k:<10} {'—':>11}  not identifiable from these runs (preset value kept)")
        lines.append(f"{'run':<10} {'stats':>5} {'chi2/n':>8} {'max |z|':>8}")
        for rid, q in self.per_run.items():
            lines.append(f"{rid:<10} {int(q['n']):>5} {q['chi2_n']:>8.3g} {q['max_abs_z']:>8.3g}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"base": self.base, "runs": self.runs, "params": self.params, "sigma": self.sigma,
                "fixed": self.fixed, "chi2": self.chi2, "dof": self.dof, "per_run": self.per_run,
                "notes": self.notes,
                "stats": [{"run": s.run, "name": s.name, "value": s.value, "se": s.se,
                           "model": s.model(self.params_all()), "z": s.z(self.params_all())} for s in self.stats]}

    def params_all(self) -> dict[str, float]:
        return {**{k: v[1] for k, v in FIT_PARAMS.items()}, **self.params}

    def preset_params(self) -> dict[str, float]:
        """The [params] of the preset file: fitted values, and no device-to-device spread of them."""
        out = dict(self.params)
        for k in self.params:
            if k in D2D_OF:
                out[D2D_OF[k]] = 0.0
        return out


def fit_runs(paths: list[Path | str]) -> FitResult:
    """Joint least-squares fit of FIT_PARAMS to the summary statistics of ``paths`` (FitError if nothing fits)."""
    from scipy.optimize import least_squares

    stats: list[Stat] = []
    notes: list[str] = []
    runs, bases = [], set()
    for p in paths:
        with RunReader(p) as r:
            s, why = run_statistics(r)
            runs.append(r.run_id)
            cfg_sim = (r.metadata.get("config") or {}).get("sim") or {}
            bases.add(((r.metadata.get("backend") or {}).get("sim") or {}).get("preset") or cfg_sim.get("preset", "OGB-Ag"))
        stats += s
        if why or not s:
            notes.append(f"{r.run_id[:8]} {why or 'no usable statistic (e.g. no +0.1 V read point)'}")
    if not stats:
        raise FitError("none of the runs carries a statistic this fit uses (icc-set, nonvolatile-endurance, "
                       "a non-volatile iv-sweep, retention); " + "; ".join(notes))
    active = [k for k in FIT_PARAMS if any(k in s.needs for s in stats)]
    # a parameter that only enters through another's statistic (g_off in the LRS level) is held by it too,
    # but it is fitted only when a statistic is mostly about it: an HRS read for g_off
    if not any(s.needs == ("g_off_s",) for s in stats) and "g_off_s" in active:
        active.remove("g_off_s")
    fixed = [k for k in FIT_PARAMS if k not in active]
    logk = [FIT_PARAMS[k][0] for k in active]

    def unpack(x: np.ndarray) -> dict[str, float]:
        p = {k: v[1] for k, v in FIT_PARAMS.items()}
        p.update({k: (math.exp(v) if lg else float(v)) for k, v, lg in zip(active, x, logk)})
        return p

    def resid(x: np.ndarray) -> np.ndarray:
        p = unpack(x)
        return np.array([s.z(p) for s in stats], dtype=np.float64)

    x0 = np.array([math.log(FIT_PARAMS[k][1]) if lg else FIT_PARAMS[k][1] for k, lg in zip(active, logk)])
    lo = np.array([math.log(FIT_PARAMS[k][2]) if lg else FIT_PARAMS[k][2] for k, lg in zip(active, logk)])
    hi = np.array([math.log(FIT_PARAMS[k][3]) if lg else FIT_PARAMS[k][3] for k, lg in zip(active, logk)])
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
    res = least_squares(resid, x0, bounds=(lo, hi), x_scale="jac", method="trf")
    z = res.fun
    chi2, dof = float(z @ z), max(len(stats) - len(active), 1)
    jac = res.jac
    try:
        cov = np.linalg.inv(jac.T @ jac) * max(1.0, chi2 / dof)
    except np.linalg.LinAlgError:
        cov = np.full((len(active), len(active)), np.nan)
    p = unpack(res.x)
    params = {k: p[k] for k in active}
    sigma = {}
    for i, (k, lg) in enumerate(zip(active, logk)):
        sd = math.sqrt(cov[i, i]) if np.isfinite(cov[i, i]) and cov[i, i] >= 0 else float("nan")
        sigma[k] = params[k] * sd if lg else sd
    per_run: dict[str, dict[str, float]] = {}
    for rid in dict.fromkeys(s.run for s in stats):
        zz = np.array([s.z(p) for s in stats if s.run == rid])
        per_run[rid] = {"n": float(zz.size), "chi2_n": float(zz @ zz / zz.size), "max_abs_z": float(np.abs(zz).max())}
    if len(bases) > 1:
        notes.append(f"runs of several presets {sorted(bases)}: the first is the base of the fitted preset")
    return FitResult(params, sigma, fixed, stats, chi2, dof, per_run, notes, min(bases), runs)


def write_preset(result: FitResult, out: Path | str) -> Path:
    """The preset file ``[sim] preset_file`` loads: [preset] base, [params], and the fit's report."""
    out = Path(out)
    lines = ["# device preset fitted by `labrc sim fit` (labrc.fit) to the runs below; load it with",
             f'# [sim] preset_file = "{out.name}" in labrc.toml, or labrc replay RUN --preset-file {out.name}',
             "[preset]", f'base = "{result.base}"', "", "[params]   # sim_backend.model.params.Preset fields"]
    lines += [f"{k} = {v!r}" for k, v in result.preset_params().items()]
    lines += ["", "[uncertainty]   # 1 sigma, from the Jacobian at the optimum"]
    lines += [f"{k} = {v!r}" for k, v in result.sigma.items() if math.isfinite(v)]
    lines += ["", "[fit]", f"chi2 = {result.chi2!r}", f"dof = {result.dof}",
              "runs = [" + ", ".join(f'"{r}"' for r in result.runs) + "]"]
    lines += [f'fixed = [{", ".join(chr(34) + k + chr(34) for k in result.fixed)}]']
    out.write_text("\n".join(lines) + "\n")
    return out


def check_replays(paths: list[Path | str], result: FitResult, data_dir: Path, echo=lambda m: None
                  ) -> list[dict]:
    """Replay every fitted run on the fitted device (same seed and device) and compare its statistics
    with the original's: z = (replay − original) / (√2·se). Returns one row per statistic."""
    from .config import Config
    from .replay import replay_run
    cur = Config.model_validate({"data": {"dir": str(data_dir)}})
    rows = []
    for p in paths:
        out = replay_run(p, cur, params=(result.base, result.preset_params()), echo=echo)
        with RunReader(p) as a, RunReader(out.path) as b:
            sa, _ = run_statistics(a)
            sb, _ = run_statistics(b)
        by = {s.name: s for s in sb}
        for s in sa:
            if s.name in by:
                rows.append({"run": s.run, "replay": by[s.name].run, "name": s.name, "original": s.value,
                             "replayed": by[s.name].value, "z": (by[s.name].value - s.value) / (math.sqrt(2) * s.se),
                             "status": out.status})
    return rows

