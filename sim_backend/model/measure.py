"""What the SMU measures on a :class:`~.device.Memristor`: the compliance clamp (the device voltage where the
filament and the leakage carry exactly Icc), read noise, and the checks on a drive's arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kinetics as kn

R_SHORT_OHM = 10.0          # injected "short" fault: a 10 Ω metallic bridge


@dataclass
class SegmentResult:
    """Measured values at the end of each segment (read noise applied)."""

    i_a: np.ndarray          # current through the device (A)
    v_dev_v: np.ndarray      # voltage across the device (V); differs from the programmed one in compliance
    compliance: np.ndarray   # bool: the SMU was current-limited


class MeasureMixin:
    """Methods of :class:`~.device.Memristor` that turn conductances into SMU readings."""

    def measure(self, v: np.ndarray, icc: np.ndarray, g: np.ndarray, goff: np.ndarray,
                i_free: np.ndarray | None = None) -> SegmentResult:
        """SMU compliance and read noise (σ = 1 %·|I| + 5 pA on I; 1e-4 on V where V is computed).
        ``i_free``: g·v + I_off(v) when the caller has it already (the same numbers)."""
        p, pre = self.p, self._pre
        if i_free is None:
            i_free = g * v + kn.i_off(goff, p.v_nl_v, v)
        comp = np.abs(i_free) > icc
        n = int(np.count_nonzero(comp))
        # (without a point in compliance np.where(comp, …, i_free) is i_free: no copy, it is not written to)
        i = np.where(comp, np.sign(v) * np.where(comp, icc, 0.0), i_free) if n else i_free   # no sign(0)·inf
        v_dev = v.copy()
        if n:
            v_dev[comp] = self._v_at_current(g[comp], goff[comp], icc[comp], v[comp])
        z = self._rng.standard_normal(i.size, dtype=np.float32).reshape(i.shape)
        t = np.abs(i)                           # i + (rel·|i| + abs)·z, one temporary
        t *= pre.noise_i_rel
        t += pre.noise_i_abs_a
        t *= z
        i = i + t
        if n:
            v_dev[comp] *= 1.0 + pre.noise_v_rel * self._rng.standard_normal(n, dtype=np.float32)
        return SegmentResult(i, v_dev, comp)

    def _v_at_current(self, g, goff, i, v_prog):
        """Device voltage where g·V + I_off(V) = |i| (SMU in compliance); Newton from above (convex, rising)."""
        if self.failed in ("short", "open"):
            return np.sign(v_prog) * np.minimum(np.abs(v_prog), i * R_SHORT_OHM)
        vn = self.p.v_nl_v
        x = np.minimum(np.abs(v_prog), i / (g + goff))
        h = 0.5 * goff
        for it in range(30):
            e = np.exp(x / vn)
            f = g * x + h * vn * (e - 1.0 / e) - i
            x = np.maximum(x - f / (g + h * (e + 1.0 / e)), 0.0)
            if it % 2 and np.all(f <= 1e-9 * i):
                break
        return np.sign(v_prog) * x


def validate(v_v, dt_s, icc_a) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.asarray(v_v, dtype=np.float64)
    dt = np.asarray(dt_s, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or dt.shape != v.shape:
        raise ValueError(f"v_v and dt_s must be non-empty 1-D arrays of equal length, got {v.shape} and {dt.shape}")
    if np.count_nonzero(np.isfinite(v)) != v.size:
        raise ValueError("v_v must be finite")
    if np.count_nonzero(np.isfinite(dt) & (dt > 0)) != dt.size:
        raise ValueError("dt_s must be finite and > 0")
    icc = np.full(v.shape, np.asarray(icc_a, dtype=np.float64)) if np.ndim(icc_a) == 0 \
        else np.asarray(icc_a, dtype=np.float64)
    if icc.shape != v.shape:
        raise ValueError(f"icc_a must be a scalar or have shape {v.shape}, got {icc.shape}")
    if np.count_nonzero(np.isnan(icc) | (icc <= 0)):
        raise ValueError("icc_a must be > 0 (np.inf for no compliance)")
    return v, dt, icc
