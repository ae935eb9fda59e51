"""Decimate what is drawn, never what is stored: a bounded picture of a series that grows to 10⁷ rows.

:class:`LogEnvelope` keeps the first ``head`` points exactly and, beyond them, one bucket per ``1/per_decade``
of a decade of x (the cycle number): per bucket and per series the minimum and the maximum with their x, and
the first failing point. Memory and the drawn point count grow with log10(N) — about 1,300 buckets (≤ 2,600
points per series) for 10⁷ cycles with the defaults — and every extreme survives (a collapse of the
ON/OFF ratio in one cycle out of 10⁷ is still drawn). Buckets are geometric because the endurance figures
use a log cycle axis (paper Fig. 3, labrc.plots.endurance); on a linear axis the last decade still gets
``per_decade`` buckets across the plot width. New rows are folded in block by block (vectorized; a Python
loop only over the few buckets a block touches), so a live run is read once, never again from its start.
"""

from __future__ import annotations

import math

import numpy as np


class LogEnvelope:
    """Bounded min/max envelope of several series y(x) sharing a strictly increasing x (x ≥ 1)."""

    def __init__(self, names: tuple[str, ...], head: int = 400, per_decade: int = 300, fail_of: str = "") -> None:
        self.names, self.head, self.per_decade = tuple(names), int(head), int(per_decade)
        self.fail_of = fail_of or self.names[-1]           # the series whose y marks a failing point
        self.n = 0                                        # rows folded in so far
        self.x_last = 0.0
        self._hx = np.empty(0, np.float64)
        self._hy = {k: np.empty(0, np.float64) for k in self.names}
        self._hf = np.empty(0, bool)
        # per bucket: [x_min, y_min, x_max, y_max] for each name; fail: first failing x, its y, count
        self._b: dict[int, dict[str, list[float]]] = {}
        self._bf: dict[int, list[float]] = {}

    def _bucket(self, x: np.ndarray) -> np.ndarray:
        return np.floor(np.log10(x / self.head) * self.per_decade).astype(np.int64)

    def add(self, x: np.ndarray, ys: dict[str, np.ndarray], fail: np.ndarray | None = None) -> None:
        """Fold a block of rows in (x increasing, after every x already added)."""
        x = np.asarray(x, np.float64)
        if not x.size:
            return
        fail = np.zeros(x.size, bool) if fail is None else np.asarray(fail) != 0
        ys = {k: np.asarray(ys[k], np.float64) for k in self.names}
        self.n += x.size
        self.x_last = float(x[-1])
        h = int(np.searchsorted(x, self.head, side="right"))     # rows with x <= head: kept exactly
        if h:
            self._hx = np.concatenate([self._hx, x[:h]])
            self._hf = np.concatenate([self._hf, fail[:h]])
            for k in self.names:
                self._hy[k] = np.concatenate([self._hy[k], ys[k][:h]])
        if h == x.size:
            return
        x, fail, ys = x[h:], fail[h:], {k: v[h:] for k, v in ys.items()}
        b = self._bucket(x)
        starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
        ends = np.r_[starts[1:], b.size]
        for s, e in zip(starts.tolist(), ends.tolist()):
            k = int(b[s])
            rec = self._b.setdefault(k, {})
            for name in self.names:
                seg = ys[name][s:e]
                finite = np.isfinite(seg)
                if not finite.any():
                    continue
                lo = int(np.argmin(np.where(finite, seg, np.inf)))
                hi = int(np.argmax(np.where(finite, seg, -np.inf)))
                cur = rec.get(name)
                if cur is None:
                    rec[name] = [x[s + lo], seg[lo], x[s + hi], seg[hi]]
                else:
                    if seg[lo] < cur[1]:
                        cur[0], cur[1] = x[s + lo], seg[lo]
                    if seg[hi] > cur[3]:
                        cur[2], cur[3] = x[s + hi], seg[hi]
            f = np.flatnonzero(fail[s:e])
            if f.size:
                cur = self._bf.get(k)
                first = cur[:2] if cur else [float(x[s + f[0]]), float(ys[self.fail_of][s + f[0]])]
                self._bf[k] = [*first, (cur[2] if cur else 0) + int(f.size)]

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) to draw: the exact head, then each bucket's minimum and maximum in x order."""
        pts = []
        for k in sorted(self._b):
            r = self._b[k].get(name)
            if r is not None:
                pts += [(r[0], r[1]), (r[2], r[3])] if r[0] != r[2] else [(r[0], r[1])]
        pts.sort()
        tx = np.array([p[0] for p in pts], np.float64)
        ty = np.array([p[1] for p in pts], np.float64)
        return np.concatenate([self._hx, tx]), np.concatenate([self._hy[name], ty])

    def fails(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(x, y) of failing points to mark (every one in the head, the first of each bucket) and their total."""
        keys = sorted(self._bf)
        tx = np.array([self._bf[k][0] for k in keys], np.float64)
        ty = np.array([self._bf[k][1] for k in keys], np.float64)
        total = int(self._hf.sum()) + int(sum(v[2] for v in self._bf.values()))
        return (np.concatenate([self._hx[self._hf], tx]), np.concatenate([self._hy[self.fail_of][self._hf], ty]),
                total)

    @property
    def drawn_points(self) -> int:
        """Upper bound of the points one series draws (for tests and the page: bounded by log10 N)."""
        return int(self._hx.size + 2 * len(self._b))

    @staticmethod
    def buckets_for(n: int, head: int = 400, per_decade: int = 300) -> int:
        """How many buckets ``n`` rows need (the memory bound, stated)."""
        return 0 if n <= head else math.ceil(math.log10(n / head) * per_decade) + 1
