"""What the 4200A answers over KXCI, as Python values: the status byte, errors, readings.

Formats from ``shared/reference/keithley4200-kxci.md`` (KXCI-E Rev. E page numbers in the comments):
the status byte (§1.6, p. 3-3), ``:ERROR:LAST:GET`` (p. 4-2), system-mode ``DO`` lists and user-mode
``TV``/``TI`` readings with their status letters (§2.7, p. 2-11, 3-1, 3-2, 5-38).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntFlag
from typing import NamedTuple

import numpy as np
from pyvisa import constants as visa_constants
from pyvisa.errors import VisaIOError

__all__ = [
    "ERROR_RE",
    "INVALID_SENTINEL",
    "InstrumentAborted",
    "KXCIError",
    "KXCITimeout",
    "Reading",
    "StatusByte",
    "SweepResult",
    "parse_readings",
    "parse_user_reading",
]

class StatusByte(IntFlag):
    """KXCI status byte (KXCI-E p. 3-3, 3-4)."""

    NONE = 0
    DATA_READY = 1        # B0: all measurements done
    SYNTAX_ERROR = 2      # B1: invalid command string
    BUSY = 16             # B4: measurement in progress
    SERVICE_REQUEST = 64  # B6: RQS


class KXCIError(RuntimeError):
    """The instrument reported an error (``:ERROR:LAST:GET``), e.g. ``KXCI command error. (-992)``."""

    def __init__(self, code: int, message: str, command: str = ""):
        self.code, self.message, self.command = code, message, command
        super().__init__(code, message, command)

    def __str__(self) -> str:
        where = f" after {self.command!r}" if self.command else ""
        return f"4200 error {self.code}: {self.message}{where}"


class KXCITimeout(VisaIOError):
    """No reply to ``command`` within the VISA timeout (a hung or unreachable instrument).

    Still a pyvisa ``VisaIOError`` (``VI_ERROR_TMO``) for callers that catch those, but its message
    names the command that got no reply, which pyvisa's own message does not.
    """

    def __init__(self, command: str, timeout_s: float | None):
        super().__init__(visa_constants.VI_ERROR_TMO)
        self.command, self.timeout_s = command, timeout_s

    def __str__(self) -> str:
        within = f" within {self.timeout_s:g} s" if self.timeout_s is not None else ""
        return (f"no reply to {self.command!r}{within} (VISA timeout, instrument.timeout_s): "
                "the instrument did not answer")

    def __reduce__(self):
        return (KXCITimeout, (self.command, self.timeout_s))


class InstrumentAborted(RuntimeError):
    """A running test was aborted on request (``ME4``) before it completed."""


class Reading(NamedTuple):
    """One user-mode reading with its status letter kept (``C`` = this channel in compliance)."""

    value: float
    status: str
    channel: str
    quantity: str

    @property
    def in_compliance(self) -> bool:
        return self.status == "C"


@dataclass
class SweepResult:
    """One list sweep as numpy blocks (SI units)."""

    v_set_v: np.ndarray
    v_meas_v: np.ndarray
    i_meas_a: np.ndarray
    t_s: np.ndarray
    status: np.ndarray          # one status letter per point ('N', 'C', ...)
    compliance: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.compliance = self.status == "C"

    def __len__(self) -> int:
        return len(self.v_set_v)


ERROR_RE = re.compile(r"^(?P<msg>.*?)\s*\((?P<code>-?\d+)\)\s*$")
_LETTERS = "LVXCTN"
_USER_READING_RE = re.compile(r"^\s*([A-Z])([A-Z])([VI])\s*([-+0-9.Ee]+)\s*$")
INVALID_SENTINEL = 1e37  # |x| >= 1e37 (and the LPT 1e22) mark overflow / unmapped channel


_STRIP_LETTERS = str.maketrans("", "", _LETTERS + " ")
_LETTER_RE = re.compile(r"(?:^|,)\s*([A-Z]?)")


def parse_readings(reply: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse a ``DO`` reply into (values float64, status letters).

    Accepts the documented variants ``N+1.2E-06``, ``N 1.2E-06``, ``1.2E-06`` (no letter: ``N``)
    for a whole block at once (KXCI-E p. 2-11, 3-1, 5-38). Overflow sentinels become NaN.
    """
    text = reply.strip()
    if not text:
        return np.empty(0, np.float64), np.empty(0, "<U1")
    fast = _parse_fixed_width(text)
    if fast is not None:
        return fast
    try:
        values = np.array(text.translate(_STRIP_LETTERS).split(","), dtype=np.float64)
    except ValueError:
        raise KXCIError(-992, f"unparseable reading list {reply[:80]!r}") from None
    letters = np.array(_LETTER_RE.findall(text), dtype="<U1")
    if letters.size != values.size:
        raise KXCIError(-992, f"unparseable reading list {reply[:80]!r}")
    status = np.where(letters == "", "N", letters)
    return _nan_sentinels(values), status


# --- the fixed-width fast path ------------------------------------------------------------------
# A row ``X±D.DDDDDDE±EE,`` (X a status letter; without letters the row is ``±D.DDDDDDE±EE`` and the
# separating comma is taken as the first byte of the next row) is read as seven 2-byte windows at even
# offsets: [X ±] [D .] [D D] [D D] [D D] [E ±] [E E]. Each window indexes its own table (65536 pair
# codes; every pair that is not the expected form maps to _BAD), and the looked-up numbers add up to
# the integer mantissa M (7 digits) and to a key = 200 * (mantissa sign '-') + 100 * (exponent sign
# '-') + |exponent|. The value is then M * 10**(e-6) with ONE correctly rounded operation (M / 10**(6-e)
# or M * 10**(e-6); every 10**k, k <= 22, is an exact double): exactly Python's float(text). The rare
# exponents outside that range (e < -16, e = 22 (the 1E+22 sentinel), e > 28) are converted by
# numpy's exact string-to-double on those fields only.
_BAD = 1e9                                   # > any mantissa or key: one max() finds every bad pair
_KEYS = 400
_WINDOWS = 7
_ROW_LETTER, _ROW_COMMA = 0, _WINDOWS        # table rows for window 0 with a letter / with a comma


