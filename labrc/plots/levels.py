"""Programmed levels: the Icc → G ladder (paper Fig. 3 / 4c), retention and reconfiguration."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .common import marker_size, new_figure, num, params, set_title, si, si_scale

CMAP = "viridis"


# ================================================================== icc-set
def plot_icc(reader) -> Figure:
    """Icc → G: every programmed level with mean ± σ and the fitted line; σ(Icc); the distribution of the
    programmed conductances per Icc beside the HRS after each RESET (paper Fig. 4c)."""
    from protocols.icc_set import icc_fit
    lv = reader.stream("levels")
    prm = params(reader)
    fit = icc_fit(lv)
    fig = new_figure(14, 4.6)
    ax_g, ax_s, ax_h = fig.subplots(1, 3, width_ratios=[1.15, 1, 1.15])
    fi, iu = si_scale(lv["icc"], "A")
    fg, gu = si_scale(lv["g_lrs"], "S")
    read = f"{si(prm.get('v_read_v'), 'V')} read after {si(prm.get('rest_s'), 's')} at 0 V"
    _g_panel(ax_g, lv, fit, fi, iu, fg, gu, read)
    _sigma_panel(ax_s, fit, fi, iu, fg, gu)
    _distribution_panel(fig, ax_h, lv, fi, iu, fg, gu, read)
    n_rep = int(lv["repeat"].max() + 1) if lv["repeat"].size else 0
    set_title(fig, reader, "Icc-programmed SET ladder: "
              f"{si(prm.get('icc_min_a'), 'A')} … {si(prm.get('icc_max_a'), 'A')}"
              f" in {prm.get('n_levels', '?')} levels × {n_rep} repeats, SET to {si(prm.get('v_set_v'), 'V')}, "
              f"RESET to {si(prm.get('v_reset_v'), 'V')} (Icc {si(prm.get('icc_reset_a'), 'A')})")
    return fig


def _g_panel(ax: Axes, lv: dict, fit: dict, fi: float, iu: str, fg: float, gu: str, read: str) -> None:
    ax.plot(lv["icc"] * fi, lv["g_lrs"] * fg, "o", ms=marker_size(lv["icc"].size), alpha=0.35, color="tab:blue",
            mew=0, label=f"programmed levels ({lv['icc'].size})")
    if "slope_s_per_a" in fit:
        u = np.asarray(fit["icc_levels_a"])
        sd = np.nan_to_num(np.asarray(fit["g_std_s"], float))
        ax.errorbar(u * fi, np.asarray(fit["g_mean_s"]) * fg, yerr=sd * fg,
                    fmt="s", ms=4, capsize=3, color="k", label="mean ± σ")
        x = np.linspace(0, u.max(), 50)
        ax.plot(x * fi, (fit["slope_s_per_a"] * x + fit["intercept_s"]) * fg, "r-", lw=1.2,
                label=f"G = {fit['slope_s_per_a']:.3g} S/A · Icc {'+' if fit['intercept_s'] >= 0 else '−'} "
                      f"{si(abs(fit['intercept_s']), 'S')}\nR² = {fit['r2']:.4f}")
    ax.set(xlabel=f"programming Icc ({iu})", ylabel=f"G_LRS at the {read} ({gu})", xlim=(0, None), ylim=(0, None))
    ax.legend(fontsize=7.5, loc="upper left")


def _sigma_panel(ax: Axes, fit: dict, fi: float, iu: str, fg: float, gu: str) -> None:
    """σ of G per Icc and its straight line, the spread the reservoir readout samples (labrc.reservoir)."""
    ax.set(xlabel=f"programming Icc ({iu})", title="σ(Icc): spread of the programmed G")
    sd = np.asarray(fit.get("g_std_s", []), float)
    u = np.asarray(fit.get("icc_levels_a", []), float)
    ok = np.isfinite(sd)
    if ok.sum() < 1:
        ax.text(0.5, 0.5, "σ needs each level programmed ≥ 2 times\n(repeats ≥ 2)", ha="center", va="center",
                transform=ax.transAxes, fontsize=9)
        ax.set_ylabel(f"σ(G) ({gu})")
        return
    fs, su = si_scale(sd[ok], "S")
    ax.plot(u[ok] * fi, sd[ok] * fs, "o", color="k", label="σ of G per level")
    if ok.sum() >= 2:
        c, d = np.polyfit(u[ok], sd[ok], 1)
        x = np.linspace(0, u.max(), 50)
        ax.plot(x * fi, (c * x + d) * fs, "r-", lw=1.1,
                label=f"σ = {c:.3g} S/A · Icc {'+' if d >= 0 else '−'} {si(abs(d), 'S')}")
    mean = np.asarray(fit["g_mean_s"], float)[ok]
    rel = 100 * sd[ok] / mean
    ax.plot([], [], " ", label=f"σ / mean {rel.min():.2g} … {rel.max():.2g} %")
    ax.set(ylabel=f"σ(G) ({su})", xlim=(0, None), ylim=(0, None))
    ax.legend(fontsize=7.5, loc="best")


def _distribution_panel(fig: Figure, ax: Axes, lv: dict, fi: float, iu: str, fg: float, gu: str, read: str) -> None:
    """Histograms of G_LRS per Icc (coloured by Icc, colour bar), paper Fig. 4c; the HRS in numbers (it is
    4–5 decades lower and would flatten a shared axis)."""
    import matplotlib as mpl
    g = lv["g_lrs"][np.isfinite(lv["g_lrs"])]
    if not g.size:
        return
    bins = np.linspace(0, g.max() * 1.05, 70) * fg
    levels = np.unique(lv["icc"])
    norm = mpl.colors.Normalize(levels.min() * fi, levels.max() * fi)
    cmap = mpl.colormaps[CMAP]
    for x in levels:
        ax.hist(lv["g_lrs"][lv["icc"] == x] * fg, bins=bins, color=cmap(norm(x * fi)), alpha=0.85,
                histtype="stepfilled", lw=0)
    ax.set(xlabel=f"G_LRS at the {read} ({gu})", ylabel="count", title="programmed conductances", xlim=(0, None))
    ax.yaxis.get_major_locator().set_params(integer=True)
    hrs = lv["g_hrs"][np.isfinite(lv["g_hrs"])]
    if hrs.size:
        ratio = lv["g_lrs"] / np.where(lv["g_hrs"] > 0, lv["g_hrs"], np.nan)
        ax.text(0.02, 0.97, f"HRS after each RESET: median {si(float(np.median(hrs)), 'S')} "
                f"({si(float(hrs.min()), 'S')} … {si(float(hrs.max()), 'S')}, {hrs.size} reads)\n"
                f"ON/OFF = G_LRS / G_HRS: median {num(np.nanmedian(ratio))}", transform=ax.transAxes, va="top",
                fontsize=7.5, bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.7", "alpha": 0.9})
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=f"programming Icc ({iu})", pad=0.01)


# ================================================================== retention
def plot_retention(reader) -> Figure:
    """Conductance of the programmed state versus time after programming, on a log time axis.

    The read at t = 0 (right after programming) cannot sit on a log axis; it gets its own narrow
    linear panel left of a break, so it is shown where it was measured, never moved to a made-up time.
    The retention protocol programs and reads one state: an HRS is not measured, and the figure says so."""
    r = reader.stream("reads")
    prm = params(reader)
    t, g = r["t"], r["g"]
    fg, gu = si_scale(g, "S")
    fig = new_figure(7.5, 4.4)
    ax0, ax = fig.subplots(1, 2, sharey=True, width_ratios=[1, 9], gridspec_kw={"wspace": 0.02})
    at0, later = t <= 0, t > 0
    ms = marker_size(t.size)
    ax0.plot(np.zeros(int(at0.sum())), g[at0] * fg, "o", color="tab:blue", ms=ms)
    ax0.set_xlim(-1, 1)
    ax0.set_xticks([0], ["0"])
    ax.plot(t[later], g[later] * fg, "o-", color="tab:blue", ms=ms, lw=1,
            label=f"LRS programmed at Icc {si(prm.get('icc_a'), 'A')}")
    ax.set_xscale("log")
    _axis_break(ax0, ax)
    read = f"{si(prm.get('v_read_v'), 'V')} read"
    ax0.set_ylabel(f"G at the {read} ({gu})")
    ax.set_xlabel("time after programming (s)")
    ax0.set_ylim(0, max(float(np.nanmax(g)) * fg * 1.15, 1e-12) if g.size else None)
    if g.size >= 2 and g[0] > 0:
        ax.text(0.98, 0.04, f"G({si(t[-1], 's')}) / G(0) = {g[-1] / g[0]:.3f}", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8, bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.7"})
    ax.text(0.02, 0.04, "HRS not measured: this protocol programs and reads one state,\nso no ON/OFF "
            "over time is available from this run", transform=ax.transAxes, fontsize=7, color="0.35", va="bottom")
    ax.legend(fontsize=8, loc="upper right")
    set_title(fig, reader, f"retention: SET to {si(prm.get('v_set_v'), 'V')} at Icc {si(prm.get('icc_a'), 'A')}, "
              f"{t.size} reads at {si(prm.get('v_read_v'), 'V')} up to {si(t.max() if t.size else None, 's')}")
    return fig


def _axis_break(left: Axes, right: Axes) -> None:
    """The two diagonal strokes of a broken x axis between ``left`` and ``right``."""
    left.spines["right"].set_visible(False)
    right.spines["left"].set_visible(False)
    right.tick_params(axis="y", which="both", left=False)
    kw = {"marker": [(-1, -1.5), (1, 1.5)], "markersize": 9, "linestyle": "none", "color": "k", "mec": "k",
          "mew": 1, "clip_on": False}
    left.plot([1, 1], [0, 1], transform=left.transAxes, **kw)
    right.plot([0, 0], [0, 1], transform=right.transAxes, **kw)


# ================================================================== reconfigure
def plot_reconfigure(reader) -> Figure:
    """Read conductance of every step, by phase: volatile → non-volatile levels (and their RESET) →
    volatile again, with the threshold below which a read counts as relaxed (volatile)."""
    from protocols.reconfigure import Reconfigure
    s = reader.stream("steps")
    prm = params(reader)
    step = s["seq"] + 1
    fig = new_figure(8, 4.4)
    ax = fig.subplots()
    vol_icc = si(prm.get("icc_volatile_a"), "A")
    phases = ((0, f"volatile, Icc {vol_icc}, sweep to {si(prm.get('v_volatile_v'), 'V')}", "tab:blue"),
              (1, f"non-volatile SET, Icc {si(prm.get('nv_icc_min_a'), 'A')} … {si(prm.get('nv_icc_max_a'), 'A')}",
               "tab:red"),
              (2, f"volatile again, Icc {vol_icc}", "tab:green"))
    ms = marker_size(step.size)
    for code, name, col in phases:
        m = s["phase"] == code
        if not m.any():
            continue
        ax.axvspan(step[m].min() - 0.5, step[m].max() + 0.5, color=col, alpha=0.07, lw=0)
        ax.plot(step[m], _pos(s["g_read"][m]), "o", color=col, ms=ms, label=name)
        if code == 1:
            ax.plot(step[m], _pos(s["g_after_reset"][m]), "s", mfc="none", mec=col, ms=ms,
                    label=f"after RESET to {si(prm.get('v_reset_v'), 'V')} (Icc {si(prm.get('icc_reset_a'), 'A')})")
    thr = prm.get("g_volatile_max_s")
    if thr:
        ax.axhline(thr, color="0.4", ls=":", lw=1, label=f"relaxed (volatile) below {si(thr, 'S')}")
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel=f"G at the {si(prm.get('v_read_v'), 'V')} read after {si(prm.get('rest_s'), 's')} "
           "at 0 V (S)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    back = Reconfigure.summary(reader).get("returned_to_volatile")
    ax.text(0.99, 0.5, "returned to volatile" if back else "did NOT return to volatile", transform=ax.transAxes,
            ha="right", fontsize=8, color="tab:green" if back else "tab:red",
            bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.7"})
    ax.legend(fontsize=7.5, loc="upper left")
    set_title(fig, reader, "reconfiguration: volatile → non-volatile → volatile")
    return fig


def _pos(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.nan)
