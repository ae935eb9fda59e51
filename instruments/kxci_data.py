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
_IS_LETTER = np.zeros(256, bool)
_IS_LETTER[[ord(c) for c in _LETTERS]] = True
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
    values[(np.abs(values) >= INVALID_SENTINEL) | (values == 1e22)] = np.nan
    return values, status


_DIGITS = np.array([1, 3, 4, 5, 6, 7, 8])       # digit columns of "±D.DDDDDDE±EE"
_SCALE = 10.0 ** -np.arange(7)
_POW10 = 10.0 ** np.arange(-300, 300, dtype=np.float64)


def _parse_fixed_width(text: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Vectorized parse of the fixed-width ``X±D.DDDDDDE±EE`` form (7 digits), or None if not that form."""
    raw = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)
    for width, lettered in ((15, True), (14, False)):
        if (raw.size + 1) % width:
            continue
        n = (raw.size + 1) // width
        rows = np.empty(n * width, np.uint8)
        rows[:-1], rows[-1] = raw, ord(",")
        rows = rows.reshape(n, width)
        body = rows[:, 1:] if lettered else rows
        if not (np.all(rows[:, -1] == ord(",")) and np.all(body[:, 2] == ord(".")) and np.all(body[:, 9] == ord("E"))
                and np.all((body[:, 0] == ord("+")) | (body[:, 0] == ord("-")))):
            continue
        d = body[:, _DIGITS].astype(np.int64) - ord("0")
        ex = (body[:, 11].astype(np.int64) - ord("0")) * 10 + body[:, 12] - ord("0")
        if d.min() < 0 or d.max() > 9 or ex.min() < 0 or ex.max() > 99:
            continue
        ex = np.where(body[:, 10] == ord("-"), -ex, ex)
        values = (d @ _SCALE) * _POW10[ex + 300] * np.where(body[:, 0] == ord("-"), -1.0, 1.0)
        if lettered:
            if not _IS_LETTER[rows[:, 0]].all():
                continue
            status = rows[:, 0].astype(np.uint32).view("<U1")
        else:
            status = np.full(n, "N", "<U1")
        values[(np.abs(values) >= INVALID_SENTINEL) | (values == 1e22)] = np.nan
        return values, status
    return None


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

