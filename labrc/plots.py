"""Figures in the paper's style, drawn from run files (never from live objects)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # files, not windows: runs headless at the probe station PC and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .store import RunReader  # noqa: E402


def plot_iv(reader: RunReader, out: Path) -> Path:
    """I–V curve: linear current and log |I| panels, compliance-clamped points marked."""
    pts = reader.stream("points")
    v, i, comp, sweep = pts["v_set"], pts["i_meas"], pts["compliance"].astype(bool), pts["sweep"]
    prm = reader.metadata.get("parameters", {})
    icc = prm.get("icc_a")
    title = f"Icc = {icc:g} A" if icc else ""
    if icc and prm.get("v_min_v", 0) < 0:
        title += f" (SET), {prm.get('icc_reset_a'):g} A (RESET)"
    fig, (ax_lin, ax_log) = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    for s in np.unique(sweep):
        m = sweep == s
        ax_lin.plot(v[m], i[m] * 1e6, lw=1, label=f"sweep {s}" if s < 5 else None)
        ax_log.semilogy(v[m], np.abs(i[m]) + 1e-15, lw=1)
    if comp.any():
        ax_log.semilogy(v[comp], np.abs(i[comp]), "r.", ms=3, label="in compliance (C)")
        ax_log.legend(loc="lower right", fontsize=8)
    if icc:
        ax_log.axhline(icc, color="grey", ls=":", lw=1)
    ax_lin.set(xlabel="V (V)", ylabel="I (µA)", title=f"{reader.run_id}  {reader.metadata.get('protocol', '')}")
    ax_log.set(xlabel="V (V)", ylabel="|I| (A)", title=title)
    if len(np.unique(sweep)) <= 5:
        ax_lin.legend(fontsize=8)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_endurance(reader: RunReader, out: Path) -> Path:
    """Endurance, paper Fig. 3 style: ON and OFF currents and ON/OFF versus cycle on log axes."""
    c = reader.stream("cycles")
    n = c["seq"] + 1
    stride = max(1, n.size // 20000)            # a readable figure for 10^7 cycles
    sl = slice(None, None, stride)
    fig, (ax_i, ax_r) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, constrained_layout=True)
    ax_i.loglog(n[sl], np.abs(c["i_write"][sl]), ".", ms=2, label="ON (write / read after SET)")
    ax_i.loglog(n[sl], np.abs(c["i_read_before"][sl]) + 1e-15, ".", ms=2, label="OFF (read, 0.1 V)")
    if reader.metadata.get("protocol") == "nonvolatile-endurance":
        ax_i.lines[0].set_ydata(np.abs(c["i_read_after"][sl]))
    ax_i.set(ylabel="|I| (A)", title=f"{reader.metadata.get('protocol')}  {reader.run_id[:8]}  {reader.device}")
    ax_i.legend(fontsize=8)
    ax_r.loglog(n[sl], c["on_off"][sl], ".", ms=2, color="k")
    thr = reader.metadata.get("parameters", {}).get("on_off_min")
    if thr:
        ax_r.axhline(thr, color="r", ls=":", lw=1)
    ax_r.set(xlabel="cycle", ylabel="ON/OFF")
    if reader.reason:
        ax_r.set_title(reader.reason, fontsize=8)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_icc(reader: RunReader, out: Path) -> Path:
    """Icc → G: every programmed level, the mean ± σ per Icc, and the fitted line (paper Fig. 3)."""
    from protocols.icc_set import icc_fit
    lv = reader.stream("levels")
    fit = icc_fit(lv)
    fig, ax = plt.subplots(figsize=(6, 4.5), constrained_layout=True)
    ax.plot(lv["icc"] * 1e3, lv["g_lrs"] * 1e3, ".", alpha=0.4, label="programmed levels")
    if "slope_s_per_a" in fit:
        u = np.asarray(fit["icc_levels_a"])
        ax.errorbar(u * 1e3, np.asarray(fit["g_mean_s"]) * 1e3, yerr=np.nan_to_num(fit["g_std_s"]) * 1e3,
                    fmt="o", capsize=3, color="k", label="mean ± σ")
        x = np.linspace(0, u.max(), 50)
        ax.plot(x * 1e3, (fit["slope_s_per_a"] * x + fit["intercept_s"]) * 1e3, "r-",
                label=f"G = {fit['slope_s_per_a']:.3g} S/A·Icc {fit['intercept_s'] * 1e3:+.3g} mS, R² = {fit['r2']:.3f}")
    ax.set(xlabel="programming Icc (mA)", ylabel="G at 0.1 V (mS)", title=f"icc-set {reader.run_id[:8]} {reader.device}")
    ax.legend(fontsize=8)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_retention(reader: RunReader, out: Path) -> Path:
    """Retention: conductance versus log time after programming."""
    r = reader.stream("reads")
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    t = np.maximum(r["t"], r["t"][1] / 10 if r["t"].size > 1 else 1e-3)
    ax.semilogx(t, r["g"] * 1e3, "o-")
    ax.set(xlabel="time after programming (s)", ylabel="G at 0.1 V (mS)", ylim=(0, None),
           title=f"retention {reader.run_id[:8]} {reader.device}")
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_reconfigure(reader: RunReader, out: Path) -> Path:
    """Reconfiguration: read conductance per step, coloured by phase (volatile / non-volatile / volatile)."""
    s = reader.stream("steps")
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    for code, name, col in ((0, "volatile (1 µA)", "C0"), (1, "non-volatile levels", "C3"), (2, "volatile again", "C2")):
        m = s["phase"] == code
        ax.semilogy(s["seq"][m], np.maximum(s["g_read"][m], 1e-12), "o", color=col, label=name)
    ax.set(xlabel="step", ylabel="G at 0.1 V after 30 ms at 0 V (S)", title=f"reconfigure {reader.run_id[:8]}")
    ax.legend(fontsize=8)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_run(reader: RunReader, out: Path | None = None) -> Path:
    """Draw the run's figure (each protocol owns its plot) next to the run file, or to ``out``."""
    from protocols import PROTOCOLS
    name = reader.metadata.get("protocol", "")
    cls = PROTOCOLS.get(name)
    if cls is None:
        raise ValueError(f"unknown protocol {name!r} in {reader.path}")
    out = Path(out) if out else Path(reader.path).with_suffix(".png")
    cls.plot(reader, out)
    return out
