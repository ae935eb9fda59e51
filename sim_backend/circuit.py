"""The SMUs and the device between the probes as one circuit: what every SMU reads, point by point.

The device under test sits between two terminals (``top`` and ``bottom``; bottom ``0`` = the ground
unit, a 0 V source without limit). Every other SMU sees an open circuit. Each SMU limits *itself*
(reference §5.1, SMU-UM p. 3-17): a voltage source in compliance becomes a current source at its
limit and only *its* terminal voltage moves; a source that is not in compliance holds its value.
A current source is a voltage source at ±its voltage compliance whose current is clamped at the
programmed value — the same clamp seen from the other side — so one device-model call
(``apply(v, dt, icc)``, with the model's compliance clamp) serves every combination.

Two current sources in series on the device are refused (−991): which of them reaches its voltage
compliance first is set by their control loops, not by anything this model knows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import KxciFault
from .memo import BoundedMemo
from .replies import E_SETUP


@dataclass
class Source:
    """One channel's drive over a test: ``mode`` V (voltage source), I (current source), M (voltmeter)."""

    mode: str
    value: np.ndarray          # V for a V source, A for an I source (per point)
    comp: np.ndarray           # A for a V source, V for an I source (per point)


@dataclass
class Reading:
    v: np.ndarray
    i: np.ndarray
    status: np.ndarray         # one letter per point: 'N' normal, 'C' this channel in compliance


_NORMAL: BoundedMemo[int, np.ndarray] = BoundedMemo(64)   # n → read-only array of n 'N' (a status column without compliance)


def status_normal(n: int) -> np.ndarray:
    """``np.full(n, "N")``, shared and read-only (every test stores one per channel time column)."""
    a = _NORMAL.get(n)
    if a is None:
        a = np.full(n, "N")
        a.setflags(write=False)
        _NORMAL.remember(n, a)
    return a


def _status(limited: np.ndarray | None, n: int) -> np.ndarray:
    """``np.where(limited, "C", "N")`` (``None``: no point limited), a new array."""
    st = status_normal(n).copy()
    if limited is not None:
        st[limited] = "C"
    return st


def _open(src: Source, noise: np.ndarray) -> Reading:
    """A source into an open circuit: a V source holds its value; an I source ≠ 0 is in compliance."""
    n = src.value.size
    if src.mode == "V":
        return Reading(src.value.astype(np.float64), noise, np.full(n, "N"))
    if src.mode == "M":
        return Reading(np.zeros(n), np.zeros(n), np.full(n, "N"))
    live = src.value != 0
    return Reading(np.where(live, np.sign(src.value) * src.comp, 0.0), noise, np.where(live, "C", "N"))


def solve(sources: dict[int, Source], top: int | None, bottom: int | None, dt: np.ndarray,
          apply: Callable, noise: Callable[[int], np.ndarray]) -> dict[int, Reading]:
    """Readings of every channel in ``sources`` (keyed by SMU number) with the device between
    ``top`` and ``bottom`` (``bottom = 0``: ground unit). ``apply(v_drive, dt, icc)`` runs the device
    model; ``noise(n)`` is the open-circuit current noise of an SMU."""
    n = dt.size
    st = sources.get(top) if top else None
    sb = Source("V", np.zeros(n), np.full(n, np.inf)) if bottom == 0 else sources.get(bottom) if bottom else None
    out: dict[int, Reading] = {}
    wired = st is not None and sb is not None and st.mode != "M" and sb.mode != "M"
    if wired:
        if st.mode == "I" and sb.mode == "I":
            raise KxciFault(E_SETUP, "two current sources in series on the device")
        rt, rb = _drive(st, sb, dt, apply)
        out[top] = rt
        if bottom:
            out[bottom] = rb
    for k, src in sources.items():
        if k in out:
            continue
        r = _open(src, noise(n))
        if src.mode == "M" and k in (top, bottom):   # a voltmeter on one electrode reads the other one
            other = sb if k == top else st
            if other is not None and other.mode == "V":
                r.v = other.value.astype(np.float64)
        out[k] = r
    return out


def _drive(st: Source, sb: Source, dt: np.ndarray, apply: Callable) -> tuple[Reading, Reading]:
    """Both electrodes driven (at most one of them by a current source)."""
    flip = st.mode == "V" and sb.mode == "I"
    if flip:   # solve the current source as the "top" with the device seen from the other side
        st, sb = _mirror(sb), _mirror(st)
    vt, ct, vb, cb = st.value, st.comp, sb.value, sb.comp
    if st.mode == "V":
        res = apply(vt - vb, dt, np.minimum(ct, cb))
        lim_top = ct <= cb
        c = res.compliance
        # which SMU limits the points in compliance (one of them at every point when the compliances are
        # constant, as in every list sweep): the masks of np.where(c & lim_top, …) without the empty one
        top_c, bot_c = (c, None) if lim_top.all() else (None, c) if not lim_top.any() else (c & lim_top, c & ~lim_top)
        v_top = np.where(top_c, vb + res.v_dev_v, vt) if top_c is not None else vt.astype(np.float64)
        v_bot = np.where(bot_c, vt - res.v_dev_v, vb) if bot_c is not None else vb.astype(np.float64)
        rt = Reading(v_top, res.i_a, _status(top_c, c.size))
        rb = Reading(v_bot, -res.i_a, _status(bot_c, c.size))
        return rt, rb
    # top: current source vt (A) with voltage compliance ct (V); bottom: voltage source vb with limit cb
    zero = vt == 0
    s = np.where(np.sign(vt) == 0, 1.0, np.sign(vt))
    drive = np.where(zero, 0.0, s * ct - vb)
    icc = np.where(zero, np.inf, np.minimum(np.abs(vt), cb))
    res = apply(drive, dt, icc)
    c = res.compliance
    bottom_limits = c & (cb < np.abs(vt))
    regulating = (c & ~bottom_limits) | zero
    v_top = np.where(regulating, vb + res.v_dev_v, s * ct)
    v_bot = np.where(bottom_limits, v_top - res.v_dev_v, vb)
    rt = Reading(v_top, res.i_a, np.where(regulating, "N", "C"))
    rb = Reading(v_bot, -res.i_a, np.where(bottom_limits, "C", "N"))
    if flip:
        rt, rb = _mirror_reading(rb), _mirror_reading(rt)
    return rt, rb


def _mirror(s: Source) -> Source:
    """The same source seen with the device reversed (every voltage and current sign flips)."""
    return Source(s.mode, -np.asarray(s.value, dtype=np.float64), s.comp)


def _mirror_reading(r: Reading) -> Reading:
    return Reading(-r.v, -r.i, r.status)
