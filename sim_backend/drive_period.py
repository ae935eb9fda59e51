"""The period of a piecewise-constant drive: how the simulator sees that a list is one cycle repeated.

One job: the smallest k such that the source values, step times and compliances of a drive all repeat
every k points (k divides the length, at least two repeats), or 0. :meth:`sim_backend.kxci.Kxci4200._apply`
asks it of every drive, and a periodic one (an endurance burst) goes to the device's vectorized
``apply_cycles`` instead of ``apply_segments`` (:mod:`sim_backend.model.cycles`).
"""

from __future__ import annotations

import numpy as np

from .memo import BoundedMemo

_DIVISORS: BoundedMemo[tuple[int, int], np.ndarray] = BoundedMemo(256)   # (n, k_max) → the k ≤ min(k_max, n // 2) dividing n
PERIOD_EDGES = 16                                  # edges of v the quick test of drive_period compares across


def drive_period(v: np.ndarray, dt: np.ndarray, icc: np.ndarray, k_max: int = 64) -> int:
    """Smallest period k (≥ 2 repeats) of a piecewise-constant drive, or 0 if it is not periodic.

    The candidates (divisors of the length) are first filtered where a period shows soonest, all at once:
    v[k] = v[0]. The first survivor is compared over the whole drive at once (an endurance burst: k = 7,
    periodic, done); the rest are filtered again across the first PERIOD_EDGES changes of v
    (v[e + k] = v[e] on both sides of each edge e) — necessary conditions, pairs the full test compares
    too — so only a k that may be periodic is compared over the whole drive after that. A non-periodic
    drive (a spike list) therefore costs one whole-list comparison, not one per divisor."""
    n = v.size
    ka = _DIVISORS.get((n, k_max))
    if ka is None:
        ka = _DIVISORS.remember((n, k_max), np.array([k for k in range(1, min(k_max, n // 2) + 1) if n % k == 0],
                                                      dtype=np.intp))
    if not ka.size:
        return 0
    ka = ka[v[ka] == v[0]]
    if not ka.size:
        return 0
    if _periodic(v, dt, icc, int(ka[0])):          # a periodic drive: its first candidate
        return int(ka[0])
    ka = ka[1:]
    if ka.size > 1:
        e = np.flatnonzero(v[1:] != v[:-1])[:PERIOD_EDGES]
        j = np.concatenate([e, e + 1])
        idx = j + ka[:, None]
        ka = ka[((v[np.minimum(idx, n - 1)] == v[j]) | (idx >= n)).all(axis=1)]
    for k in ka.tolist():
        if _periodic(v, dt, icc, k):
            return k
    return 0


def _periodic(v: np.ndarray, dt: np.ndarray, icc: np.ndarray, k: int) -> bool:
    return bool((v[k:] == v[:-k]).all() and (dt[k:] == dt[:-k]).all() and (icc[k:] == icc[:-k]).all())
