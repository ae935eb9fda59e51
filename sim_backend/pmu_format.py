"""Text of ``:PMU:DATA:GET`` replies, built as numpy byte matrices (no Python formatting per value).

A point is its fields separated by ``,``, points are separated by ``;`` (KXCI-E p. 7-38; reference
§4.4). Fields: voltages and currents with 7 significant digits, timestamps with 10 (a 1 s test on the
10 ns grid needs 9), status words as 8 hex digits ``ABCDEFGH``.
"""

from __future__ import annotations

import numpy as np

_HEXD = np.frombuffer(b"0123456789ABCDEF", np.uint8)


# 10**k for every exponent fmt_fixed can meet, computed by the same np.power as before (bit-identical scale)
_POW10_MIN = -340
with np.errstate(over="ignore"):     # 10**309 and above are inf, as np.power gave them per call
    _POW10 = np.power(10.0, np.arange(_POW10_MIN, 341, dtype=np.int64).astype(np.float64))


def fmt_fixed(x: np.ndarray, sig: int) -> np.ndarray:
    """Vectorized ``%+.{sig-1}e``-style text as a (n, sig + 6) uint8 matrix (e.g. ``+1.234567e-06``)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((x.size, sig + 6), np.uint8)
    fixed_into(out, 0, x, sig, ord("e"))
    return out


def fixed_into(out: np.ndarray, col: int, x: np.ndarray, sig: int, e_char: int) -> None:
    """Write ``±D.DDDDDD<e_char>±EE`` (``sig`` digits) of every value into ``out[:, col:col + sig + 6]``.

    One pass of whole-column numpy operations: the exponent from log10, the mantissa rounded to
    ``sig`` digits (a rounding that carries into the next decade, or a log10 one below, corrected), the
    digits by integer division. The same bytes as ``%+.{sig-1}e`` for finite values with |x| < 1e100."""
    a = np.abs(x)
    nz = a > 0
    with np.errstate(divide="ignore"):
        e = np.where(nz, np.floor(np.log10(a)), 0.0).astype(np.int64)
    m = np.rint(a * _POW10[sig - 1 - e - _POW10_MIN])
    hi = m >= 10.0 ** sig
    if hi.any():
        e[hi] += 1
        m[hi] = np.rint(m[hi] / 10.0)
    lo = nz & (m < 10.0 ** (sig - 1))
    if lo.any():
        e[lo] -= 1
        m[lo] = np.rint(a[lo] * _POW10[sig - 1 - e[lo] - _POW10_MIN])
    np.clip(e, -99, 99, out=e)
    mi = m.astype(np.int64)
    out[:, col] = np.where(x < 0, 45, 43)                       # '-' / '+'
    p = 10 ** np.arange(sig - 1, -1, -1, dtype=np.int64)
    digs = (mi[:, None] // p[None, :]) % 10 + 48
    out[:, col + 1] = digs[:, 0]
    out[:, col + 2] = 46                                         # '.'
    out[:, col + 3:col + 2 + sig] = digs[:, 1:]
    out[:, col + 2 + sig] = e_char
    out[:, col + 3 + sig] = np.where(e < 0, 45, 43)
    ae = np.abs(e)
    out[:, col + 4 + sig] = ae // 10 + 48
    out[:, col + 5 + sig] = ae % 10 + 48


def fmt_status(words: np.ndarray) -> np.ndarray:
    """8-hex-digit status words as an (n, 8) uint8 matrix."""
    st = np.asarray(words).astype(np.uint32)
    shifts = np.arange(7, -1, -1, dtype=np.uint32) * np.uint32(4)
    return _HEXD[(st[:, None] >> shifts[None, :]) & np.uint32(0xF)]


def fmt_field(name: str, values: np.ndarray) -> np.ndarray:
    """One field column as text: ``V…``/``I…`` 7 digits, ``T…`` 10 digits, ``S…`` hex status."""
    kind = name[0]
    if kind == "S":
        return fmt_status(values)
    return fmt_fixed(values, 10 if kind == "T" else 7)


def format_fields(cols: dict[str, np.ndarray], fields: list[str]) -> str:
    """``f1,f2,…;f1,f2,…`` for the named columns, in the order of ``fields``."""
    n = int(next(iter(cols.values())).size) if cols else 0
    if n == 0 or not fields:
        return ""
    comma = np.full((n, 1), ord(","), np.uint8)
    parts: list[np.ndarray] = []
    for k, name in enumerate(fields):
        if k:
            parts.append(comma)
        parts.append(fmt_field(name, cols[name]))
    parts.append(np.full((n, 1), ord(";"), np.uint8))
    return np.hstack(parts).tobytes()[:-1].decode("ascii")


def format_points(v: np.ndarray, i: np.ndarray, t: np.ndarray, status: np.ndarray) -> str:
    """``V,I,T,S;V,I,T,S;…`` (the waveform and Segment-Arb default field list)."""
    return format_fields({"V": v, "I": i, "T": t, "S": status}, ["V", "I", "T", "S"])
