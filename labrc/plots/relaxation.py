"""Volatile relaxation (paper: the diffusive state decays in 5–20 ms): G(t) after the spike, τ across the die."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .common import new_figure, params, plural, set_title, si, si_scale

CMAP = "viridis"


def plot_relaxation(reader) -> Figure:
    """Left: every device's conductance at the 0.1 V reads after the spike, normalised to its first read
    (1/e marked). Right: the 1/e times and the fraction left at ``t_memory_s``, device by device."""
    tr, dec, prm = reader.stream("trace"), reader.stream("decays"), params(reader)
    v_read = float(prm.get("v_read_v", 0.1))
    fig = new_figure(11, 4.4)
    ax_g, ax_t = fig.subplots(1, 2, width_ratios=[1.4, 1])
    devices = np.unique(tr["device"]) if tr["device"].size else np.empty(0, np.int32)
    colours = matplotlib.colormaps[CMAP](np.linspace(0, 0.9, max(devices.size, 1)))
    ft, tu = si_scale(np.array([float(prm.get("decay_s", 0.08))]), "s")
    for c, d in zip(colours, devices):
        m = (tr["device"] == d) & (tr["t_spike"] > 0) & (np.abs(tr["v_set"] - v_read) < 1e-9)
        g = np.abs(tr["i_meas"][m]) / abs(v_read)
        if g.size and g[0] > 0:
            ax_g.plot(tr["t_spike"][m] * ft, g / g[0], color=c, lw=1.0, alpha=0.8)
    ax_g.axhline(np.exp(-1), color="k", ls=":", lw=1, label="1/e")
    t_mem = prm.get("t_memory_s")
    if t_mem is not None:
        ax_g.axvline(float(t_mem) * ft, color="tab:red", ls="--", lw=1, label=f"t = {si(float(t_mem), 's')}")
    ax_g.set(xlabel=f"time after the spike ({tu})", ylabel="G / G(first read after the spike)",
             yscale="log", title=f"{plural(devices.size, 'device')}: G at {si(v_read, 'V')} reads")
    ax_g.legend(fontsize=8, loc="upper right")
    ok = np.isfinite(dec["tau"])
    fd, du = si_scale(dec["tau"][ok] if ok.any() else np.array([1e-3]), "s")
    ax_t.plot(dec["device"][ok], dec["tau"][ok] * fd, "o", color="tab:blue", label="1/e time")
    if (~ok).any():
        ax_t.plot(dec["device"][~ok], np.zeros(int((~ok).sum())), "x", color="tab:red",
                  label=f"no 1/e crossing ({int((~ok).sum())})")
    ax_t.set(xlabel="device", ylabel=f"τ (1/e) ({du})", ylim=(0, None))
    ax_t.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ok.any():
        med = float(np.median(dec["tau"][ok]))
        ax_t.axhline(med * fd, color="k", lw=0.8, ls="--", label=f"median {si(med, 's')}")
    ax_t.legend(fontsize=8)
    set_title(fig, reader, f"volatile relaxation: {si(float(prm.get('v_spike_v', 1.0)), 'V')} / "
              f"{si(float(prm.get('spike_width_s', 0.02)), 's')} spike at Icc {si(float(prm.get('icc_a', 1e-6)), 'A')}, "
              f"then {si(v_read, 'V')} reads every {si(float(prm.get('dt_s', 1 / 600)), 's')}")
    return fig
