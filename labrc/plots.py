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
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_run(reader: RunReader, out: Path | None = None) -> Path:
    """Draw the run's figure (each protocol owns its plot) next to the run file, or to ``out``."""
    from protocols import PROTOCOLS
    name = reader.metadata.get("protocol", "")
    cls = PROTOCOLS.get(name)
    if cls is None:
        raise ValueError(f"unknown protocol {name!r} in {reader.path}")
    out = Path(out) if out else Path(reader.path).with_suffix(".png")
    cls.plot(reader, out)
    return out
