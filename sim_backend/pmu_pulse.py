"""Standard pulse (``:PMU:INIT 0``) on the simulated PMU: trains, sweeps and steps, spot-mean (pulse
I-V) and waveform measurements (KXCI-E p. 7-3 … 7-35, reference §4.2, §4.5).

A channel's test is a list of *test points*: one per sweep value, nested inside the step values (a
step on one channel repeats the whole sweep of another). Each test point is one pulse period played
``:PMU:PULSE:BURST:COUNT`` times; measure modes 1/2 return every pulse, 3/4 the average of the burst.

Pulse shape: the manual's width is the full width at half maximum, so with ``delay`` ``d``, ``rise``
``r``, ``width`` ``w``, ``fall`` ``f`` the pulse rises over ``[d, d+r]``, sits at the top until
``d + r/2 + w − f/2`` and is back at the base at ``d + r/2 + w + f/2``; the off time is then
``period − d − w − (r+f)/2`` (KXCI-E p. 7-18, 7-19). Levels: ``top = base + amplitude``.

[inference, documented choices]
* ``:PMU:TIMES:PIV start, stop`` (0.75 … 0.90) are fractions of the pulse top; the *low* spot mean
  uses the same fractions of the off time that follows the pulse.
* ``:PMU:TIMES:WAVEFORM pre, post`` (0.2 / 0.2) are fractions of the pulse width captured before the
  rise and after the fall, clipped to the period ("pre-data ≤ pulse delay").
* Span rule (KXCI-E p. 7-21, 7-29; reference §4.2, §7): the base and top of a pulse — and the start
  and stop of a sweep — lie within 10 V (10 V range) / 40 V (40 V range) of each other, every level
  within ±range. This rule is documented for trains and sweeps only (Segment-Arb: ``pmu_sarb.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import KxciFault
from .pmu_errors import (E_PIV_ACQUIRE, E_PIV_POINTS, E_PMU_ARG, E_PULSE_CONFIG, E_STEP_COUNTS,
                         E_STEP_NO_SWEEP)
from .pmu_wave import KIND_SPOT, KIND_WAVEFORM, MAX_POINTS, Pass, PassBuilder

PERIOD_S = {10.0: (60e-9, 1.0), 40.0: (500e-9, 1.0)}
WIDTH_MIN_S = {10.0: 40e-9, 40.0: 250e-9}
EDGE_S = {10.0: (20e-9, 33e-3), 40.0: (50e-9, 33e-3)}
DELAY_MIN_S = {10.0: 20e-9, 40.0: 50e-9}
OFF_MIN_S = 40e-9
BURST_MAX = 10_000
SPAN_V = {10.0: 10.0, 40.0: 40.0}


@dataclass
class PulseSettings:
    """One channel's standard-pulse settings (``:PMU:INIT 0`` defaults, KXCI-E p. 7-9 … 7-35)."""

    base_v: float = 0.0
    ampl_v: float = 0.0
    width_s: float = 500e-9
    rise_s: float = 100e-9
    fall_s: float = 100e-9
    delay_s: float = 0.0
    acquire: tuple[int, int] = (1, 1)               # :PMU:MEASURE:PIV high, low
    piv_window: tuple[float, float] = (0.75, 0.90)  # :PMU:TIMES:PIV
    wf_window: tuple[float, float] = (0.2, 0.2)     # :PMU:TIMES:WAVEFORM pre, post
    sweep: tuple | None = None                      # (kind, start, stop, step, other, dual)
    step: tuple | None = None                       # (kind, start, stop, step, other)
    llec: bool = False


def _level(x: str) -> float:
    v = float(x)
    if abs(v) > 40.0:
        raise KxciFault(E_PMU_ARG, "voltage outside ±40 V")
    return v


