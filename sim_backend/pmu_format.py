"""Text of ``:PMU:DATA:GET`` replies, built as numpy byte matrices (no Python formatting per value).

A point is its fields separated by ``,``, points are separated by ``;`` (KXCI-E p. 7-38; reference
§4.4). Fields: voltages and currents with 7 significant digits, timestamps with 10 (a 1 s test on the
10 ns grid needs 9), status words as 8 hex digits ``ABCDEFGH``.
"""

from __future__ import annotations

import numpy as np

_HEXD = np.frombuffer(b"0123456789ABCDEF", np.uint8)


def fmt_fixed(x: np.ndarray, sig: int) -> np.ndarray:
    """Vectorized ``%+.{sig-1}e``-style text as a (n, sig + 6) uint8 matrix (e.g. ``+1.234567e-06``)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    a = np.abs(x)
    nz = a > 0
    e = np.zeros(n, np.int64)
    e[nz] = np.floor(np.log10(a[nz])).astype(np.int64)
    scale = sig - 1 - e
    m = np.rint(a * np.power(10.0, scale.astype(np.float64)))
    hi = m >= 10.0 ** sig
    e[hi] += 1
    m[hi] = np.rint(m[hi] / 10.0)
    lo = nz & (m < 10.0 ** (sig - 1))
    e[lo] -= 1
    m[lo] = np.rint(a[lo] * np.power(10.0, (sig - 1 - e[lo]).astype(np.float64)))
    e = np.clip(e, -99, 99)
    mi = m.astype(np.int64)
    w = sig + 6
    out = np.empty((n, w), np.uint8)
    out[:, 0] = np.where(x < 0, ord("-"), ord("+"))
    p = 10 ** np.arange(sig - 1, -1, -1, dtype=np.int64)
    digs = (mi[:, None] // p[None, :]) % 10 + 48
    out[:, 1] = digs[:, 0]
    out[:, 2] = ord(".")
    out[:, 3:2 + sig] = digs[:, 1:]
    out[:, 2 + sig] = ord("e")
    out[:, 3 + sig] = np.where(e < 0, ord("-"), ord("+"))
    ae = np.abs(e)
    out[:, 4 + sig] = ae // 10 + 48
    out[:, 5 + sig] = ae % 10 + 48
    return out


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
