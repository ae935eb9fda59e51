"""Figures in the paper's style, drawn from run files (never from live objects), one module per family.

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` and leaves the matplotlib backend
alone (labrc.plots.common); :func:`plot_run` picks the figure by the run's protocol and writes a PNG.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from .common import identity, save, si, title_text
from .endurance import plot_endurance
from .iv import plot_iv
from .levels import plot_icc, plot_reconfigure, plot_retention
from .relaxation import plot_relaxation
from .reservoir import plot_reservoir
from .spikes import plot_spike_train

__all__ = ["PLOTTERS", "figure_for", "identity", "plot_endurance", "plot_icc", "plot_iv", "plot_reconfigure",
           "plot_relaxation", "plot_reservoir", "plot_retention", "plot_run", "plot_spike_train", "si", "title_text"]

PLOTTERS: dict[str, Callable[..., Figure]] = {
    "iv-sweep": plot_iv, "volatile-endurance": plot_endurance, "nonvolatile-endurance": plot_endurance,
    "icc-set": plot_icc, "spike-train": plot_spike_train, "retention": plot_retention,
    "reconfigure": plot_reconfigure, "volatile-relaxation": plot_relaxation}


def figure_for(reader) -> Figure:
    """The run's paper-style figure, chosen by its protocol (ValueError for a protocol without one)."""
    name = reader.metadata.get("protocol", "")
    fn = PLOTTERS.get(name)
    if fn is None:
        raise ValueError(f"no plot for protocol {name!r}; plots exist for: {', '.join(PLOTTERS)}")
    return fn(reader)


def plot_run(reader, out: Path | str | None = None) -> Path:
    """Draw the run's figure and write it as a PNG next to the run file (or to ``out``); returns the path."""
    fig = figure_for(reader)
    return save(fig, Path(out) if out else Path(reader.path).with_suffix(".png"))