def command(card, head: str, args: list[str]) -> bool:
    """Apply a standard-pulse command to ``card`` (a :class:`~sim_backend.pmu.SimPmu`); False if unknown."""
    if head == "PULSE:TIMES":
        p = card.chan(args[0]).pulse
        period, w, r, f = (float(x) for x in args[1:5])
        d = float(args[5]) if len(args) > 5 else 0.0
        if min(period, w, r, f) <= 0 or d < 0:
            raise KxciFault(E_PMU_ARG, "times must be > 0")
        card.period_s = period              # shared by all channels: the last one sent wins (p. 7-18)
        p.width_s, p.rise_s, p.fall_s, p.delay_s = w, r, f, d
    elif head == "PULSE:TRAIN":
        p = card.chan(args[0]).pulse
        p.base_v, p.ampl_v = _level(args[1]), _level(args[2])
    elif head == "PULSE:BURST:COUNT":
        n = int(args[0])
        if not 1 <= n <= BURST_MAX:
            raise KxciFault(E_PMU_ARG, "burst count 1 … 10000")
        card.burst = n
    elif head in ("SWEEP:PULSE:AMPLITUDE", "SWEEP:PULSE:BASE", "SWEEP:DC"):
        p = card.chan(args[0]).pulse
        kind = head.rsplit(":", 1)[1]
        vals = [_level(x) for x in args[1:4]]
        other = _level(args[4]) if kind != "DC" else 0.0
        dual = int(args[-1])
        if dual not in (0, 1) or vals[2] == 0 or len(args) != (5 if kind == "DC" else 6):
            raise KxciFault(E_PMU_ARG, "start, stop, step (≠ 0), [v,] dual")
        p.sweep = (kind, *vals, other, dual)
    elif head in ("STEP:PULSE:AMPLITUDE", "STEP:PULSE:BASE", "STEP:DC"):
        p = card.chan(args[0]).pulse
        kind = head.rsplit(":", 1)[1]
        vals = [_level(x) for x in args[1:4]]
        other = _level(args[4]) if kind != "DC" else 0.0
        if vals[2] == 0 or len(args) != (4 if kind == "DC" else 5):
            raise KxciFault(E_PMU_ARG, "start, stop, step (≠ 0)[, v]")
        p.step = (kind, *vals, other)
    elif head == "MEASURE:PIV":
        p = card.chan(args[0]).pulse
        hi, lo = int(args[1]), int(args[2])
        if hi not in (0, 1) or lo not in (0, 1):
            raise KxciFault(E_PMU_ARG)
        p.acquire = (hi, lo)
    elif head in ("TIMES:PIV", "TIMES:WAVEFORM"):
        p = card.chan(args[0]).pulse
        a, b = float(args[1]), float(args[2])
        if not (0 <= a <= 1 and 0 <= b <= 1) or (head == "TIMES:PIV" and a >= b):
            raise KxciFault(E_PMU_ARG, "fractions 0 … 1")
        if head == "TIMES:PIV":
            p.piv_window = (a, b)
        else:
            p.wf_window = (a, b)
    elif head == "LLEC:CONFIGURE":
        n, on = int(args[0]), int(args[1])
        if n not in (1, 2) or on not in (0, 1):
            raise KxciFault(E_PMU_ARG)
        card.chan(args[0]).pulse.llec = bool(on)
    else:
        return False
    return True


def sweep_values(start: float, stop: float, step: float, dual: int = 0) -> np.ndarray:
    """start, start ± |step|, … up to stop (and back when ``dual``)."""
    n = int(np.floor(abs(stop - start) / abs(step) + 1e-9)) + 1
    vals = start + np.sign(stop - start or 1.0) * abs(step) * np.arange(n)
    return np.r_[vals, vals[-2::-1]] if dual else vals


def check_times(period: float, p: PulseSettings, range_v: float) -> None:
    """Pulse timing against the range's limits and the shape constraints (KXCI-E p. 7-18, 7-19): −967."""
    lo, hi = PERIOD_S[range_v]
    e_lo, e_hi = EDGE_S[range_v]
    edges = 0.5 * (p.rise_s + p.fall_s)
    ok = (lo - 1e-15 <= period <= hi and WIDTH_MIN_S[range_v] - 1e-15 <= p.width_s <= period - 10e-9 + 1e-15
          and e_lo - 1e-15 <= p.rise_s <= e_hi and e_lo - 1e-15 <= p.fall_s <= e_hi
          and p.width_s > edges and p.rise_s <= p.width_s
          and (p.delay_s == 0 or p.delay_s >= DELAY_MIN_S[range_v] - 1e-15)
          and period - p.delay_s - p.width_s - edges > OFF_MIN_S)
    if not ok:
        raise KxciFault(E_PULSE_CONFIG, "pulse timing")


