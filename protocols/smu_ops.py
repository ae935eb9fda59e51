"""Small SMU operations the protocols compose: a compliance-limited SET sweep, a RESET sweep, a read.

Each is one system-mode list sweep (≤ 4096 points, one compliance per list) as a plan fragment:
``out = yield from sweep(...)`` inside a protocol's block yields the :class:`ListSweep` message and
returns what it measured. The SMU clamps at the compliance, so these are what programs a level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labrc.engine.messages import ListSweep


def staircase(*corners: float, step_v: float) -> np.ndarray:
    """The list of a DC sweep through ``corners`` (e.g. 0, 5, 0, −7, 0) in equal steps ≤ ~``step_v``,
    first corner included, every corner hit exactly."""
    parts = [np.array([corners[0]], dtype=np.float64)]
    for a, b in zip(corners, corners[1:]):
        n = max(int(round(abs(b - a) / step_v)), 1)
        parts.append(np.linspace(a, b, n + 1)[1:])
    return np.round(np.concatenate(parts), 9)


def ramp(v_peak_v: float, step_v: float) -> np.ndarray:
    """0 → v_peak → 0 staircase without the starting 0 V point (it ends at 0 V)."""
    return staircase(0.0, v_peak_v, 0.0, step_v=step_v)[1:]


@dataclass
class SweepOut:
    v_v: np.ndarray
    i_a: np.ndarray
    compliance: np.ndarray
    t_s: float          # instrument time the list took (s)
    t_end_s: float = float("nan")   # run clock at the end of the list (s)
    wall_s: float = float("nan")    # host time when the list started (time.time())

    @property
    def i_peak_a(self) -> float:
        return float(np.max(np.abs(self.i_a)))

    @property
    def switch_v(self) -> float:
        """First voltage where the SMU went into compliance (NaN if never)."""
        k = np.flatnonzero(self.compliance)
        return float(self.v_v[k[0]]) if k.size else float("nan")


def sweep(v_list: np.ndarray, icc_a: float, delay_s: float, integration: int = 1):
    """One list sweep at compliance ``icc_a``; returns a :class:`SweepOut` (``yield from``)."""
    r = yield ListSweep(np.asarray(v_list, dtype=np.float64), icc_a, delay_s, 0.0, integration)
    return SweepOut(r.v_set_v, r.i_meas_a, r.compliance, r.duration_s, r.t_end_s, r.wall_s)


def read(v_read_v: float, n_read: int, rest_s: float, width_s: float, icc_read_a: float = 10e-3):
    """Rest at 0 V for ``rest_s`` (the volatile state relaxes, the non-volatile one stays), then
    ``n_read`` points at ``v_read_v``; returns (mean current A, conductance S) (``yield from``)."""
    n_rest = int(np.ceil(rest_s / width_s)) if rest_s > 0 else 0
    v = np.concatenate([np.zeros(n_rest), np.full(n_read, v_read_v)])
    r = yield ListSweep(v, icc_read_a, width_s, 0.0, 1)
    i = float(np.mean(r.i_meas_a[n_rest:]))
    return i, i / v_read_v
