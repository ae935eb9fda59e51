"""What the characterization runs: every target as runs of the real protocols, parameters from their presets.

Nothing here restates a protocol constant: the volatile and non-volatile sweeps are ``iv-sweep``'s
``volatile`` / ``nonvolatile`` presets, the endurance patterns the Methods defaults of
``volatile-endurance`` / ``nonvolatile-endurance``, the relaxation ``volatile-relaxation``'s defaults,
reconfiguration ``reconfigure``'s, retention ``retention``'s. What is the characterization's own choice
is only *which* runs, on *which* devices and *how many* cycles:

* the reverse-bias run is the volatile preset mirrored (0 → −V_write → 0 at the volatile Icc);
* the Au run is the non-volatile preset's SET branch (0 → +5 → 0 V at 1 mA) on the ``<ligand>-Au`` die;
* the Icc ladder spans :data:`RETENTION_LADDER_A`'s ends, and retention is run at every level of that
  ladder — 29 µA, 100 µA, 300 µA, 1 mA, the readout's 0.1–3.5 mS (issue 12, "retention at every Icc level").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from protocols.iv_sweep import IVSweep

from .jobs import job

__all__ = ["DEFAULT", "QUICK", "RETENTION_LADDER_A", "Size", "plan_jobs"]

# the Icc levels of the memristive readout's 0.1–3.5 mS range (paper Fig. 3; issue 12 names them)
RETENTION_LADDER_A = (29e-6, 100e-6, 300e-6, 1e-3)


@dataclass(frozen=True)
class Size:
    ogb_devices: int          # OGB devices measured (capped at the die)
    ddab_devices: int         # DDAB devices cycled to failure (the ≈10 / ≈50 medians need ≥ 10)
    retention_devices: int    # devices programmed and read at every ladder level
    vol_cycles: int           # volatile-endurance cycles per OGB device (ON/OFF)
    nv_cycles: int            # nonvolatile-endurance cycles per OGB device (ON/OFF)
    icc_levels: int           # icc-set ladder levels (29 µA … 1 mA, linear)
    icc_repeats: int          # icc-set ladders per device


QUICK = Size(5, 10, 1, 20, 10, 6, 1)
DEFAULT = Size(25, 25, 3, 100, 50, 10, 2)


def plan_jobs(cfg, preset: str, seed: int, size: Size, n_devices: int, out: Path, full: bool) -> list[dict]:
    """Every run of the report, in order (the OGB die, retention, DDAB, Au, and with ``full`` OGB to failure)."""
    ligand = preset.split("-")[0]
    vol = IVSweep.presets["volatile"]
    ogb = range(min(size.ogb_devices, n_devices))
    jobs = []
    for k in ogb:
        on = {"preset": preset, "seed": seed, "device": k, "out_dir": out}
        jobs += [
            job(cfg, "reverse", "iv-sweep", proto_preset="volatile", v_max_v=0.0, v_min_v=-vol["v_max_v"],
                icc_reset_a=vol["icc_a"], **on),
            job(cfg, "iv_vol", "iv-sweep", proto_preset="volatile", **on),
            job(cfg, "iv_nv", "iv-sweep", proto_preset="nonvolatile", **on),
            job(cfg, "end_vol", "volatile-endurance", cycles=size.vol_cycles, n_detail=5, **on),
            job(cfg, "end_nv", "nonvolatile-endurance", cycles=size.nv_cycles, n_detail=5, **on),
            job(cfg, "icc", "icc-set", icc_min_a=RETENTION_LADDER_A[0], icc_max_a=RETENTION_LADDER_A[-1],
                n_levels=size.icc_levels, repeats=size.icc_repeats, **on),
            job(cfg, "reconfigure", "reconfigure", **on),
        ]
    jobs.append(job(cfg, "relaxation", "volatile-relaxation", preset=preset, seed=seed, device=0, out_dir=out,
                    devices=len(ogb), line_frequency_hz=int(cfg.sim.line_frequency_hz)))
    for k in range(min(size.retention_devices, n_devices)):
        for icc in RETENTION_LADDER_A:
            jobs.append(job(cfg, f"retention_{icc:g}", "retention", preset=preset, seed=seed, device=k, out_dir=out,
                            icc_a=icc))
    ddab = range(min(size.ddab_devices, n_devices))
    jobs += endurance_jobs(cfg, "DDAB-Ag", seed, ddab,
                           "ddab", 200, 250, out)
    nv = IVSweep.presets["nonvolatile"]
    for k in ogb:
        jobs.append(job(cfg, "au", "iv-sweep", proto_preset="nonvolatile", v_min_v=0.0, preset=f"{ligand}-Au",
                        seed=seed, device=k, out_dir=out, v_max_v=nv["v_max_v"]))
    if full:
        jobs += endurance_jobs(cfg, preset, seed, range(n_devices), "ogb", 10_000_000, 100_000, out)
    return jobs


def endurance_jobs(cfg, preset: str, seed: int, devices, tag: str, vol_max: int, nv_max: int,
                   out: Path) -> list[dict]:
    """Cycle each device to failure (``stop_on_failure``, the default) in both modes, at most ``*_max`` cycles."""
    out_jobs = []
    for mode, name, cap in (("vol", "volatile-endurance", vol_max), ("nv", "nonvolatile-endurance", nv_max)):
        out_jobs += [job(cfg, f"{tag}_{mode}", name, preset=preset, seed=seed, device=k, out_dir=out,
                         cycles=cap, stop_on_failure=True, n_detail=20) for k in devices]
    return out_jobs
