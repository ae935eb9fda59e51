"""Newton on a chain of segment maps x[s+1] = M_s(x[s]): the Jacobian is bidiagonal, so each Newton step is an
affine recurrence e[s+1] = d[s]·e[s] + r[s], solved for all s at once by a prefix scan."""

from __future__ import annotations

import math

import numpy as np


def affine_scan(d: np.ndarray, r: np.ndarray) -> np.ndarray:
    """e[1:] of the recurrence e[0] = 0, e[s+1] = d[s]·e[s] + r[s], by prefix composition of the affine maps
    (log2 n vectorized doubling steps; no division, so no under/overflow of running products)."""
    a, b = d.astype(np.float64, copy=True), r.astype(np.float64, copy=True)
    sh = 1
    while sh < a.size:
        b[sh:] = a[sh:] * b[:-sh] + b[sh:]
        a[sh:] = a[sh:] * a[:-sh]
        sh *= 2
        if sh < a.size and np.max(np.abs(a[sh:])) < 1e-17:   # longer windows add < 1e-17 of a term: done
            break                                          # (a Newton update: its accuracy sets speed only)
    return b


def affine_scan_bounded(a: np.ndarray, b: np.ndarray, tol: float = 1e-17) -> np.ndarray:
    """e[s+1] = a[s]·e[s] + b[s], e[0] = 0, for a ≥ 0 (overwrites a and b, returns b): doubling steps only as
    long as products of a can still exceed ``tol`` (a Newton update: its accuracy sets the speed; an update
    that a later pass corrects may be coarse)."""
    n = a.size
    amax = float(np.maximum.reduce(a)) if n else 0.0
    steps = n if not 0.0 <= amax < 1.0 else \
        (0 if amax == 0.0 else max(0, math.ceil(math.log2(math.log(tol) / math.log(amax)))))
    sh = 1
    for j in range(steps):
        if sh >= n:
            break
        b[sh:] += a[sh:] * b[:-sh]
        if j < steps - 1:
            a[sh:] *= a[:-sh]
        sh *= 2
    return b
