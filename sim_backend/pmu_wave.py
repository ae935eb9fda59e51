"""The PMU's drive and acquisition in virtual time: piecewise-linear waveforms → device → points.

Shared by Segment-Arb (``sim_backend/pmu_sarb.py``) and standard pulse (``sim_backend/pmu_pulse.py``):
both describe one *pass* of a waveform (a Segment-Arb sequence, one pulse period) as linear segments
with measurement windows, and a pass is played ``loops`` times. Each segment is split into constant
sub-segments for the device model: ramps into ``RAMP_STEPS`` steps, a spot-mean window into
``WINDOW_STEPS`` pieces whose results are averaged (the spot mean reflects the state *during* the
window), a waveform window into one piece per sample at the sample rate (reference §4.2, §4.4: the
card samples at 200 MS/s / n). The PMU has no compliance: the model is driven with ``icc_a = inf``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

RAMP_STEPS = 4
WINDOW_STEPS = 2
RATE_MAX_HZ, RATE_MIN_HZ = 200e6, 1e3     # :PMU:SAMPLE:RATE 1 kS/s … 200 MS/s (KXCI-E p. 7-23)
MAX_POINTS = 65_536                        # points KXCI measures and returns per channel (KXCI-E p. 7-2)
KIND_SPOT, KIND_WAVEFORM = 1, 2            # status digit D (REF-C p. 6-78)


def n_samples(window_s: float | np.ndarray, rate_hz: float) -> np.ndarray:
    """Samples a waveform window of ``window_s`` holds at ``rate_hz`` (at least one)."""
    return np.maximum(1, np.ceil(np.asarray(window_s, dtype=np.float64) * rate_hz - 1e-6)).astype(np.int64)


def choose_rate(requested_hz: float, spot_points: int, windows_s: np.ndarray, mult: np.ndarray) -> float | None:
    """The sample rate the card uses: the requested one, lowered in steps of 200 MS/s / n until the test
    returns ≤ 65 536 points (KXCI-E p. 7-23, reference §4.2). ``windows_s`` are the waveform windows of
    one pass each, ``mult`` how often each is returned. ``None`` if even 1 kS/s is too fast."""
    windows_s = np.asarray(windows_s, dtype=np.float64)
    mult = np.asarray(mult, dtype=np.int64)
    room = MAX_POINTS - spot_points
    k = max(1, round(RATE_MAX_HZ / requested_hz))

    def count(kk: int) -> int:
        return int((n_samples(windows_s, RATE_MAX_HZ / kk) * mult).sum())

    if windows_s.size == 0 or count(k) <= room:
        return RATE_MAX_HZ / k
    if room <= int(mult.sum()):
        return None
    k = max(k, math.ceil(RATE_MAX_HZ * float((windows_s * mult).sum()) / (room - int(mult.sum()))))
    while count(k) > room and RATE_MAX_HZ / k >= RATE_MIN_HZ:
        k += 1
    rate = RATE_MAX_HZ / k
    return rate if rate >= RATE_MIN_HZ and count(k) <= room else None


@dataclass
class Pass:
    """One pass of a channel's waveform as constant sub-segments and the points measured in it."""

    v: np.ndarray           # programmed voltage of each sub-segment (V)
    dt: np.ndarray          # its duration (s)
    point: np.ndarray       # int64: index of the point it belongs to in this pass, -1 = not measured
    connected: np.ndarray   # bool: output relay (SSR) closed
    t_point: np.ndarray     # time of each point from the pass start (s)
    kind: np.ndarray        # per point: 1 spot mean, 2 waveform sample
    tag: np.ndarray         # per point: 0 = high (or Segment-Arb), 1 = low (pulse I-V base)
    duration_s: float

    @property
    def n_points(self) -> int:
        return int(self.t_point.size)


