"""Newton on a chain of segment maps x[s+1] = M_s(x[s]): the Jacobian is bidiagonal, so each Newton step is an
affine recurrence e[s+1] = d[s]·e[s] + r[s], solved for all s at once by a prefix scan."""

from __future__ import annotations

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


def affine_scan_inplace(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`affine_scan` on float64 arrays the caller no longer needs (overwritten; returns ``b``)."""
    sh = 1
    while sh < a.size:
        b[sh:] += a[sh:] * b[:-sh]
        a[sh:] *= a[:-sh]
        sh *= 2
        if sh < a.size and np.abs(a[sh:]).max() < 1e-17:
            break
    return b
