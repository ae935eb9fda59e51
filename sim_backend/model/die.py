"""A die of seeded devices of one preset, and drives applied to many of its devices at once."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any, Sequence

import numpy as np

from .device import Memristor
from .measure import SegmentResult
from .params import PRESETS, sample_params


class Die:
    """n seeded devices of one preset; same (preset, seed) → the same die, bit for bit; two presets of one
    seed draw from different streams (:func:`params.streams`)."""

    def __init__(self, n_devices: int = 25, preset: str = "OGB-Ag", seed: int = 0,
                 replaced: dict[str, float] | None = None):
        """``replaced``: preset fields set to these values (a fitted preset, ``labrc sim fit``); devices are
        still drawn from the base preset's random streams (keyed by its name), so device k of seed s is
        the same draw as on the plain preset."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; allowed: {sorted(PRESETS)}")
        if int(n_devices) < 1:
            raise ValueError("n_devices must be >= 1")
        self.preset, self.seed, self.n_devices = preset, int(seed), int(n_devices)
        self.replaced = None if replaced is None else dict(replaced)
        self._pre = pre = replace(PRESETS[preset], **(self.replaced or {}))
        self._devices = [Memristor(pre, *sample_params(pre, self.seed, k)) for k in range(self.n_devices)]

    def device(self, k: int) -> Memristor:
        if not 0 <= int(k) < self.n_devices:
            raise ValueError(f"device index {k} outside 0..{self.n_devices - 1}")
        return self._devices[int(k)]

    def describe(self) -> dict[str, Any]:
        d = {"preset": self.preset, "seed": self.seed, "n_devices": self.n_devices, "model": "v2",
             "preset_params": asdict(self._pre), "devices": [d.params for d in self._devices]}
        if self.replaced is not None:
            d["replaced"] = dict(self.replaced)
        return d

    def apply_cycles_all(self, v_v, dt_s, icc_a, n_cycles: int,
                         devices: Sequence[int] | None = None) -> SegmentResult:
        """The same periodic drive on several devices (each on its own clock and generator); results have
        shape (devices, n_cycles, k). Each device's block is vectorized over its cycles."""
        ks = range(self.n_devices) if devices is None else devices
        rs = [self.device(k).apply_cycles(v_v, dt_s, icc_a, n_cycles) for k in ks]
        return SegmentResult(*(np.stack([getattr(r, f) for r in rs]) for f in ("i_a", "v_dev_v", "compliance")))