class PassBuilder:
    """Appends linear segments with measurement windows; :meth:`build` gives the :class:`Pass`."""

    def __init__(self, rate_hz: float = RATE_MAX_HZ):
        self.rate_hz = rate_hz
        self.t = 0.0
        self._v: list[np.ndarray] = []
        self._dt: list[np.ndarray] = []
        self._pt: list[np.ndarray] = []
        self._con: list[np.ndarray] = []
        self._tp: list[float | np.ndarray] = []
        self._kind: list[np.ndarray] = []
        self._tag: list[np.ndarray] = []
        self._n = 0

    def segment(self, v0: float, v1: float, dur_s: float, windows: tuple = (), connected: bool = True) -> None:
        """A ramp ``v0 → v1`` over ``dur_s``; ``windows`` are ``(start_s, stop_s, kind, tag)`` inside it,
        in time order, not overlapping."""
        cuts = sorted({0.0, dur_s, *(a for a, _, _, _ in windows), *(b for _, b, _, _ in windows)})
        ramp = abs(v1 - v0) > 1e-12
        for a, b in zip(cuts[:-1], cuts[1:]):
            if b - a <= 0:
                continue
            win = next((w for w in windows if a >= w[0] - 1e-15 and b <= w[1] + 1e-15), None)
            if win is None:
                edges = np.linspace(a, b, (RAMP_STEPS if ramp else 1) + 1)
                t_at = 0.5 * (edges[:-1] + edges[1:])
                pts = np.full(t_at.size, -1, np.int64)
            elif win[2] == KIND_WAVEFORM:
                n = int(n_samples(b - a, self.rate_hz))
                edges = a + (b - a) * np.arange(n + 1) / n
                t_at = edges[:-1]                       # a sample is the value at its instant
                pts = self._n + np.arange(n, dtype=np.int64)
                self._points(self.t + t_at, KIND_WAVEFORM, win[3])
            else:
                edges = np.linspace(a, b, WINDOW_STEPS + 1)
                t_at = 0.5 * (edges[:-1] + edges[1:])
                pts = np.full(t_at.size, self._n, np.int64)
                self._points(np.array([self.t + 0.5 * (a + b)]), KIND_SPOT, win[3])
            self._v.append(v0 + (v1 - v0) * t_at / dur_s)
            self._dt.append(np.diff(edges))
            self._pt.append(pts)
            self._con.append(np.full(t_at.size, connected))
        self.t += dur_s

    def _points(self, t: np.ndarray, kind: int, tag: int) -> None:
        self._tp.append(t)
        self._kind.append(np.full(t.size, kind, np.uint8))
        self._tag.append(np.full(t.size, tag, np.uint8))
        self._n += t.size

    def build(self) -> Pass:
        cat = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.empty(0, dt)  # noqa: E731
        return Pass(cat(self._v, np.float64), cat(self._dt, np.float64), cat(self._pt, np.int64),
                    cat(self._con, bool), cat(self._tp, np.float64), cat(self._kind, np.uint8),
                    cat(self._tag, np.uint8), self.t)


Drive = Callable[[np.ndarray, np.ndarray, int, float], tuple[np.ndarray, np.ndarray]]


def play(passes: list[tuple[Pass, int, bool]], drive: Drive | None, noise: Callable[[int], np.ndarray],
         t_start_s: float) -> tuple[dict[str, np.ndarray], float]:
    """Play ``(pass, loops, average)`` in order from ``t_start_s``; return the points and the duration.

    ``drive(v, dt, loops, t_at)`` integrates the device (results shaped ``(loops, v.size)``); ``None``
    means the channel is not wired to a device: it measures the noise floor and its own voltage.
    ``average`` returns one pass's points averaged over the loops (measure modes 3 and 4).
    Points: ``v``, ``i``, ``t`` (from the test start), ``kind``, ``tag``.
    """
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("v", "i", "t", "kind", "tag")}
    t_off = 0.0
    for p, loops, average in passes:
        if p.n_points == 0 and drive is None:
            t_off += p.duration_s * loops
            continue
        v_drive = np.where(p.connected, p.v, 0.0)
        if drive is not None:
            i_a, v_meas = drive(v_drive, p.dt, loops, t_start_s + t_off)
            open_ = ~p.connected
            if open_.any():   # relay open: the card sees no current and forces its own voltage
                i_a = np.where(open_, noise(i_a.size).reshape(i_a.shape), i_a)
                v_meas = np.where(open_, p.v, v_meas)
        else:
            i_a = noise(p.v.size * loops).reshape(loops, p.v.size)
            v_meas = np.broadcast_to(p.v, (loops, p.v.size))
        if p.n_points:
            sel = p.point >= 0
            idx = p.point[sel]
            starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
            cnt = np.diff(np.r_[starts, idx.size]).astype(np.float64)
            i_pt = np.add.reduceat(i_a[:, sel], starts, axis=1) / cnt
            v_pt = np.add.reduceat(v_meas[:, sel], starts, axis=1) / cnt
            if average:
                i_pt, v_pt = i_pt.mean(axis=0, keepdims=True), v_pt.mean(axis=0, keepdims=True)
            reps = i_pt.shape[0]
            out["i"].append(i_pt.ravel())
            out["v"].append(v_pt.ravel())
            out["t"].append((t_off + p.duration_s * np.arange(reps)[:, None] + p.t_point[None, :]).ravel())
            out["kind"].append(np.tile(p.kind, reps))
            out["tag"].append(np.tile(p.tag, reps))
        t_off += p.duration_s * loops
    pts = {k: (np.concatenate(v) if v else np.empty(0)) for k, v in out.items()}
    return pts, t_off
