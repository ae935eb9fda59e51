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

# Exponents are handled as table indices e - _E_ZERO. _E_ZERO is the exponent given to 0 (log10 of the
# smallest double) and to NaN: its scale is 0 (the mantissa 0), its text "+00". (The subnormals below
# 1e-323 share it; the old code's scale 10**330 was inf there, its text garbage.)
_E_ZERO = -324
_SMALLEST = 5e-324
_E_MAX = 340
_E_RANGE = np.arange(_E_ZERO, _E_MAX + 1, dtype=np.int64)


def _u32(text_rows: list[bytes]) -> np.ndarray:
    """4-byte texts as little-endian uint32 (written into a row, the bytes land in text order)."""
    return np.frombuffer(b"".join(text_rows), "<u4").copy()


_DIGIT4 = _u32([b"%04d" % k for k in range(10000)])                              # "DDDD"
# "±D.DD" + 3 bytes the digit words overwrite, as little-endian uint64, indexed by sign * 1000 + DDD
_SIGN_D012 = np.frombuffer(b"".join(b"%c%d.%02d000" % (s, k // 100, k % 100) for s in b"+-" for k in range(1000)),
                           "<u8").copy()
_SCALES: dict[int, np.ndarray] = {}
_EXPONENTS: dict[int, np.ndarray] = {}


def _scale_table(sig: int) -> np.ndarray:
    """10**(sig-1-e) per e - _E_ZERO: the reference _POW10 entries, 0 for the zero marker."""
    t = _SCALES.get(sig)
    if t is None:
        t = _POW10[np.clip(sig - 1 - _E_RANGE - _POW10_MIN, 0, _POW10.size - 1)]
        t[0] = 0.0
        _SCALES[sig] = t
    return t


def _exponent_table(e_char: int) -> np.ndarray:
    """``<e_char>±EE`` per e - _E_ZERO, the exponent clipped to ±99 as the 2-digit field allows."""
    t = _EXPONENTS.get(e_char)
    if t is None:
        e = np.clip(_E_RANGE, -99, 99)
        e[0] = 0
        t = _u32([b"%c%c%02d" % (e_char, 45 if k < 0 else 43, abs(k)) for k in e.tolist()])
        _EXPONENTS[e_char] = t
    return t


def fmt_fixed(x: np.ndarray, sig: int) -> np.ndarray:
    """Vectorized ``%+.{sig-1}e``-style text as a (n, sig + 6) uint8 matrix (e.g. ``+1.234567e-06``)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((x.size, sig + 6), np.uint8)
    fixed_into(out, 0, x, sig, ord("e"))
    return out


def fixed_into(out: np.ndarray, col: int, x: np.ndarray, sig: int, e_char: int) -> None:
    """Write ``±D.DDDDDD<e_char>±EE`` (``sig`` digits) of every value into ``out[:, col:col + sig + 6]``.

    The same bytes as ``%+.{sig-1}e`` for finite values with |x| < 1e100, except that a mantissa
    ``a * 10**k`` is rounded once by numpy (ties can differ from ``%``)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    fixed_abs_into(out, col, np.abs(x), x < 0, sig, e_char)


def fixed_abs_into(out: np.ndarray, col: int, a: np.ndarray, neg: np.ndarray, sig: int, e_char: int) -> None:
    """:func:`fixed_into` of the values ``-a`` where ``neg`` else ``a`` (``a`` >= 0; ``a`` may be clobbered).

    Whole-column numpy operations, few of them (this text is most of a ``DO`` reply's cost): the
    exponent from log10, the mantissa rounded to ``sig`` digits (a rounding that carries into the next
    decade, or a log10 one below, corrected), then the bytes as uint32 words looked up in tables
    ("±D.D", "DDDD", "E±EE") and stored at their row offsets."""
    if sig < 6:    # the instrument's texts have 7 (V, I) or 10 (T) digits; the word tables need >= 6
        raise ValueError(f"sig={sig}: 6 or more significant digits")
    if not (out.flags.c_contiguous and out.dtype == np.uint8 and out.ndim == 2):
        tmp = np.empty((a.size, sig + 6), np.uint8)
        _fixed_rows(tmp, 0, a, neg, sig, e_char)
        out[:, col:col + sig + 6] = tmp
        return
    _fixed_rows(out, col, a, neg, sig, e_char)


def _exponents(a: np.ndarray) -> np.ndarray:
    """floor(log10(a)) as int64; _E_ZERO for 0 (log10 of the smallest double instead of -inf).

    No np.errstate (3 us a call, most of a short reply's cost): 0 never reaches log10, and only a NaN
    warns in the cast, as before."""
    le = np.maximum(a, _SMALLEST)
    np.log10(le, out=le)
    np.floor(le, out=le)
    return le.astype(np.int64)


def _mantissas(a: np.ndarray, sig: int) -> tuple[np.ndarray, np.ndarray]:
    """(e - _E_ZERO, the rounded ``sig``-digit mantissa as float64) of every value."""
    scale = _scale_table(sig)
    k = _exponents(a)
    k -= _E_ZERO
    m = scale.take(k, mode="clip")
    m *= a
    np.rint(m, out=m)
    lo_m, hi_m = 10.0 ** (sig - 1), 10.0 ** sig
    hi = m >= hi_m                                      # rounded up into the next decade
    if np.count_nonzero(hi):
        hi = np.flatnonzero(hi)
        k[hi] += 1
        m[hi] = np.rint(m[hi] / 10.0)
    lo = m < lo_m                                       # log10 rounded up: one decade lower (not 0)
    if np.count_nonzero(lo):
        lo = np.flatnonzero(lo)
        lo = lo[a[lo] > 0]
        k[lo] -= 1
        m[lo] = np.rint(a[lo] * scale.take(k[lo], mode="clip"))
    return k, m


_ROW_DTYPES: dict[tuple[int, int, int], np.dtype] = {}


def _row_words(out: np.ndarray, col: int, sig: int) -> np.ndarray:
    """``out`` (C-contiguous uint8 rows) as records of the words of one number at column ``col``:
    ``s`` = uint64 "±D.DD..." at col, ``d<k>`` = uint32 digits k..k+3 at col+2+k (they overwrite the
    tail of ``s``), ``e`` = uint32 "E±EE" at col+sig+2. Unaligned, overlapping fields: one view instead
    of one array per word; the fields are written in that order."""
    key = (col, out.shape[1], sig)
    dt = _ROW_DTYPES.get(key)
    if dt is None:
        starts = list(range(3, sig - 4, 4)) + [sig - 4]
        names = ["s"] + [f"d{k}" for k in starts] + ["e"]
        offsets = [col] + [col + 2 + k for k in starts] + [col + sig + 2]
        formats = ["<u8"] + ["<u4"] * (len(names) - 1)
        dt = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": out.shape[1]})
        _ROW_DTYPES[key] = dt
    return out.view(dt).reshape(-1)


def _fixed_rows(out: np.ndarray, col: int, a: np.ndarray, neg: np.ndarray, sig: int, e_char: int) -> None:
    """The text of :func:`fixed_abs_into` for ``sig`` >= 6, into a C-contiguous uint8 ``out``."""
    if a.size == 0:
        return
    k, m = _mantissas(a, sig)
    m += neg * 10.0 ** sig                              # a leading digit 1 = '-': "±D.DD" indexed by it
    mi = m.astype(np.int64)
    rows = _row_words(out, col, sig)
    rows["s"] = _SIGN_D012.take(mi // 10 ** (sig - 3), mode="clip")
    for name in rows.dtype.names[1:-1]:                 # digits d3..d(sig-1), the last word flush right
        d = int(name[1:])
        q = mi // 10 ** (sig - 4 - d) if sig - 4 - d else mi
        rows[name] = _DIGIT4.take(q % 10000, mode="clip")
    rows["e"] = _exponent_table(e_char).take(k, mode="clip")


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
