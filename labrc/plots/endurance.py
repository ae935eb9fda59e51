"""Endurance in both modes (paper Fig. 3a/b bottom): ON and OFF currents and ON/OFF versus cycle.

What ON and OFF are differs by mode (protocols.endurance): volatile — ON is the current during the
write (the state is lost at 0 V, so ON cannot be read), OFF the read at ``v_read_v``; non-volatile —
both are reads at ``v_read_v``, after the SET and after the erase. The axes say which, with the voltages
taken from the run's parameters.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .common import (
    log_spaced_index,
    marker_size,
    new_figure,
    num,
    params,
    set_title,
    si,
)

LOG_X_FROM = 200          # cycles: a log cycle axis from here on (paper style), a linear one below


def plot_endurance(reader) -> Figure:
    """ON/OFF currents and ratio per cycle; the failure threshold, failing cycles and the device failure."""
    c = reader.stream("cycles")
    prm = params(reader)
    nv = reader.metadata.get("protocol") == "nonvolatile-endurance"
    cyc = c["seq"] + 1                                  # 1-based cycle number (cycle 1 = seq 0)
    sel = log_spaced_index(cyc.size) if cyc.size and cyc[-1] > LOG_X_FROM else np.arange(cyc.size)
    on = np.abs(c["i_read_after"] if nv else c["i_write"])
    off = np.abs(c["i_read_before"])
    lab = _labels(prm, nv)
    fig = new_figure(7.5, 6.6)
    ax_i, ax_r = fig.subplots(2, 1, sharex=True)
    ms = marker_size(sel.size)
    style = {"ls": "-" if sel.size <= 300 else "none", "lw": 0.7, "marker": "o", "ms": ms, "mew": 0}
    ax_i.plot(cyc[sel], _pos(on[sel]), color="tab:red", label=lab["on"], **style)
    ax_i.plot(cyc[sel], _pos(off[sel]), color="tab:blue", label=lab["off"], **style)
    if not nv and prm.get("icc_a"):
        ax_i.axhline(prm["icc_a"], color="tab:red", ls="--", lw=0.9, label=f"compliance {si(prm['icc_a'], 'A')}")
    ax_i.set_yscale("log")
    ax_i.set_ylabel(lab["i_axis"], fontsize=9)
    ax_r.plot(cyc[sel], _pos(c["on_off"][sel]), color="k", **style)
    _threshold(ax_r, c, prm, cyc, sel)
    bad = np.flatnonzero(c["fail"] != 0)
    if bad.size:
        ax_r.plot(cyc[bad], _pos(c["on_off"][bad]), "x", color="tab:red", ms=max(ms, 4), mew=1.2,
                  label=f"failing cycles ({bad.size})")
    _failure(ax_i, ax_r, reader.failure)
    ax_r.set_yscale("log")
    ax_r.set_ylabel(lab["ratio_axis"], fontsize=9)
    ax_r.set_xlabel("cycle")
    if cyc.size and cyc[-1] > LOG_X_FROM:
        ax_r.set_xscale("log")
    else:
        ax_r.xaxis.get_major_locator().set_params(integer=True)
    _stats(ax_r, c["on_off"])
    _plain_log_labels(ax_r)
    _plain_log_labels(ax_i)
    ax_i.legend(fontsize=7.5, loc="best")
    ax_r.legend(fontsize=7.5, loc="best")
    set_title(fig, reader, lab["what"] + f", {cyc.size} cycle{'s' if cyc.size != 1 else ''}")
    return fig


def _pos(x: np.ndarray) -> np.ndarray:
    """Log axes: a non-positive or NaN value is left out (NaN), never moved to an invented floor."""
    return np.where(x > 0, x, np.nan)


def _labels(prm: dict, nv: bool) -> dict[str, str]:
    vr, vw = si(prm.get("v_read_v"), "V"), si(prm.get("v_write_v"), "V")
    icc, width = si(prm.get("icc_a"), "A"), si(prm.get("width_s"), "s")
    if nv:
        ve, icc_e = si(prm.get("v_erase_v"), "V"), si(prm.get("icc_reset_a"), "A")
        return {"on": f"ON: {vr} read after the {vw} SET (Icc {icc})",
                "off": f"OFF: {vr} read after the {ve} erase (Icc {icc_e})",
                "i_axis": f"|I| (A)\nboth read at {vr}",
                "ratio_axis": f"ON/OFF (both at {vr})",
                "what": f"non-volatile endurance: SET {vw} / erase {ve}, {width} each, reads at {vr}"}
    rest = si(prm.get("rest_s"), "s")
    return {"on": f"ON: I during the {vw} write (Icc {icc})",
            "off": f"OFF: {vr} read ({rest} at 0 V after the write)",
            "i_axis": f"|I| (A)\nON: {vw} write, OFF: {vr} read",
            "ratio_axis": f"ON/OFF = I({vw}) / I({vr})",
            "what": f"volatile endurance: read {vr} / write {vw} {width} at Icc {icc}"}


def _threshold(ax: Axes, c: dict, prm: dict, cyc: np.ndarray, sel: np.ndarray) -> None:
    """The ON/OFF below which a cycle fails (protocols.endurance._Endurance.collapsed, per row)."""
    floor = float(prm.get("on_off_min") or 0.0)
    frac = float(prm.get("collapse_frac") or 0.0)
    ref_n = int(prm.get("ref_cycles") or 0)
    if "on_off_ref" in c and frac > 0:
        thr = np.maximum(np.where(c["seq"] >= ref_n, frac * c["on_off_ref"], 0.0), floor)
        label = f"fails below max({frac:g} × early-life ON/OFF, {floor:g})"
    else:
        thr = np.full(cyc.size, floor)
        label = f"fails below {floor:g}"
    if floor > 0 or frac > 0:
        ax.plot(cyc[sel], _pos(thr[sel]), color="tab:red", ls=":", lw=1.1, label=label)


def _failure(ax_i: Axes, ax_r: Axes, failure: dict | None) -> None:
    """The device failure: a line at its first failing cycle (and the detection cycle) on both panels."""
    if not failure or failure.get("cycle") is None:
        return
    first = int(failure["cycle"]) + 1        # the record counts from 0 (cycle index), the axis from 1
    label = f"device failure ({failure.get('mode', '?')}) from cycle {first} (index {first - 1})"
    for ax in (ax_i, ax_r):
        ax.axvline(first, color="tab:red", lw=1.4, alpha=0.8, label=label if ax is ax_i else None)
    at = failure.get("detected_at")
    if at is not None and int(at) + 1 != first:
        ax_r.axvline(int(at) + 1, color="tab:red", lw=0.8, ls="--", alpha=0.7,
                     label=f"detected at cycle {int(at) + 1} ({failure.get('fail_cycles', '?')} consecutive)")


def _stats(ax: Axes, on_off: np.ndarray) -> None:
    x = on_off[np.isfinite(on_off)]
    if x.size:
        ax.set_title(f"ON/OFF median {num(np.median(x))}, p10 {num(np.percentile(x, 10))}, "
                     f"p90 {num(np.percentile(x, 90))}", fontsize=8, loc="right")


def _plain_log_labels(ax: Axes) -> None:
    """A log axis spanning less than two decades: plain numbers (3, 5, 10) instead of 3 × 10⁰."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    lo, hi = ax.get_ylim()
    if lo > 0 and hi / lo < 100 and hi >= 1:
        fmt = FuncFormatter(lambda y, _: f"{y:g}")
        ax.yaxis.set_major_formatter(fmt)
        ax.yaxis.set_minor_formatter(fmt if hi / lo < 10 else NullFormatter())
