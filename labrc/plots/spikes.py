"""Spike-train stimulation of the virtual reservoir (paper Fig. 4b): input, response, node heat map.

One column per firing-pattern class. Row 1, the input: the spikes of up to ``N_EXAMPLES`` patterns
(different devices in a campaign, else different cycles) and the read slots. Row 2, their current
traces, colour for colour, virtual nodes marked. Row 3, every pattern of the class: a heat map of the
node conductances (pattern × node, grouped by device, log colour scale shared by all classes), or the
node profiles when a class has fewer than ``MIN_HEATMAP`` patterns.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from .common import new_figure, params, plural, set_title, si, si_scale

N_EXAMPLES = 3
MIN_HEATMAP = 4
EXAMPLE_COLOURS = ("tab:blue", "tab:orange", "tab:green")
CMAP = "magma"


def plot_spike_train(reader) -> Figure:
    """Input, response and node conductances per class of a spike-train run (single or campaign)."""
    from protocols.spike_train import CLASSES
    s, prm = reader.stream("patterns"), params(reader)
    present = [k for k in range(len(CLASSES)) if np.any(s["cls"] == k)]
    ncol = max(len(present), 1)
    fig = new_figure(3.7 * ncol + 1.2, 8.2)
    axes = fig.subplots(3, ncol, squeeze=False, sharex="row", height_ratios=[0.8, 1.6, 1.8])
    fi, iu = si_scale(s["trace"], "A")
    g = s["node_g"][s["node_g"] > 0]
    norm = LogNorm(g.min(), g.max()) if g.size else None
    image = None
    for col, k in enumerate(present):
        idx = np.flatnonzero(s["cls"] == k)
        ex = _examples(s, idx)
        _input_row(axes[0, col], s, ex, prm)
        _trace_row(axes[1, col], s, ex, prm, fi)
        axes[0, col].set_title(CLASSES[k], fontsize=10)
        im = _node_row(axes[2, col], s, idx, norm)
        image = im or image
    axes[0, 0].set_ylabel("input\n(example)")
    axes[1, 0].set_ylabel(f"I ({iu})")
    axes[2, 0].set_ylabel("pattern (by device, cycle)" if present and _heat(s, present) else "node G (S)")
    for ax in axes[1]:
        ax.set_xlabel("t in the pattern window (ms)")
    for ax in axes[2]:
        ax.set_xlabel("virtual node")
    if image is not None:
        v = "V_meas" if prm.get("node_g_from", "set_v") == "measured_v" else "V_read"   # protocols.spike_train
        fig.colorbar(image, ax=list(axes[2]), label=f"node G = I/{v} at the {si(prm.get('read_v'), 'V')} read (S)",
                     pad=0.01, aspect=25)
    axes[1, -1].legend(fontsize=7, loc="upper right")
    devs = np.unique(s["device"])
    n_cyc = int(s["cycle"].max() + 1) if s["cycle"].size else 0
    campaign = devs.size and devs.min() >= 0       # a campaign stores the die index; a single run −1
    devices = (f"devices {_ranges(devs)} of the die" if devs.size > 1 else f"device {devs[0]} of the die") \
        if campaign else None
    set_title(fig, reader, f"spike trains: {si(prm.get('spike_v'), 'V')} / {si(prm.get('spike_width_s'), 's')} spikes, "
              f"reads {si(prm.get('read_v'), 'V')} / {si(prm.get('read_width_s'), 's')} every "
              f"{si(prm.get('read_period_s'), 's')} ({prm.get('n_nodes')} nodes), Icc {si(prm.get('icc_a'), 'A')}; "
              f"{plural(int(s['seq'].size), 'pattern')} = {plural(len(present), 'class')} × "
              f"{plural(n_cyc, 'cycle')} × {plural(max(devs.size, 1), 'device')}", devices=devices)
    return fig


def _ranges(x: np.ndarray) -> str:
    """``0–24`` for a contiguous set of device indices, else ``0, 3, 7``."""
    x = np.sort(x)
    if x.size > 2 and np.all(np.diff(x) == 1):
        return f"{x[0]}–{x[-1]}"
    return ", ".join(str(v) for v in x)


def _heat(s: dict, present: list[int]) -> bool:
    return all(np.sum(s["cls"] == k) >= MIN_HEATMAP for k in present)


def _examples(s: dict, idx: np.ndarray) -> list[int]:
    """Up to N_EXAMPLES patterns of one class: the first of each device, then further cycles."""
    out: list[int] = []
    for d in np.unique(s["device"][idx]):
        out.append(int(idx[s["device"][idx] == d][0]))
    for j in idx:
        if len(out) >= N_EXAMPLES:
            break
        if int(j) not in out:
            out.append(int(j))
    return out[:N_EXAMPLES]


def _label(s: dict, j: int) -> str:
    d = int(s["device"][j])
    return (f"device {d}, " if d >= 0 else "") + f"cycle {int(s['cycle'][j]) + 1}"


def _input_row(ax: Axes, s: dict, ex: list[int], prm: dict) -> None:
    """Spikes of each example as bars on its own line; the read slots (the same grid for all) below."""
    width_ms = float(prm.get("spike_width_s", 0.0)) * 1e3
    for row, j in enumerate(ex):
        on = s["onsets"][j][np.isfinite(s["onsets"][j])] * 1e3
        ax.broken_barh([(x, width_ms) for x in on], (row + 0.15, 0.7), color=EXAMPLE_COLOURS[row], lw=0)
    nt = s["node_t"][ex[0]].astype(np.float64) * 1e3
    rw = float(prm.get("read_width_s", 0.0)) * 1e3
    ax.broken_barh([(x - rw, rw) for x in nt], (-0.85, 0.7), color="0.35", lw=0)
    ax.set_yticks([-0.5, *np.arange(len(ex)) + 0.5],
                  [f"reads {si(prm.get('read_v'), 'V')}", *(f"{si(prm.get('spike_v'), 'V')} spikes" if r == 0 else ""
                                                             for r in range(len(ex)))], fontsize=7)
    ax.set_ylim(-1, len(ex))
    ax.tick_params(axis="y", length=0)


def _trace_row(ax: Axes, s: dict, ex: list[int], prm: dict, fi: float) -> None:
    dt = float(prm.get("dt_s", 1.0))
    wid = float(prm.get("read_width_s", 0.0))
    for row, j in enumerate(ex):
        tr = s["trace"][j].astype(np.float64)
        t_ms = (np.arange(tr.size) + 1) * dt * 1e3          # a list point is measured at its end
        col = EXAMPLE_COLOURS[row]
        ax.plot(t_ms, tr * fi, lw=0.6, color=col, alpha=0.85, label=_label(s, j))
        ax.plot((s["node_t"][j] - wid / 2) * 1e3, s["node_i"][j] * fi, "o", ms=2.5, color=col, mec="k", mew=0.3)
    ax.axhline(0, color="0.8", lw=0.5, zorder=0)


def _node_row(ax: Axes, s: dict, idx: np.ndarray, norm) -> object:
    """All patterns of the class: heat map (pattern × node) grouped by device, or node profiles."""
    order = idx[np.lexsort((s["cycle"][idx], s["device"][idx]))]
    g = s["node_g"][order]
    n_nodes = g.shape[1]
    if order.size < MIN_HEATMAP:
        for j in order:
            ax.semilogy(np.arange(1, n_nodes + 1), np.where(s["node_g"][j] > 0, s["node_g"][j], np.nan), "o-", ms=3,
                        lw=0.8, label=_label(s, j))
        ax.legend(fontsize=7)
        return None
    im = ax.imshow(np.where(g > 0, g, np.nan), aspect="auto", cmap=CMAP, norm=norm, interpolation="nearest",
                   extent=(0.5, n_nodes + 0.5, order.size - 0.5, -0.5))
    dev = s["device"][order]
    edges = np.flatnonzero(np.diff(dev)) + 0.5
    for e in edges:
        ax.axhline(e, color="w", lw=0.8)
    if np.unique(dev).size > 1:
        mids = [np.flatnonzero(dev == d).mean() for d in np.unique(dev)]
        step = max(1, len(mids) // 8)
        ax.set_yticks(mids[::step], [f"dev {d}" for d in np.unique(dev)][::step], fontsize=7)
    return im
