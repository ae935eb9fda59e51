"""Figures of a reservoir result (paper Fig. 4d/e) with the baselines beside the device readouts.

Drawn from the result dict (:meth:`labrc.reservoir.Result.to_dict` or :func:`labrc.reservoir.read_results`
of a results file), never from live training state. Matplotlib's object API with the Agg canvas, so the
process-wide backend is left alone. (``labrc.plots.plot_reservoir``, the figures engineer's, draws the two
device readouts in the paper's layout from the same dict; this module adds the baselines.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .reservoir import PAPER_TEST_ACC

ORDER = (("float_", "device / float64", "tab:blue"), ("icc", "device / Icc pairs", "tab:red"),
         ("memoryless", "memoryless (input at reads)", "tab:gray"), ("stimulus", "stimulus (35 ms occupancy)", "tab:green"),
         ("stimulus_waveform", "stimulus waveform", "tab:olive"))


def _present(r: dict) -> list[tuple[str, str, str]]:
    return [o for o in ORDER if r.get(o[0])]


def learning_curves(r: dict, title: str = "") -> Figure:
    """Train (solid) and test (dashed) accuracy per epoch of every readout: mean of seeds, each seed thin."""
    fig = Figure(figsize=(8.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    for key, name, col in _present(r):
        m = r[key]
        ep = np.arange(1, len(m["test_acc"]) + 1)
        for seed_curve in m["test_acc_per_seed"]:
            ax.plot(ep, 100 * np.asarray(seed_curve), "-", color=col, lw=0.5, alpha=0.4)
        ax.plot(ep, 100 * np.asarray(m["train_acc"]), "o-", color=col, label=f"{name}, train")
        ax.plot(ep, 100 * np.asarray(m["test_acc"]), "s--", color=col, mfc="none",
                label=f"{name}, test {100 * m['test_acc_mean']:.1f} ± {100 * m['test_acc_sd']:.1f} %")
        if key in PAPER_TEST_ACC:
            ax.axhline(PAPER_TEST_ACC[key], color=col, ls=":", lw=0.9)
    ax.axhline(100 / len(r["classes"]), color="0.5", ls="-.", lw=0.9, label="chance")
    ax.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 100))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    ax.set_title((title + "\n" if title else "") + f"{r['n_patterns']} patterns, {r['split']}, seeds {r['seeds']}; "
                 "dotted: paper test accuracy", fontsize=9)
    return fig


def confusion_matrices(r: dict, title: str = "") -> Figure:
    """Row-normalised test confusion matrix (all seeds pooled) of every readout."""
    keys = _present(r)
    fig = Figure(figsize=(3.3 * len(keys) + 0.8, 3.8), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    classes = list(r["classes"])
    im = None
    for ax, (key, name, _) in zip(axes, keys):
        m = r[key]
        cm, pct = np.asarray(m["confusion"]), 100 * np.asarray(m["confusion_normalised"])
        im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
        for (a, b), p in np.ndenumerate(pct):
            ax.text(b, a, f"{p:.0f}\n({cm[a, b]})", ha="center", va="center", fontsize=7,
                    color="w" if p > 60 else "k")
        ax.set_xticks(range(len(classes)), [c[:5] for c in classes], fontsize=7)
        ax.set_yticks(range(len(classes)), [c[:5] for c in classes], fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        ax.set_title(f"{name}\ntest {100 * m['test_acc_mean']:.1f} %", fontsize=8)
    fig.colorbar(im, ax=list(axes), label="% of the true class", shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def save_figures(result: Any, out_dir: Path | str, title: str = "") -> list[Path]:
    """Both figures as PNGs in ``out_dir`` (created); returns their paths."""
    r = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in (("reservoir_learning_curves.png", learning_curves(r, title)),
                      ("reservoir_confusion.png", confusion_matrices(r, title))):
        FigureCanvasAgg(fig)
        p = out / name
        fig.savefig(p, dpi=120)
        paths.append(p)
    return paths
