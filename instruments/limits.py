"""Instrument limits of the Keithley 4200A-SCS, declared once, and the validators that enforce them.

Every value is checked here before a command leaves the driver. The numbers are those of
``shared/reference/keithley4200-kxci.md`` §7 (KXCI manual 4200A-KXCI-907-01 Rev. E page numbers in
the comments). Where the reference marks a point uncertain the conservative reading is taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np


class LimitError(ValueError):
    """A parameter outside what the instrument (or the operator) allows; raised before any I/O."""


# --- SMU (KXCI-E p. 5-15 ... 5-34; SMU-UM p. 5-15/5-17) -----------------------------------------
SMU_VOLTAGE_MAX_V = 210.0            # VR/VL/VC/DV: ±210 V
SMU_CURRENT_MAX_A = {"SMU": 0.105, "HPSMU": 1.05}   # 4200/4201 vs 4210/4211 at <= 21 V
SMU_CURRENT_MAX_HIGH_V_A = {"SMU": 0.0105, "HPSMU": 0.105}  # above 21 V
SMU_HIGH_CURRENT_LIMIT_V = 21.0
SMU_COMPLIANCE_MIN_A = 100e-9        # without 4200-PA preamp (KXCI raises silently; we refuse)
SMU_COMPLIANCE_MIN_PA_A = 100e-12    # with preamp
# What a protocol parameter may ask of the top-electrode SMU before the card is known: a 4200-SMU at
# <= 21 V (the installed card is checked again by the driver, Keithley4200.smu_limits from *OPT?)
SMU_ICC_MAX_A = SMU_CURRENT_MAX_A["SMU"]
SMU_PULSE_V_MAX_V = SMU_HIGH_CURRENT_LIMIT_V
VAR1_POINTS_MAX = 1024               # VR (p. 5-16)
LIST_POINTS_MAX = 4096               # VL, and the reading buffer (p. 5-18, 5-37)
DELAY_MAX_S = 6.553                  # DT (p. 5-12)
HOLD_MAX_S = 655.3                   # HT (p. 5-12)
NUMERIC_FIELD_MAX_CHARS = 12         # p. 5-6, with at most 2 exponent digits
# Integration time codes (IT1 0.1 PLC, IT2 1 PLC, IT3 10 PLC; p. 5-40, the reference entry is trusted)
INTEGRATION_PLC = {1: 0.1, 2: 1.0, 3: 10.0}
# A PLC lasts 1/50 s or 1/60 s by the mains of the lab; timing estimates (ETA, timeouts, burst sizes) use
# the longer one, so they are upper bounds wherever the instrument runs.
LINE_FREQUENCY_WORST_HZ = 50.0
# DV voltage source ranges: 0 auto, 1 = 20 V, 2/3 = 200 V, 4 = 200 mV (PA), 5 = 2 V (PA) (p. 5-33)
DV_RANGE_CODES = (0, 1, 2, 3, 4, 5)
SMU_CHANNELS = range(1, 10)          # CH/VL/VC channel numbers 1...9

# --- PMU (KXCI-E chapter 7) -------------------------------------------------------------------
PMU_RANGE_V = (10.0, 40.0)
PMU_POINTS_MAX = 65_536
PMU_GET_BLOCK_MAX = 2048


def fmt_num(value: float, name: str = "value") -> str:
    """Format a number for KXCI: at most 12 characters and 2 exponent digits (KXCI-E p. 5-6).

    Uses up to 7 significant digits and falls back to fewer when the field would be too long,
    so every value that fits the instrument's resolution is sent unchanged.
    """
    check_finite(value, name)
    v = float(value)
    if v == 0.0:
        return "0"
    for digits in (7, 6, 5, 4):
        text = f"{v:.{digits}G}"
        if "E" in text:
            mant, exp = text.split("E")
            exp_i = int(exp)
            if abs(exp_i) > 99:
                raise LimitError(f"{name}={value!r} needs a 3-digit exponent; KXCI allows 2")
            text = f"{mant}E{exp_i:+03d}"
        if len(text) <= NUMERIC_FIELD_MAX_CHARS:
            return text
    raise LimitError(f"{name}={value!r} does not fit the 12-character KXCI numeric field")


def fmt_list(values: Iterable[float], name: str = "values") -> str:
    """Format many numbers as a comma-separated KXCI field list (each ≤ 12 characters).

    Pulse trains repeat a few levels thousands of times: each distinct value is formatted once and
    remembered (a bounded table of texts; -0.0 and 0.0 share the text ``0``, as :func:`fmt_num` gives).
    A long list of few levels is composed by numpy (one index per point into the levels' texts); other
    lists are one dictionary lookup per point.
    """
    a = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
    if a.ndim == 1 and a.size >= _FEW_LEVELS_MIN_POINTS:
        text = _fmt_few_levels(a, name)
        if text is not None:
            return text
    points = a.tolist()
    try:
        return ",".join([_FMT_TEXT[x] for x in points])
    except KeyError:
        pass
    # NaN/inf/too-long values raise here, naming the parameter (a local table: the bounded one may be
    # cleared while it is filled)
    texts = {x: _cached_text(x, name) for x in set(points)}
    return ",".join([texts[x] for x in points])


def _cached_text(x: float, name: str) -> str:
    """:func:`fmt_num` of ``x``, remembered in the bounded table (the caller keeps the text)."""
    text = _FMT_TEXT.get(x)
    if text is None:
        if len(_FMT_TEXT) > _FMT_TEXT_MAX:
            _FMT_TEXT.clear()
        text = _FMT_TEXT[x] = fmt_num(x, name)
    return text


def _fmt_few_levels(a: np.ndarray, name: str) -> str | None:
    """The list text when ``a`` holds at most _FEW_LEVELS distinct values (else None): the levels are
    found by peeling one value at a time off the array, each point gets its level's index, and the
    texts are joined from an object array indexed by it (no Python work per point but the join)."""
    levels: list[float] = []
    rest = a
    while rest.size:
        if len(levels) == _FEW_LEVELS:
            return None
        x = float(rest[0])
        if x != x:                        # NaN: never equal to itself; fmt_num raises
            fmt_num(x, name)
        levels.append(x)
        rest = rest[rest != x]
    index = np.zeros(a.size, np.intp)
    for k, x in enumerate(levels[1:], 1):
        index[a == x] = k                 # == groups -0.0 with 0.0: both are the text "0"
    texts = np.array([_cached_text(x, name) for x in levels], dtype=object)
    return ",".join(texts.take(index).tolist())


_FMT_TEXT: dict[float, str] = {}
_FMT_TEXT_MAX = 100_000
_FEW_LEVELS = 8
_FEW_LEVELS_MIN_POINTS = 64


def check_finite(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LimitError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise LimitError(f"{name} must be a finite number, got {value!r}")
    return v


def check_range(value: float, lo: float, hi: float, name: str, unit: str = "") -> float:
    """Return ``value`` as float if ``lo <= value <= hi`` else raise naming the parameter and range."""
    v = check_finite(value, name)
    if not lo <= v <= hi:
        u = f" {unit}" if unit else ""
        raise LimitError(f"{name}={v:g}{u} is outside the allowed range [{lo:g}, {hi:g}]{u}")
    return v


def check_array_range(values: np.ndarray, lo: float, hi: float, name: str, unit: str = "") -> np.ndarray:
    """Vectorized :func:`check_range` for a whole block (NaN and inf refused)."""
    a = np.asarray(values, dtype=np.float64)
    # the common case in two passes: NaN fails both comparisons, inf lies outside any finite range
    if a.size and math.isfinite(lo + hi) and lo <= a.min() and a.max() <= hi:
        return a
    if a.size and not np.all(np.isfinite(a)):
        k = int(np.flatnonzero(~np.isfinite(a))[0])
        raise LimitError(f"{name}[{k}]={float(a[k])!r} must be a finite number")
    bad = (a < lo) | (a > hi)
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        u = f" {unit}" if unit else ""
        raise LimitError(f"{name}[{k}]={a[k]:g}{u} is outside the allowed range [{lo:g}, {hi:g}]{u}")
    return a


@dataclass(frozen=True)
class SmuLimits:
    """Limits of one SMU card, from its ``*OPT?`` entry (``SMU``, ``SMUPA``, ``HPSMU``, ``HPSMUPA``)."""

    kind: str = "SMU"        # "SMU" (4200/4201) or "HPSMU" (4210/4211)
    preamp: bool = False

    @classmethod
    def from_option(cls, option: str) -> "SmuLimits":
        o = option.upper().rstrip("0123456789")
        return cls(kind="HPSMU" if o.startswith("HPSMU") else "SMU", preamp=o.endswith("PA"))

    @property
    def compliance_min_a(self) -> float:
        return SMU_COMPLIANCE_MIN_PA_A if self.preamp else SMU_COMPLIANCE_MIN_A

    def current_max_a(self, v_abs_max: float) -> float:
        """Largest current (and current compliance) the card sources at |V| up to ``v_abs_max``."""
        table = SMU_CURRENT_MAX_A if v_abs_max <= SMU_HIGH_CURRENT_LIMIT_V else SMU_CURRENT_MAX_HIGH_V_A
        return table[self.kind]

    def check_voltage_source(self, voltages_v: np.ndarray | float, icc_a: float, name: str = "voltage_v") -> None:
        """Refuse a voltage source setting (values + current compliance) the card cannot do."""
        v = check_array_range(np.atleast_1d(voltages_v), -SMU_VOLTAGE_MAX_V, SMU_VOLTAGE_MAX_V, name, "V")
        vmax = max(-float(v.min()), float(v.max())) if v.size else 0.0
        check_range(icc_a, self.compliance_min_a, self.current_max_a(vmax), "icc_a", "A")

# --- PMU Segment-Arb (KXCI-E p. 7-39 ... 7-58; LPT-D p. 6-20, 6-69; PMU-UM p. 4-11) ------------
PMU_CHANNELS = (1, 2)
PMU_SARB_TIME_RES_S = 10e-9                   # 10 ns resolution of segment and window times
PMU_SARB_SEG_MIN_S = {10.0: 20e-9, 40.0: 50e-9}   # per source range
PMU_SARB_SEG_MAX_S = 1.0
PMU_SARB_SEGMENTS_PER_SEQ_MIN = 3             # error -958
PMU_SARB_SEGMENTS_PER_CHANNEL_MAX = 2048      # error -954
PMU_SARB_SEQ_NUMBERS = (1, 512)               # sequence numbers 1...512 (error -960)
PMU_SARB_VALUES_PER_COMMAND = 128             # each :PMU:SARB command carries <= 128 values (:ADD for more)
PMU_SARB_LOOPS_MAX = 1e12                     # :PMU:SARB:WFM:SEQ:LIST loops 1 ... 1e12
# Minimum slew rate of a ramp (error -959). The reference gives 362 µV/µs and "1 V per 2.7 ms"
# (= 370 V/s) for the 10 V range, 1.8 mV/µs and "1 V per 500 µs" (= 2000 V/s) for the 40 V range;
# the conservative (larger) figure of each pair is enforced.
PMU_SARB_SLEW_MIN_V_PER_S = {10.0: 1.0 / 2.7e-3, 40.0: 1.0 / 500e-6}
# Span of one waveform on the 10 V range. The manual gives "-10 to 10 V" per SARB value but a 10 V span
# rule for pulse trains and sweeps (KXCI-E p. 7-21, 7-29, 7-48); whether one 10 V-range waveform may hold
# e.g. +5 V and -7 V is uncertain (reference §10.2). Conservative reading: the span (max - min over the
# whole channel waveform) must be <= the range's span, else the 40 V range is required.
PMU_SPAN_MAX_V = {10.0: 10.0, 40.0: 40.0}
PMU_MEAS_TYPES = (0, 1, 2, 3, 4)              # none, spot-mean discrete, waveform discrete, sm avg, wf avg
PMU_SAMPLE_RATE_DEFAULT_HZ = 200e6            # :PMU:SAMPLE:RATE default (waveform types' point count)
PMU_LOAD_OHM = (1.0, 1e7)                     # :PMU:LOAD (KXCI-E p. 7-11)
# Fixed current measure ranges per source range (KXCI-E p. 7-15; REF-C p. 6-73); with an RPM the
# low ranges are added. Segment Arb requires a fixed range (KXCI-E p. 7-2).
PMU_I_RANGES_A = {10.0: (0.2, 10e-3), 40.0: (0.8, 10e-3, 100e-6)}
PMU_RPM_I_RANGES_A = {10.0: (0.2, 10e-3, 1e-3, 100e-6, 10e-6, 1e-6, 100e-9), 40.0: (0.8, 10e-3, 100e-6)}
# status word digit G: current range code (REF-C p. 6-78)
PMU_RANGE_CODE = {100e-9: 0, 1e-6: 1, 10e-6: 2, 100e-6: 3, 1e-3: 4, 10e-3: 5, 0.2: 6, 0.8: 7}


def integration_time_s(code: int, line_frequency_hz: float = LINE_FREQUENCY_WORST_HZ) -> float:
    """Time of one ``IT<code>`` measurement (0.1 / 1 / 10 PLC), at the worst-case mains by default."""
    return INTEGRATION_PLC[code] / line_frequency_hz
