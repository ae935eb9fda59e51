"""Passive loads with the device-model interface: what a probe station sees besides a memristor.

An :class:`OpenCircuit` is what every unwired terminal sees; a :class:`Resistor` is the calibration
load an operator lands on to check the setup. Both implement the ``apply_segments`` / ``idle``
interface of :class:`sim_backend.model.Memristor`, including the SMU's compliance clamp.
"""

from __future__ import annotations

import numpy as np

from .model import SegmentResult


class Resistor:
    """An ohmic load of ``r_ohm`` with seeded read noise; ``r_ohm = inf`` is an open circuit."""

    def __init__(self, r_ohm: float, noise_a: float = 10e-15, seed: int = 0):
        self.r_ohm = float(r_ohm)
        self.noise_a = float(noise_a)
        self.t_s = 0.0
        self.failed = None
        self._rng = np.random.default_rng(seed)

    @property
    def params(self) -> dict:
        return {"kind": "resistor", "r_ohm": self.r_ohm, "noise_a": self.noise_a}

    def apply_segments(self, v_v: np.ndarray, dt_s: np.ndarray, icc_a: np.ndarray | float) -> SegmentResult:
        v = np.asarray(v_v, dtype=np.float64)
        dt = np.broadcast_to(np.asarray(dt_s, dtype=np.float64), v.shape)
        icc = np.broadcast_to(np.asarray(icc_a, dtype=np.float64), v.shape)
        g = 0.0 if np.isinf(self.r_ohm) else 1.0 / self.r_ohm
        i = v * g
        icc = np.where(np.isfinite(icc), icc, np.abs(i) + 1.0)
        clamp = np.abs(i) > icc
        i = np.where(clamp, np.sign(v) * icc, i)
        v_dev = np.where(clamp, i / g if g else v, v)
        i = i + self._rng.normal(0.0, self.noise_a, v.shape)
        self.t_s += float(dt.sum())
        return SegmentResult(i, v_dev, clamp)

    def idle(self, dt_s: float) -> None:
        self.t_s += float(dt_s)

    def get_state(self) -> dict:
        return {"t_s": self.t_s, "rng": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self.t_s = float(state["t_s"])
        self._rng.bit_generator.state = state["rng"]


class OpenCircuit(Resistor):
    """An unconnected terminal: only the SMU's noise floor is measured."""

    def __init__(self, noise_a: float = 10e-15, seed: int = 0):
        super().__init__(float("inf"), noise_a, seed)