def _pair(lo: int, hi: int) -> int:
    """The little-endian uint16 code of two bytes (``lo`` first in the text)."""
    return lo | (hi << 8)


def _window_tables() -> np.ndarray:
    """(8, 65536) float64: rows 0..6 = windows 0..6 of a lettered row, row 7 = window 0 with a comma."""
    t = np.full((_WINDOWS + 1, 65536), _BAD, np.float64)
    digits = b"0123456789"
    plus, minus = ord("+"), ord("-")
    for lead, row in [(ord(c), _ROW_LETTER) for c in _LETTERS] + [(ord(","), _ROW_COMMA)]:
        t[row, _pair(lead, plus)], t[row, _pair(lead, minus)] = 0.0, 200.0
    for i, a in enumerate(digits):
        t[1, _pair(a, ord("."))] = i * 1e6
        for j, b in enumerate(digits):
            t[2, _pair(a, b)] = (10 * i + j) * 1e4
            t[3, _pair(a, b)] = (10 * i + j) * 1e2
            t[4, _pair(a, b)] = 10 * i + j
            t[6, _pair(a, b)] = 10 * i + j
    t[5, _pair(ord("E"), plus)], t[5, _pair(ord("E"), minus)] = 0.0, 100.0
    return t


def _key_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per key: signed multiplier, divisor, and whether the exact slow conversion is needed."""
    mul, div, slow = np.ones(_KEYS), np.ones(_KEYS), np.ones(_KEYS, bool)
    for key in range(_KEYS):
        neg, rest = divmod(key, 200)
        e = -(rest - 100) if rest >= 100 else rest
        sign = -1.0 if neg else 1.0
        if 0 <= 6 - e <= 22:                     # M / 10**(6-e): one rounding of two exact doubles
            mul[key], div[key], slow[key] = sign, 10.0 ** (6 - e), False
        elif 0 <= e - 6 <= 22 and e != 22:       # M * 10**(e-6): one rounding; 1E+22 is a sentinel
            mul[key], div[key], slow[key] = sign * 10.0 ** (e - 6), 1.0, False
    return mul, div, slow


_TABLE = _window_tables().reshape(-1)
_OFFSETS = {15: (np.arange(_WINDOWS, dtype=np.intp) * 65536)[:, None],
            14: (np.array([_ROW_COMMA, 1, 2, 3, 4, 5, 6], dtype=np.intp) * 65536)[:, None]}
_MUL, _DIV, _SLOW = _key_tables()


def _nan_sentinels(values: np.ndarray) -> np.ndarray:
    values[(np.abs(values) >= INVALID_SENTINEL) | (values == 1e22)] = np.nan
    return values


def _parse_fixed_width(text: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Vectorized exact parse of the fixed-width ``X±D.DDDDDDE±EE`` form (7 digits), or None if not that form.

    Every value equals ``float()`` of its field (sentinels then NaN, as in the general path)."""
    size = len(text) + 1
    if size % 15 == 0:
        width, n = 15, size // 15
        buf = (text + ",").encode("ascii", "replace")
        commas = np.ndarray((n,), np.uint8, buffer=buf, offset=14, strides=(15,))
        if np.count_nonzero(commas == 44) != n:  # the one byte of a row no window reads
            width = 0
    else:
        width = 0
    if not width:
        if size % 14:
            return None
        width, n = 14, size // 14
        buf = ("," + text).encode("ascii", "replace")
    win = np.ndarray((_WINDOWS, n), "<u2", buffer=buf, offset=0, strides=(2, width))
    idx = win.astype(np.intp, order="C")
    idx += _OFFSETS[width]
    parts = _TABLE.take(idx)
    mant = parts[1:5].sum(axis=0)
    key = parts[0] + parts[5]
    key += parts[6]
    if mant.max() >= _BAD or key.max() >= _BAD:
        return None
    k = key.astype(np.intp)
    values = mant * _MUL.take(k)
    values /= _DIV.take(k)
    slow = _SLOW.take(k)
    if slow.any():
        at = np.flatnonzero(slow)
        # the 13-byte number starts after the letter (or the comma) of its row
        fields = np.ndarray((n,), "S13", buffer=buf, offset=1, strides=(width,))[at]
        values[at] = _nan_sentinels(fields.astype(np.float64))
    if width == 15:
        status = np.ndarray((n,), np.uint8, buffer=buf, strides=(15,)).astype(np.uint32).view("<U1")
    else:
        status = np.full(n, "N", "<U1")
    return values, status


def parse_user_reading(reply: str) -> Reading:
    """Parse ``XYZ ±N.NNNNE±NN`` (status, channel letter, V|I) from ``TV``/``TI`` (KXCI-E p. 3-2)."""
    m = _USER_READING_RE.match(reply)
    if not m:
        raise KXCIError(-992, f"unexpected reading {reply!r}")
    status, chan, qty, num = m.groups()
    value = float(num)
    if abs(value) >= INVALID_SENTINEL:
        value = float("nan")
    return Reading(value, status, chan, qty)

