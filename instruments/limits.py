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
VAR1_POINTS_MAX = 1024               # VR (p. 5-16)
LIST_POINTS_MAX = 4096               # VL, and the reading buffer (p. 5-18, 5-37)
DELAY_MAX_S = 6.553                  # DT (p. 5-12)
HOLD_MAX_S = 655.3                   # HT (p. 5-12)
NUMERIC_FIELD_MAX_CHARS = 12         # p. 5-6, with at most 2 exponent digits
# Integration time codes (IT1 0.1 PLC, IT2 1 PLC, IT3 10 PLC; p. 5-40, the reference entry is trusted)
INTEGRATION_PLC = {1: 0.1, 2: 1.0, 3: 10.0}
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
    """Format many numbers as a comma-separated KXCI field list (each ≤ 12 characters)."""
    return ",".join(fmt_num(v, name) for v in values)


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
    if a.size and not np.all(np.isfinite(a)):
        k = int(np.flatnonzero(~np.isfinite(a))[0])
        raise LimitError(f"{name}[{k}]={a[k]!r} must be a finite number")
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
        vmax = float(np.max(np.abs(v))) if v.size else 0.0
        check_range(icc_a, self.compliance_min_a, self.current_max_a(vmax), "icc_a", "A")
