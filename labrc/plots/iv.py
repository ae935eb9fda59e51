"""I–V sweeps (paper Fig. 3a/b top): linear and log |I| panels, both compliances, sweep direction."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from .common import new_figure, num, params, set_title, si, si_scale

MAX_LEGEND_SWEEPS = 5     # more sweeps than this: colour by sweep number with a colour bar
MAX_DRAWN_SWEEPS = 400    # more than this: every k-th sweep is drawn (said in the colour bar label)
CMAP = "viridis"


def plot_iv(reader) -> Figure:
    """I–V curve of every sweep: linear current (unit chosen for the panel) and log |I|.

    The SET compliance (positive branch) and the RESET compliance (negative branch, if the sweep has
    one) are drawn from the compliance recorded with every point; points the SMU held in compliance are
    marked; arrows give the sweep direction; sweeps are coloured by number (a colour bar beyond
    ``MAX_LEGEND_SWEEPS``)."""
    pts = reader.stream("points")
    prm = params(reader)
    v, i, sweep = pts["v_set"], pts["i_meas"], pts["sweep"]
    comp = pts["compliance"].astype(bool)
    icc_set, icc_reset = _compliances(pts, prm)
    sweeps = np.unique(sweep)
    fig = new_figure(11, 4.6)
    ax_lin, ax_log = fig.subplots(1, 2)
    f, unit = si_scale(i, "A")
    drawn = sweeps[:: max(1, -(-sweeps.size // MAX_DRAWN_SWEEPS))]
    floor = _log_floor(i)
    if sweeps.size <= MAX_LEGEND_SWEEPS:
        for k, s in enumerate(drawn):
            m = sweep == s
            ax_lin.plot(v[m], i[m] * f, lw=1.2, color=f"C{k}", label=f"sweep {s + 1}")
            ax_log.semilogy(v[m], np.maximum(np.abs(i[m]), floor), lw=1.2, color=f"C{k}")
    else:
        _sweep_collection(fig, ax_lin, ax_log, v, i, sweep, drawn, sweeps.size, f, floor)
    if comp.any():
        few = comp.sum() <= 60
        mk = {"marker": "o", "ls": "none", "mfc": "none", "mec": "tab:red", "ms": 4, "mew": 0.8} if few else \
            {"marker": ".", "ls": "none", "color": "tab:red", "ms": 2.5, "alpha": 0.6}
        ax_lin.plot(v[comp], i[comp] * f, label=f"in compliance ({int(comp.sum())} points)", **mk)
        ax_log.semilogy(v[comp], np.maximum(np.abs(i[comp]), floor), **mk)
    first = sweep == sweeps[0]
    _direction_arrows(ax_lin, v[first], i[first] * f)
    _direction_arrows(ax_log, v[first], np.maximum(np.abs(i[first]), floor), log=True)
    _compliance_lines(ax_lin, ax_log, icc_set, icc_reset, f, unit, i)
    ax_lin.set(xlabel="V (V)", ylabel=f"I ({unit})", title="linear")
    ax_log.set(xlabel="V (V)", ylabel="|I| (A)")
    ax_log.set_title(_summary(v, i, comp, sweep) or "log |I|", fontsize=9)
    ax_lin.axhline(0, color="0.8", lw=0.6, zorder=0)
    ax_lin.legend(fontsize=8, loc="best")
    ax_log.legend(fontsize=8, loc="lower right")
    lo, hi = ax_log.get_ylim()
    top = max(icc_set or 0.0, icc_reset or 0.0)
    ax_log.set_ylim(lo, max(hi, 2.5 * top))       # a compliance line at the panel's edge would be invisible
    set_title(fig, reader, _what(prm, icc_set, icc_reset, sweeps.size))
    return fig


def _compliances(pts: dict, prm: dict) -> tuple[float | None, float | None]:
    """(SET, RESET) compliance: the values recorded with the points of the positive / negative branch."""
    v, icc = pts["v_set"], pts.get("icc")
    set_a = reset_a = None
    if icc is not None and icc.size:
        if np.any(v > 0):
            set_a = float(np.median(icc[v > 0]))
        if np.any(v < 0):
            reset_a = float(np.median(icc[v < 0]))
    if set_a is None and prm.get("v_max_v", 0) > 0:
        set_a = prm.get("icc_a")
    if reset_a is None and prm.get("v_min_v", 0) < 0:
        reset_a = prm.get("icc_reset_a")
    return set_a, reset_a


def _log_floor(i: np.ndarray) -> float:
    a = np.abs(i[np.isfinite(i)])
    a = a[a > 0]
    return float(a.min() / 2) if a.size else 1e-15


def _sweep_collection(fig: Figure, ax_lin: Axes, ax_log: Axes, v, i, sweep, drawn, n_sweeps: int,
                      f: float, floor: float) -> None:
    """Many sweeps: one LineCollection per panel coloured by sweep number, and its colour bar."""
    lin, log = [], []
    for s in drawn:
        m = sweep == s
        lin.append(np.column_stack([v[m], i[m] * f]))
        log.append(np.column_stack([v[m], np.maximum(np.abs(i[m]), floor)]))
    for ax, segs in ((ax_lin, lin), (ax_log, log)):
        lc = LineCollection(segs, cmap=CMAP, lw=0.9, alpha=0.85)
        lc.set_array(np.asarray(drawn, dtype=np.float64) + 1)
        lc.set_clim(1, n_sweeps)
        if ax is ax_log:
            ax.set_yscale("log")
        ax.add_collection(lc)
        ax.autoscale_view()
    every = "" if len(drawn) == n_sweeps else f" (every {n_sweeps // len(drawn)}th drawn)"
    fig.colorbar(lc, ax=[ax_lin, ax_log], label=f"sweep (1 … {n_sweeps}){every}", pad=0.01, aspect=30)


def _direction_arrows(ax: Axes, v: np.ndarray, y: np.ndarray, log: bool = False) -> None:
    """One arrow on every monotonic branch of one sweep (0 → +V, +V → 0, 0 → −V, −V → 0), placed where
    that branch is farthest from the others at the same voltage, so up and down never share an arrow."""
    dv = np.sign(np.diff(v))
    if not dv.size:
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        yy = np.log10(np.where(y > 0, y, np.nan)) if log else y.astype(np.float64)
    span = np.nanmax(yy) - np.nanmin(yy) if np.isfinite(yy).any() else 1.0
    side = np.sign(v[:-1] + v[1:])                 # branches end at an apex or at 0 V (5 → 0 → −7 is two)
    breaks = np.flatnonzero((dv[1:] != dv[:-1]) | (side[1:] != side[:-1])) + 1
    segs = [seg for seg in np.split(np.arange(dv.size), breaks) if seg.size >= 4 and dv[seg[0]] != 0]
    for seg in segs:
        pts = np.r_[seg, seg[-1] + 1]
        cand = pts[max(1, pts.size // 12): -max(1, pts.size // 12) - 1]
        if not cand.size:
            continue
        gap = np.full(cand.size, np.inf)
        for other in segs:
            if other is seg:
                continue
            o = np.r_[other, other[-1] + 1]
            ov, oy = v[o], yy[o]
            order = np.argsort(ov)
            inside = (v[cand] >= ov.min()) & (v[cand] <= ov.max())
            d = np.abs(yy[cand] - np.interp(v[cand], ov[order], oy[order]))
            gap = np.where(inside, np.fmin(gap, d), gap)
        gap = np.where(np.isfinite(yy[cand]) & np.isfinite(yy[cand + 1]), gap, -1.0)
        if gap.max() < 0:
            continue
        if gap.max() >= 0.03 * span:                  # the branch has a region of its own: the arrow goes there
            gap = np.minimum(gap, 0.25 * span)        # beyond a quarter of the panel: prefer the middle of it
            best = np.flatnonzero(gap >= gap.max() - 1e-12)
            k = int(cand[best[best.size // 2]])
        else:                                         # it retraces another branch: a third of the way along
            k = int(pts[pts.size // 3])
        a, b = max(int(pts[0]), k - 2), min(int(pts[-1]), k + 2)   # direction over ±2 points: noise-proof
        if log and not (y[a] > 0 and y[b] > 0):
            a, b = k, k + 1
        ax.annotate("", xy=(v[b], y[b]), xytext=(v[a], y[a]),     # head only (lw 0): no chord over the data
                    arrowprops={"arrowstyle": "-|>", "color": "k", "lw": 0, "mutation_scale": 16,
                                "shrinkA": 0, "shrinkB": 0})


def _compliance_lines(ax_lin: Axes, ax_log: Axes, icc_set, icc_reset, f: float, unit: str, i) -> None:
    """SET compliance at +Icc (positive branch), RESET compliance at −Icc_reset (negative branch).

    On the linear panel a compliance far beyond the measured current would squash the curves; it is
    then named at the panel's edge instead of drawn (the log panel always draws both)."""
    i_max = float(np.nanmax(np.abs(i))) if i.size else 0.0
    for icc, sign, name, style in ((icc_set, 1, "SET", "--"), (icc_reset, -1, "RESET", ":")):
        if not icc:
            continue
        label = f"{name} compliance {si(icc, 'A')}"
        ax_log.axhline(icc, color="tab:red" if sign > 0 else "tab:purple", ls=style, lw=1.1, label=label)
        if icc <= 2.0 * max(i_max, 1e-30):
            ax_lin.axhline(sign * icc * f, color="tab:red" if sign > 0 else "tab:purple", ls=style, lw=1.1,
                           label=label)
        else:
            ax_lin.annotate(f"{label} (off scale)", xy=(0.99, 0.02 if sign < 0 else 0.98),
                            xycoords="axes fraction", ha="right", va="bottom" if sign < 0 else "top", fontsize=7.5,
                            color="tab:purple" if sign < 0 else "tab:red")


