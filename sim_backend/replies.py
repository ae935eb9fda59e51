"""KXCI text in and out: error codes, the instrument's number formats, splitting a message into commands.

Formats (KXCI-E p. 2-11, 3-1 … 3-3; reference §2.7): ``DO`` blocks ``X±N.NNNNNNE±NN,…`` with a status
letter per reading, ``RD``/``TI``/``TV`` values in engineering notation (``54.978E-15``). Error codes and
texts are those of KXCI-E p. 2-12, 2-13 (reference §1.6).
"""

from __future__ import annotations

import re

import numpy as np

from .errors import KxciFault
from .pmu_errors import PMU_ERROR_TEXT
from .pmu_format import fixed_abs_into

# error codes (KXCI-E p. 2-12, 2-13)
E_ARGUMENT, E_COMMAND, E_SETUP, E_PAGE, E_NOT_MAPPED, E_UNSUPPORTED = -993, -992, -991, -989, -988, -986
E_DURING_TEST, E_NO_SMU, E_NO_VPU, E_USER_MODE, E_SYSTEM_MODE = -980, -979, -978, -975, -974
ERROR_TEXT = {
    E_ARGUMENT: "KXCI argument error.", E_COMMAND: "KXCI command error.", E_SETUP: "Illegal setup.",
    E_PAGE: "Command not valid on this page.", E_NOT_MAPPED: "Instrument not mapped.",
    E_UNSUPPORTED: "Unsupported command.", E_DURING_TEST: "Command not valid during test execution.",
    E_NO_SMU: "SMU not present.", E_NO_VPU: "VPU not present.",
    E_USER_MODE: "Command not valid in User mode.", E_SYSTEM_MODE: "Command not valid in System mode.",
    **PMU_ERROR_TEXT,
}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[Ee][-+]?\d+)?"


class _NoReply:
    """Reply sentinel for an injected timeout: the VISA layer queues nothing, so the client's read
    times out as on a hung instrument."""

    def __repr__(self) -> str:
        return "NO_REPLY"


NO_REPLY = _NoReply()


def eng(values: np.ndarray, digits: int = 5) -> list[str]:
    """Engineering notation as the 4200 prints it (``54.978E-15``): exponent a multiple of 3."""
    v = np.asarray(values, dtype=np.float64)
    a = np.abs(v)
    nz = a > 0
    e3 = np.zeros(v.shape, dtype=np.int64)
    e3[nz] = (np.floor(np.log10(a[nz]) / 3.0) * 3.0).astype(np.int64)
    mant = np.where(nz, v / 10.0 ** e3, 0.0)
    int_digits = 1 + (np.abs(mant) >= 10) + (np.abs(mant) >= 100)
    dec = np.maximum(digits - int_digits, 0)
    # a mantissa that rounds up to 1000 moves to the next exponent
    bump = np.abs(np.round(mant * 10.0 ** dec) / 10.0 ** dec) >= 1000.0
    if bump.any():
        mant, e3 = np.where(bump, mant / 1000.0, mant), e3 + 3 * bump
        dec = np.where(bump, digits - 1, dec)
    return [f"{m:.{d}f}E{e:+03d}" for m, d, e in zip(mant.tolist(), dec.tolist(), e3.tolist())]


def sci_list(values: np.ndarray, digits: int = 7, letters: np.ndarray | None = None) -> str:
    """``X±N.NNNNNNE±NN,…``: the ``DO`` data format of KXCI-E p. 3-1, built for a whole block at once.

    The 7-digit case (the 4200A's resolution) is composed as a numpy byte matrix (no Python call per
    value); other resolutions use ``%`` formatting.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    n = v.size
    if n == 0:
        return ""
    if digits != 7:
        v = np.where(np.abs(v) < 1e-99, 0.0, np.clip(v, -9.999999e98, 9.999999e98))
        body = (("%+." + str(max(digits - 1, 2)) + "E,") * n) % tuple(v.tolist())
        rows = np.frombuffer(body.encode("ascii"), dtype=np.uint8).reshape(n, -1)
        if letters is not None:
            lead = np.ascontiguousarray(letters, dtype="<U1").view(np.uint32).astype(np.uint8).reshape(n, 1)
            rows = np.hstack([lead, rows])
        return rows.tobytes()[:-1].decode("ascii")
    # the same 7-significant-digit text as :PMU:DATA:GET (pmu_format.fixed_into), with DO's ``E``,
    # written into one matrix: [letter] number comma. The 2-digit exponent field: |v| < 1e-99 is sent
    # as 0 and |v| is clipped to 9.999999E+98.
    a = np.abs(v)
    np.minimum(a, 9.999999e98, out=a)
    tiny = a < 1e-99
    if np.count_nonzero(tiny):
        a[tiny] = 0.0
    lead = 0 if letters is None else 1
    rows = np.empty((n, lead + 14), np.uint8)
    fixed_abs_into(rows, lead, a, v <= -1e-99, 7, ord("E"))
    rows[:, -1] = ord(",")
    if letters is not None:
        rows[:, 0] = np.ascontiguousarray(letters, dtype="<U1").reshape(-1).view(np.uint32)
    return rows.tobytes()[:-1].decode("ascii")


_ARGLESS = re.compile(r"^(DE|SS|SM|MD|US|UL|BC|ID|SP|\*RST|\*IDN\?|\*OPT\?|IT[1-3]|DR[01]|ME[1-4]|RS[3-7])$")


def split_commands(message: str) -> list[str]:
    """Split a KXCI message into commands: ``;``-separated, and the manual's space-separated forms
    (``IT1 BC DR1``, ``SS VR1,0,1,0.05,50E-3``, ``DE CH1 CH2``)."""
    out: list[str] = []
    for piece in message.split(";"):
        piece = piece.strip()
        while piece:
            head, _, tail = piece.partition(" ")
            if tail and (_ARGLESS.match(head) or re.match(r"^(CH|VS|VM)\d$", head) and re.match(r"^(CH|VS|VM)\d", tail)):
                out.append(head)
                piece = tail.strip()
            else:
                out.append(piece)
                break
    return out


def args(rest: str) -> list[str]:
    """The comma-separated arguments of a command, stripped (a 4096-value list: one C-level map)."""
    return list(map(str.strip, rest.split(","))) if rest.strip() else []


def quoted(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    raise KxciFault(E_ARGUMENT, f"expected a quoted name, got {text!r}")


def numbers(rest: str, n_min: int, n_max: int | None = None) -> list[float]:
    """The comma-separated numeric arguments of a command; a wrong count or a non-number is −993."""
    a = args(rest)
    if not n_min <= len(a) <= (n_max if n_max is not None else n_min) or not all(re.fullmatch(_NUM, x) for x in a):
        raise KxciFault(E_ARGUMENT, f"expected {n_min}..{n_max or n_min} numbers, got {rest!r}")
    return [float(x) for x in a]
