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


PLOTTERS = {"iv": plot_iv}


def plot_run(reader: RunReader, out: Path | None = None) -> Path:
    """Draw the figure for the run's type next to the run file (or to ``out``)."""
    fn = PLOTTERS.get(reader.run_type)
    if fn is None:
        raise ValueError(f"no plot for run type {reader.run_type!r}; known: {', '.join(PLOTTERS)}")
    out = Path(out) if out else Path(reader.path).with_suffix(".png")
    return fn(reader, out)