def _summary(v, i, comp, sweep) -> str:
    """SET/RESET voltages and the 0.1 V read ratio of the first sweep (protocols.iv_sweep.iv_summary)."""
    from protocols.iv_sweep import iv_summary
    s = iv_summary(v, i, comp, sweep)
    parts = []
    if "set_v" in s:
        parts.append(f"V_SET {si(s['set_v'], 'V')}")
    if "reset_v" in s:
        parts.append(f"V_RESET {si(s['reset_v'], 'V')}")
    if "on_off_0p1v" in s and np.isfinite(s["on_off_0p1v"]):
        parts.append(f"I(0.1 V) down/up {num(s['on_off_0p1v'])}")
    return ("sweep 1: " + ", ".join(parts)) if parts else ""


def _what(prm: dict, icc_set, icc_reset, n: int) -> str:
    vmax, vmin = prm.get("v_max_v", 0.0), prm.get("v_min_v", 0.0)
    path = ("0 → " + (f"+{vmax:g} → 0" if vmax > 0 else "") + (f" → −{abs(vmin):g} → 0" if vmin < 0 else "")
            + " V")
    icc = f"Icc {si(icc_set, 'A')}" if icc_set else ""
    if icc_reset:
        icc = f"Icc {si(icc_set, 'A')} (SET) / {si(icc_reset, 'A')} (RESET)" if icc_set else f"Icc {si(icc_reset, 'A')}"
    return f"I–V sweep {path}, {icc}, {n} sweep{'s' if n != 1 else ''}"
