"""The KXCI number codecs: DO reply text (simulator) <-> readings (driver), VL list text (driver) <-> values (simulator).

The parse must give exactly Python's ``float()`` of every field (the 4200's text is the measurement: no
ulp may be added on the host). The formatting must stay byte-identical to the implementation the
stored runs were made with (kept below as the reference), including its rounding of ties
(``a * 10**k`` rounded once by numpy, which is not always ``%+.6E``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from instruments.kxci_data import KXCIError, parse_readings
from sim_backend.replies import sci_list

SEED = 20261202
EDGE = [0.0, -0.0, 1.0, -1.0, 9.999999e-3, -9.999999e-15, 9.999999e37, -9.999999e28, 9.999999e22,
        1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, -1e-20, 1.234567e-16, -1.234567e-17, 5e-17,
        9.9e37, -9.9e37, 1e37, 1e22, -1e22, 9.999999e21, 1.000001e22, 9.999999e36, 1.5e28, 1.5e29,
        1e-99, -1e-99, 1.000001e-99, 9.999999e98, -9.999999e98, 9.9999996e-7, 9.9999995e-5,
        1e-6, 1e-7, 1e6, 1e7, 123456.7, 5e-324, 1e-100, 2.5e-7]


def random_values(n: int, seed: int = SEED) -> np.ndarray:
    """Lognormal currents of both signs around 100 nA, plus a uniform spread of exponents."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(np.log(1e-7), 3.0, n) * rng.choice([-1.0, 1.0], n)
    x[: n // 4] = rng.uniform(1.0, 10.0, n // 4) * 10.0 ** rng.integers(-99, 99, n // 4) * rng.choice([-1, 1], n // 4)
    return x


def float_reference(text: str, lettered: bool) -> np.ndarray:
    """What the parse must return: float() of every field, sentinels (|x| >= 1e37, 1e22) as NaN."""
    vals = np.array([float(f[1:] if lettered else f) for f in text.split(",")], np.float64)
    vals[(np.abs(vals) >= 1e37) | (vals == 1e22)] = np.nan
    return vals


def same_floats(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-identical, NaN equal to NaN (so -0.0 != 0.0)."""
    return a.shape == b.shape and bool(np.all((a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))))


# --- parse: exactly float() ------------------------------------------------------------------------

@pytest.mark.parametrize("lettered", [True, False])
def test_parse_of_do_text_is_exactly_float_of_every_field(lettered):
    x = np.concatenate([np.array(EDGE), random_values(120_000)])
    letters = np.random.default_rng(SEED).choice(list("NCLVXT"), x.size) if lettered else None
    text = sci_list(x, 7, letters)
    vals, status = parse_readings(text)
    assert same_floats(vals, float_reference(text, lettered))
    assert status.tolist() == (letters.tolist() if lettered else ["N"] * x.size)


def test_parse_exact_for_every_exponent_and_mantissa_extreme():
    """Each exponent -99..+99 with mantissas 1.000000, 9.999999 and a random one, both signs."""
    rng = np.random.default_rng(SEED + 1)
    fields = []
    for e in range(-99, 100):
        for mant in ("1.000000", "9.999999", "0.000000", f"{rng.integers(1, 10)}.{rng.integers(0, 10**6):06d}"):
            for sign in "+-":
                fields.append(f"N{sign}{mant}E{'-' if e < 0 else '+'}{abs(e):02d}")
    fields.append("C-0.000000E-00")
    text = ",".join(fields)
    vals, _ = parse_readings(text)
    assert same_floats(vals, float_reference(text, True))


def test_parse_sentinels_become_nan():
    vals, st = parse_readings("N+9.900000E+37,C+1.000000E+22,N-1.000000E+22,N+9.999999E+36,T-9.900000E+37")
    assert np.isnan(vals[[0, 1, 4]]).all()
    assert vals[2] == -1e22 and vals[3] == 9.999999e36
    assert st.tolist() == ["N", "C", "N", "N", "T"]


def test_parse_single_values_and_negative_zero():
    assert parse_readings("N+1.000000E+00")[0].tolist() == [1.0]
    assert parse_readings("+2.500000E-07")[0].tolist() == [2.5e-7]
    v = parse_readings("N-0.000000E+00,+0.000000E+00")[0]
    assert math.copysign(1.0, v[0]) == -1.0 and math.copysign(1.0, v[1]) == 1.0


@pytest.mark.parametrize("bad", [
    "N+1.234567E-06,N+1.234567E-0x",     # not a digit
    "N+1.234567E-06,Q+1.234567E-06",     # not a status letter
    "N+1.234567E-06,N*1.234567E-06",     # not a sign
    "N+1.234567E-06;N+1.234567E-06",     # not a comma
    "N+1.234567X-06,N+1.234567E-06",     # not E
    "+1.234567E-06,+1.234567E*06",
])
def test_malformed_fixed_width_text_is_refused_not_misread(bad):
    with pytest.raises(KXCIError):
        parse_readings(bad)


def test_variant_forms_still_parse_exactly():
    """Non-fixed-width variants (KXCI-E p. 2-11) go through the general path, also exactly float()."""
    text = "N 4.3555E-15,N+54.978E-15,C-1.0E-06,449.83E-15,N 9.9E+37,N+1.2345678E-07,N+1.234567E-106"
    vals, st = parse_readings(text)
    want = [4.3555e-15, 54.978e-15, -1.0e-06, 449.83e-15, math.nan, float("1.2345678E-07"), float("1.234567E-106")]
    assert same_floats(vals, np.array(want))
    assert st.tolist() == ["N", "N", "C", "N", "N", "N", "N"]
