"""Icc → G programming statistics of the readout's non-volatile weights (paper Methods "Simulation of neural
networks": "we sample new conductance values from a Normal distribution whose mean and standard deviation is
calculated using linear functions of Icc"; Supplementary Fig. 28 holds the lines, which the text does not give)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..store import RunReader, StoreError

G_MIN_S, G_MAX_S = 0.1e-3, 3.5e-3          # Methods: "Target weights are clipped between 0.1 mS and 3.5 mS"
G_INIT_MEAN_S, G_INIT_SD_S = 0.5e-3, 0.1e-3  # Methods: initial G ~ N(0.5 mS, 0.1 mS)


@dataclass(frozen=True)
class IccModel:
    """Icc → G programming statistics: mean G = a·Icc + b, σ(G) = c·Icc + d (S, A)."""

    a_s_per_a: float
    b_s: float
    c_s_per_a: float
    d_s: float
    source: str = "default"

    def icc_for(self, g_s: np.ndarray) -> np.ndarray:
        return (g_s - self.b_s) / self.a_s_per_a

    def program(self, g_target_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Conductances after single-shot SETs aimed at ``g_target_s`` (no write-verify), clipped to range."""
        icc = self.icc_for(g_target_s)
        sd = np.maximum(self.c_s_per_a * icc + self.d_s, 0.0)
        return np.clip(rng.normal(self.a_s_per_a * icc + self.b_s, sd), G_MIN_S, G_MAX_S)


# the paper's text gives no numbers: G = Icc / 0.29 V (universal R_LRS = V_c/I_C, reference §3) with a 7 %
# programming spread (σ_p 5–15 %, reference §2.9); an icc-set run replaces it (demo, --icc-run)
DEFAULT_ICC_MODEL = IccModel(a_s_per_a=1 / 0.29, b_s=0.0, c_s_per_a=0.07 / 0.29, d_s=0.0)


def icc_model_from_run(path: Path | str) -> IccModel:
    """Fit of an ``icc-set`` run: the G line from ``icc_fit`` and σ(Icc) as a line through its per-level σ."""
    from protocols.icc_set import icc_fit
    with RunReader(path) as r:
        if r.metadata.get("protocol") != "icc-set":
            raise StoreError(f"{path}: not an icc-set run (protocol {r.metadata.get('protocol')!r})")
        f = icc_fit(r.stream("levels"))
    if "slope_s_per_a" not in f:
        raise StoreError(f"{path}: too few programmed levels for an Icc fit")
    icc, sd = np.asarray(f["icc_levels_a"]), np.asarray(f["g_std_s"], float)
    ok = np.isfinite(sd)
    c, d = np.polyfit(icc[ok], sd[ok], 1) if ok.sum() >= 2 else (0.0, float(np.nanmean(sd)) if ok.any() else 0.0)
    return IccModel(f["slope_s_per_a"], f["intercept_s"], float(c), float(d), source=str(path))
