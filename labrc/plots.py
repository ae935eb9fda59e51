"""Figures in the paper's style, drawn from run files (never from live objects)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # files, not windows: runs headless at the probe station PC and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .store import RunReader  # noqa: E402


def _save(fig, out: Path) -> Path:
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)


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
    return _save(fig, out)


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
    return _save(fig, out)


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
    return _save(fig, out)


def plot_retention(reader: RunReader, out: Path) -> Path:
    """Retention: conductance versus log time after programming."""
    r = reader.stream("reads")
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    t = np.maximum(r["t"], r["t"][1] / 10 if r["t"].size > 1 else 1e-3)
    ax.semilogx(t, r["g"] * 1e3, "o-")
    ax.set(xlabel="time after programming (s)", ylabel="G at 0.1 V (mS)", ylim=(0, None),
           title=f"retention {reader.run_id[:8]} {reader.device}")
    return _save(fig, out)


def plot_reconfigure(reader: RunReader, out: Path) -> Path:
    """Reconfiguration: read conductance per step, coloured by phase (volatile / non-volatile / volatile)."""
    s = reader.stream("steps")
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    for code, name, col in ((0, "volatile (1 µA)", "C0"), (1, "non-volatile levels", "C3"), (2, "volatile again", "C2")):
        m = s["phase"] == code
        ax.semilogy(s["seq"][m], np.maximum(s["g_read"][m], 1e-12), "o", color=col, label=name)
    ax.set(xlabel="step", ylabel="G at 0.1 V after 30 ms at 0 V (S)", title=f"reconfigure {reader.run_id[:8]}")
    ax.legend(fontsize=8)
    return _save(fig, out)


def plot_spike_train(reader: RunReader, out: Path) -> Path:
    """Fig. 4b style: the current trace of the first pattern of each class, spikes shaded, nodes marked."""
    from protocols.spike_train import CLASSES
    s, prm = reader.stream("patterns"), reader.metadata["parameters"]
    dt, wid = prm["dt_s"], prm["read_width_s"]
    present = [k for k in range(len(CLASSES)) if np.any(s["cls"] == k)]
    fig, axes = plt.subplots(len(present) or 1, 1, figsize=(10, 1.9 * max(len(present), 1) + 0.6),
                             sharex=True, constrained_layout=True, squeeze=False)
    for ax, k in zip(axes[:, 0], present):
        j = int(np.flatnonzero(s["cls"] == k)[0])
        tr = s["trace"][j]
        t_ms = (np.arange(tr.size) + 1) * dt * 1e3
        ax.plot(t_ms, tr * 1e6, lw=0.8, color="tab:blue")
        for on in s["onsets"][j][~np.isnan(s["onsets"][j])]:
            ax.axvspan(on * 1e3, (on + prm["spike_width_s"]) * 1e3, color="tab:orange", alpha=0.15, lw=0)
        ax.plot((s["node_t"][j] - wid / 2) * 1e3, s["node_i"][j] * 1e6, "o", ms=3.5, color="tab:red",
                label=f"{s['node_i'].shape[1]} virtual nodes")
        ax.set_ylabel("I (µA)")
        ax.set_title(f"{CLASSES[k]}  (device {s['device'][j]}, cycle {s['cycle'][j]})", fontsize=9, loc="left")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("t (ms)")
    fig.suptitle(f"{reader.run_id}  spike-train: {prm['spike_v']:g} V / {prm['spike_width_s'] * 1e3:g} ms spikes, "
                 f"reads {prm['read_v']:g} V every {prm['read_period_s'] * 1e3:g} ms", fontsize=9)
    return _save(fig, out)


PLOTTERS = {"iv-sweep": plot_iv, "volatile-endurance": plot_endurance, "nonvolatile-endurance": plot_endurance,
            "icc-set": plot_icc, "spike-train": plot_spike_train, "retention": plot_retention,
            "reconfigure": plot_reconfigure}


def plot_run(reader: RunReader, out: Path | None = None) -> Path:
    """Draw the run's paper-style figure next to the run file (or to ``out``), chosen by its protocol."""
    name = reader.metadata.get("protocol", "")
    fn = PLOTTERS.get(name)
    if fn is None:
        raise ValueError(f"no plot for protocol {name!r}; plots exist for: {', '.join(PLOTTERS)}")
    return fn(reader, Path(out) if out else Path(reader.path).with_suffix(".png"))