def _levels(p: PulseSettings, spec, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kind, other = spec[0], spec[4]
    if kind == "AMPLITUDE":
        return np.full(values.size, other), other + values
    if kind == "BASE":
        return values, values + other
    return values, values.copy()      # DC: no pulse, the level itself


def test_points(chans: dict[int, object]) -> dict[int, tuple[np.ndarray, np.ndarray, bool]]:
    """Per active channel: (base, top, is_dc) of every test point, steps outermost (−953, −948)."""
    sweeps = {n: sweep_values(*c.pulse.sweep[1:4], c.pulse.sweep[5]) for n, c in chans.items() if c.pulse.sweep}
    steps = {n: sweep_values(*c.pulse.step[1:4]) for n, c in chans.items() if c.pulse.step}
    if steps and not sweeps:
        raise KxciFault(E_STEP_NO_SWEEP)
    if len({v.size for v in sweeps.values()}) > 1 or len({v.size for v in steps.values()}) > 1:
        raise KxciFault(E_STEP_COUNTS)
    n_sw = next(iter(sweeps.values())).size if sweeps else 1
    n_st = next(iter(steps.values())).size if steps else 1
    out = {}
    for n, c in chans.items():
        p = c.pulse
        if n in sweeps:
            base, top = _levels(p, p.sweep, sweeps[n])
            base, top = np.tile(base, n_st), np.tile(top, n_st)
            dc = p.sweep[0] == "DC"
        elif n in steps:
            base, top = _levels(p, p.step, steps[n])
            base, top = np.repeat(base, n_sw), np.repeat(top, n_sw)
            dc = p.step[0] == "DC"
        else:
            base, top = np.full(n_sw * n_st, p.base_v), np.full(n_sw * n_st, p.base_v + p.ampl_v)
            dc = False
        rng = c.range_v
        if np.any(np.abs(base) > rng + 1e-9) or np.any(np.abs(top) > rng + 1e-9):
            raise KxciFault(E_PULSE_CONFIG, "level outside ±range")
        if np.any(np.abs(top - base) > SPAN_V[rng] + 1e-9) or \
                (n in sweeps and abs(p.sweep[2] - p.sweep[1]) > SPAN_V[rng] + 1e-9):
            raise KxciFault(E_PULSE_CONFIG, "span exceeds the range")   # KXCI-E p. 7-21, 7-29
        out[n] = (base, top, dc)
    return out


def shape(period: float, p: PulseSettings) -> list[float]:
    """Segment boundaries of one period: [0, d, d+r, top end, fall end, period]."""
    d, r, w, f = p.delay_s, p.rise_s, p.width_s, p.fall_s
    return [0.0, d, d + r, d + 0.5 * r + w - 0.5 * f, d + 0.5 * r + w + 0.5 * f, period]


def windows(period: float, p: PulseSettings, mode: int) -> list[tuple[float, float, int, int]]:
    """Measurement windows of one period in absolute pass time: (start, stop, kind, tag)."""
    t = shape(period, p)
    if mode in (1, 3):
        out = []
        a, b = p.piv_window
        if p.acquire[0]:
            out.append((t[2] + a * (t[3] - t[2]), t[2] + b * (t[3] - t[2]), KIND_SPOT, 0))
        if p.acquire[1]:
            out.append((t[4] + a * (t[5] - t[4]), t[4] + b * (t[5] - t[4]), KIND_SPOT, 1))
        if not out:
            raise KxciFault(E_PIV_ACQUIRE)
        return out
    if mode in (2, 4):
        pre, post = p.wf_window
        return [(max(0.0, t[1] - pre * p.width_s), min(period, t[4] + post * p.width_s), KIND_WAVEFORM, 0)]
    return []


def _clip(wins, a: float, b: float) -> tuple:
    """The windows' parts inside the segment [a, b], relative to a."""
    return tuple((max(w0, a) - a, min(w1, b) - a, k, tag) for w0, w1, k, tag in wins if min(w1, b) > max(w0, a))


def waveform_pieces(period: float, p: PulseSettings, mode: int) -> list[float]:
    """Lengths of the waveform window's parts per segment (how the samples are counted)."""
    t = shape(period, p)
    wins = [w for w in windows(period, p, mode) if w[2] == KIND_WAVEFORM]
    return [w[1] - w[0] for a, b in zip(t[:-1], t[1:]) for w in _clip(wins, a, b)]


def passes(period: float, p: PulseSettings, mode: int, burst: int, base: np.ndarray, top: np.ndarray,
           dc: bool, rate_hz: float) -> list[tuple[Pass, int, bool]]:
    """One period per test point, each played ``burst`` times (averaged in modes 3 and 4)."""
    t = shape(period, p)
    wins = windows(period, p, mode)
    cache: dict[tuple[float, float], Pass] = {}
    out = []
    for lo, hi in zip(base.tolist(), top.tolist()):
        key = (lo, lo if dc else hi)
        if key not in cache:
            b = PassBuilder(rate_hz)
            levels = [key[0], key[0], key[1], key[1], key[0], key[0]]   # at the boundaries of shape()
            for k in range(5):
                if t[k + 1] > t[k]:
                    b.segment(levels[k], levels[k + 1], t[k + 1] - t[k], _clip(wins, t[k], t[k + 1]))
            cache[key] = b.build()
        out.append((cache[key], burst, mode in (3, 4)))
    return out


def spot_points(mode: int, burst: int, n_points: int, p: PulseSettings) -> int:
    """Rows a spot-mean test returns (a high/low pair is one row); > 65 536 is −949."""
    rows = n_points * (1 if mode == 3 else burst)
    if rows > MAX_POINTS:
        raise KxciFault(E_PIV_POINTS)
    return rows


def piv_fields(p: PulseSettings) -> list[str]:
    """Default ``:PMU:DATA:GET`` fields of a spot-mean channel: VH,IH,TH,SH then VL,IL,TL,SL."""
    return (["VH", "IH", "TH", "SH"] if p.acquire[0] else []) + (["VL", "IL", "TL", "SL"] if p.acquire[1] else [])
