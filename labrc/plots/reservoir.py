"""Reservoir readout results (paper Fig. 4d/e): learning curves and normalised confusion matrices of
the two device readouts, (a) float64 delta rule and (b) Icc-programmed pairs, in the paper's layout.

Drawn from the result dict (:meth:`labrc.reservoir.Result.to_dict` or ``labrc.reservoir.read_results``);
the baselines beside the device readouts are drawn by ``labrc.reservoir_plots``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .common import new_figure, plural, title_text, wrap

MODES = (("float_", "(a) float64 delta rule", "tab:blue"), ("icc", "(b) Icc-programmed pairs", "tab:red"))


def plot_reservoir(result: Any, title: str | None = None) -> Figure:
    """Train/test accuracy per epoch (mean over seeds, each seed's test curve thin) of both device
    readouts, and their row-normalised test confusion matrices (all seeds pooled).

    ``result`` is a :class:`labrc.reservoir.Result` or its ``to_dict()``; ``title`` names the data. Without
    it, the sample and devices come from the spike-train runs the result names (when they can be read)."""
    from labrc.reservoir import PAPER_TEST_ACC
    r = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    classes = list(r["classes"])
    fig = new_figure(14, 4.8)
    ax_acc, ax_a, ax_b = fig.subplots(1, 3, width_ratios=[1.2, 1, 1])
    _curves(ax_acc, r, len(classes), PAPER_TEST_ACC)
    im = None
    for ax, (key, name, _) in zip((ax_a, ax_b), MODES):
        m = r[key]
        im = _confusion(ax, np.asarray(m["confusion"], dtype=np.float64), classes,
                        f"{name}: test {_acc_text(m)}")
    fig.colorbar(im, ax=[ax_a, ax_b], label="share of the true class (%)", pad=0.01, aspect=25)
    seeds = r.get("seeds") or []
    src = (r.get("icc_model") or {}).get("source", "")
    what = (f"reservoir readout: {r['n_patterns']} patterns ({r['n_train']} train / {r['n_test']} test"
            f"{', ' + r['split'] if r.get('split') else ''}), {plural(len(seeds), 'seed') + ', ' if seeds else ''}"
            f"{r['n_nodes']} nodes + bias → {len(classes)} sigmoid outputs; Icc model: "
            f"{'built-in line' if src in ('', 'default') else 'fit of an icc-set run'}")
    title = title if title is not None else source_title(r.get("runs") or [])
    fig.suptitle(wrap(f"{title}\n{what}" if title else what, fig), fontsize=10)
    return fig


def source_title(paths: list) -> str:
    """"<sample> · devices a–b — spike trains" of the runs a result was trained on ("" if unreadable)."""
    from labrc.store import RunReader, StoreError
    devices: set[int] = set()
    head = ""
    for p in paths:
        try:
            with RunReader(Path(p)) as rd:
                if not head:
                    head = title_text(rd, "spike trains").split("\n")[0]
                devices.update(int(d) for d in np.unique(rd.stream("patterns")["device"]) if d >= 0)
        except (StoreError, OSError, KeyError):
            continue
    if head and devices:
        from .spikes import _ranges
        dev = f"devices {_ranges(np.array(sorted(devices)))} of the die" if len(devices) > 1 else \
            f"device {devices.pop()} of the die"
        head = head.split(" — ")[0].rsplit(" · device ", 1)[0] + f" · {dev} — spike trains"
    return head + (f" ({len(paths)} runs)" if head and len(paths) > 1 else "")


def _acc_text(m: dict) -> str:
    if "test_acc_mean" in m:
        sd = m.get("test_acc_sd") or 0.0
        return f"{100 * m['test_acc_mean']:.1f}" + (f" ± {100 * sd:.1f} %" if sd else " %")
    return f"{100 * m['test_acc'][-1]:.1f} %"


def _curves(ax: Axes, r: dict, n_classes: int, paper: dict) -> None:
    for key, name, col in MODES:
        m = r[key]
        ep = np.arange(1, len(m["train_acc"]) + 1)
        per_seed = m.get("test_acc_per_seed") or []
        for curve in per_seed if len(per_seed) > 1 else []:        # each seed's test curve, thin
            ax.plot(ep, 100 * np.asarray(curve), "-", color=col, lw=0.5, alpha=0.35)
        ax.plot(ep, 100 * np.asarray(m["train_acc"]), "o-", color=col, label=f"{name}, train")
        ax.plot(ep, 100 * np.asarray(m["test_acc"]), "s--", color=col, mfc="none", label=f"{name}, test")
        ax.axhline(paper[key], color=col, ls=":", lw=0.9, label=f"paper test {paper[key]} %")
    ax.axhline(100 / n_classes, color="0.5", ls="-.", lw=0.9, label=f"chance {100 / n_classes:.0f} %")
    seeds = len(r.get("seeds") or [1])
    ax.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 100),
           title=f"learning curves (mean of {plural(seeds, 'seed')}; test n = {r['n_test']})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=6.5, loc="lower right", ncol=2)


def _confusion(ax: Axes, cm: np.ndarray, classes: list[str], title: str):
    """Row-normalised confusion (rows = true class): each cell its % and its count."""
    rows = cm.sum(axis=1, keepdims=True)
    pct = np.divide(100 * cm, rows, out=np.full_like(cm, np.nan), where=rows > 0)
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
    for (a, b), p in np.ndenumerate(pct):
        if np.isfinite(p):
            ax.text(b, a, f"{p:.0f} %\n({int(cm[a, b])})", ha="center", va="center", fontsize=7.5,
                    color="w" if p > 60 else "k")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(title, fontsize=10)
    return im
