"""The numbers of a VL/IL list's text, as float() reads each field.

One job: a list command's value text (``VLB, C, compliance, v1, v2, …``: up to 4096 comma-separated fields,
reference §2.3) to a float64 array, each comma-separated field converted by float() (which accepts the
spaces KXCI allows and refuses anything else with ValueError, i.e. −993 at the command). The simulator's
last-text cache and the 1 mV zeroing stay with the page state (:meth:`sim_backend.smu_pages.SystemPages._list_values`);
this module only parses.
"""

from __future__ import annotations

import numpy as np


def list_values(text: str) -> np.ndarray:
    """float() of every comma-separated field of ``text`` (a new array; ValueError as float() raises it)."""
    values = _few_field_values(text) if len(text) >= _FEW_FIELDS_MIN_CHARS else None
    if values is None:
        fields = text.split(",")
        # pulse lists repeat a few levels: each distinct field is converted once (float() accepts the
        # spaces KXCI allows and refuses anything else with ValueError -> -993)
        table = {f: float(f) for f in set(fields)}
        values = np.fromiter(map(table.__getitem__, fields), np.float64, len(fields))
    return values


# --- VL/IL list text with few distinct fields (a pulse train: 0 V and one or two levels) -------------
_FEW_FIELDS_MIN_CHARS = 1024          # below this the per-field dictionary is cheaper than numpy's calls
_FEW_FIELDS_MAX = 16
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], np.uint64)   # k low bytes kept


def _few_field_values(text: str) -> np.ndarray | None:
    """float() of every comma-separated field, or None when the text is not a few short fields repeated.

    Each field with its leading comma (≤ 8 bytes, no NUL) is read as one little-endian uint64 at its
    offset, its bytes beyond the field masked off (equal keys are equal texts); each distinct key is
    converted once by float() (ValueError as for the split path) and written to its points."""
    try:
        buf = ("," + text + "\0" * 8).encode("ascii")
    except UnicodeEncodeError:
        return None
    size = len(buf) - 8
    raw = np.frombuffer(buf, np.uint8, size)
    starts = np.flatnonzero(raw == 44)
    length = np.diff(starts, append=size)
    if length.max() > 8 or raw.min() == 0:
        return None
    words = np.ndarray((size,), "<u8", buffer=buf, strides=(1,))      # the 8 bytes from every offset
    keys = words[starts]
    keys &= _LOW_BYTES.take(length)
    values = np.empty(starts.size, np.float64)
    rest = keys
    for _ in range(_FEW_FIELDS_MAX):
        key = rest[0]
        token = int(key).to_bytes(8, "little").rstrip(b"\0")[1:].decode("ascii")
        values[keys == key] = float(token)
        rest = rest[rest != key]
        if not rest.size:
            return values
    return None
