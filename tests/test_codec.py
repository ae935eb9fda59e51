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


# --- format: byte-identical to the implementation the stored runs were made with ------------------

_REF_POW10 = None


def reference_fixed_into(out: np.ndarray, col: int, x: np.ndarray, sig: int, e_char: int) -> None:
    """pmu_format.fixed_into as of e55dde1 (kept verbatim as the reference for the text)."""
    global _REF_POW10
    if _REF_POW10 is None:
        with np.errstate(over="ignore"):
            _REF_POW10 = np.power(10.0, np.arange(-340, 341, dtype=np.int64).astype(np.float64))
    a = np.abs(x)
    nz = a > 0
    with np.errstate(divide="ignore"):
        e = np.where(nz, np.floor(np.log10(a)), 0.0).astype(np.int64)
    m = np.rint(a * _REF_POW10[sig - 1 - e + 340])
    hi = m >= 10.0 ** sig
    if hi.any():
        e[hi] += 1
        m[hi] = np.rint(m[hi] / 10.0)
    lo = nz & (m < 10.0 ** (sig - 1))
    if lo.any():
        e[lo] -= 1
        m[lo] = np.rint(a[lo] * _REF_POW10[sig - 1 - e[lo] + 340])
    np.clip(e, -99, 99, out=e)
    mi = m.astype(np.int64)
    out[:, col] = np.where(x < 0, 45, 43)
    p = 10 ** np.arange(sig - 1, -1, -1, dtype=np.int64)
    digs = (mi[:, None] // p[None, :]) % 10 + 48
    out[:, col + 1] = digs[:, 0]
    out[:, col + 2] = 46
    out[:, col + 3:col + 2 + sig] = digs[:, 1:]
    out[:, col + 2 + sig] = e_char
    out[:, col + 3 + sig] = np.where(e < 0, 45, 43)
    ae = np.abs(e)
    out[:, col + 4 + sig] = ae // 10 + 48
    out[:, col + 5 + sig] = ae % 10 + 48


def reference_sci_list(values: np.ndarray, letters: np.ndarray | None = None) -> str:
    """replies.sci_list (7 digits) as of e55dde1."""
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n == 0:
        return ""
    v = np.where(np.abs(v) < 1e-99, 0.0, np.clip(v, -9.999999e98, 9.999999e98))
    lead = 0 if letters is None else 1
    rows = np.empty((n, lead + 14), np.uint8)
    reference_fixed_into(rows, lead, v, 7, ord("E"))
    rows[:, -1] = ord(",")
    if letters is not None:
        rows[:, 0] = np.ascontiguousarray(letters, dtype="<U1").view(np.uint32).astype(np.uint8)
    return rows.tobytes()[:-1].decode("ascii")


def carries_and_ties(seed: int = SEED) -> np.ndarray:
    """Values whose 7-digit rounding carries into the next decade, sits at a tie, or whose log10
    rounds across a power of ten; and values at the 1e-99 / 9.999999e98 clipping edges."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(-105, 105):
        p = 10.0 ** k
        out += [p, np.nextafter(p, 0), np.nextafter(p, np.inf), 9.9999996 * 10.0 ** (k - 1),
                9.9999995 * 10.0 ** (k - 1), 9.99999949999 * 10.0 ** (k - 1), 1.0000005 * p, 1.0000015 * p]
    mant = rng.integers(1_000_000, 10_000_000, 20_000) + 0.5           # ties at 7 digits
    out += (mant * 10.0 ** rng.integers(-105, 100, mant.size).astype(float) * 1e-6).tolist()
    out += [1e-99, np.nextafter(1e-99, 0), np.nextafter(1e-99, 1), 9.999999e98, np.nextafter(9.999999e98, np.inf),
            9.9999995e98, 1e99, 1e300, 5e-324, 2.2e-308, 1e-100, 0.0, -0.0]
    x = np.array(out, np.float64)
    return np.concatenate([x, -x])


@pytest.mark.parametrize("lettered", [True, False])
def test_sci_list_text_is_byte_identical_to_the_reference(lettered):
    x = np.concatenate([np.array(EDGE), carries_and_ties(), random_values(100_000, SEED + 2),
                        np.array([np.inf, -np.inf])])
    letters = np.random.default_rng(SEED).choice(list("NC"), x.size) if lettered else None
    assert sci_list(x, 7, letters) == reference_sci_list(x, letters)


def test_sci_list_short_lists_and_empty():
    for n in (1, 2, 3, 30, 200):
        x = random_values(n, SEED + n)
        assert sci_list(x, 7, np.full(n, "N")) == reference_sci_list(x, np.full(n, "N"))
        assert sci_list(x) == reference_sci_list(x)
    assert sci_list(np.empty(0)) == ""


def test_sci_list_agrees_with_percent_format_away_from_ties():
    """Away from ties the text is Python's ``%+.6E`` (the format the reference manual shows)."""
    x = random_values(20_000, SEED + 3)
    x = x[(np.abs(x) >= 1e-99) & (np.abs(x) < 9.999999e98)]
    text = sci_list(x)
    want = ",".join("%+.6E" % v for v in x.tolist())
    got, exp = text.split(","), want.split(",")
    differ = [i for i in range(len(got)) if got[i] != exp[i]]
    # a differing field is a half-unit tie that a*10**k rounded the other way: one unit in the 7th digit
    for i in differ:
        assert abs(float(got[i]) - float(exp[i])) <= 1.0000001e-6 * abs(float(exp[i]))
    assert len(differ) <= len(got) * 1e-3


@pytest.mark.parametrize("sig", [7, 10])
def test_pmu_fields_are_byte_identical_to_the_reference(sig):
    from sim_backend.pmu_format import fmt_fixed
    rng = np.random.default_rng(SEED + sig)
    x = np.concatenate([np.array(EDGE[:-3]), carries_and_ties(SEED + sig)[:2000], random_values(50_000, SEED + sig),
                        rng.uniform(0, 1.0, 20_000).round(8)])     # PMU timestamps on the 10 ns grid
    x = x[np.abs(x) < 1e100]
    want = np.empty((x.size, sig + 6), np.uint8)
    reference_fixed_into(want, 0, x, sig, ord("e"))
    assert np.array_equal(fmt_fixed(x, sig), want)


def test_fixed_into_writes_into_a_column_of_a_wider_matrix():
    from sim_backend.pmu_format import fixed_into
    x = random_values(500, SEED + 4)
    got = np.full((500, 20), ord("#"), np.uint8)
    want = got.copy()
    fixed_into(got, 3, x, 7, ord("e"))
    reference_fixed_into(want, 3, x, 7, ord("e"))
    assert np.array_equal(got, want)
    view = np.full((500, 30), ord("#"), np.uint8)[:, 5:25]          # not C-contiguous: the copy path
    fixed_into(view, 3, x, 7, ord("e"))
    assert np.array_equal(view, want)


def test_sci_list_nan_does_not_raise():
    """NaN is not a 4200 reading (the reference wrote garbage digits); it must not crash the simulator."""
    with np.errstate(invalid="ignore"):          # numpy warns in the cast, as it did before
        text = sci_list(np.array([np.nan, 1.0]), 7, np.array(["N", "N"]))
    assert len(text) == 29 and text.endswith("N+1.000000E+00")


# --- VL list text: fmt_list (driver) and the simulator's list parse ----------------------------------

def reference_fmt_list(values) -> str:
    """limits.fmt_list as of e55dde1: fmt_num of every point."""
    from instruments.limits import fmt_num
    return ",".join(fmt_num(x) for x in np.asarray(values, np.float64).tolist())


@pytest.mark.parametrize("n", [1, 5, 63, 64, 65, 200, 4095, 4096])
def test_fmt_list_text_is_unchanged_for_few_and_many_levels(n):
    from instruments.limits import fmt_list
    rng = np.random.default_rng(SEED + n)
    two = np.where(rng.random(n) < 0.2, 1.2, 0.0)
    two[:: max(n // 3, 1)] = -0.0
    eight = rng.choice([0.0, -0.5, 0.25, 1.5, -1.234567891e-6, 3.3, 0.1, 2e-3], n)
    nine = rng.choice([0.0, -0.5, 0.25, 1.5, -1.234567891e-6, 3.3, 0.1, 2e-3, 7.0], n)
    many = rng.uniform(-2, 2, n)
    for v in (two, eight, nine, many, np.zeros(n)):
        assert fmt_list(v) == reference_fmt_list(v)
        assert fmt_list(v.tolist()) == reference_fmt_list(v)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1.5e120])
def test_fmt_list_refuses_values_kxci_cannot_carry(bad):
    from instruments.limits import LimitError, fmt_list
    for n in (3, 500):
        v = np.zeros(n)
        v[n // 2] = bad
        with pytest.raises(LimitError, match="voltages_v"):
            fmt_list(v, "voltages_v")


def sim_list_values(text: str) -> np.ndarray:
    """The simulator's VL/IL list parse (sim_backend.list_text), without the pages' last-text cache."""
    from sim_backend.list_text import list_values
    return list_values(text)


def reference_list_values(text: str) -> np.ndarray:
    return np.array([float(f) for f in text.split(",")], np.float64)


@pytest.mark.parametrize("n", [1, 30, 200, 300, 1000, 4096])
def test_sim_list_parse_is_float_of_every_field(n):
    from instruments.limits import fmt_list
    rng = np.random.default_rng(SEED + 7 * n)
    lists = [np.where(rng.random(n) < 0.1, 1.2, 0.0), rng.choice([0.0, -0.5, 2.5, 1e-6, -3.3], n),
             rng.uniform(-2, 2, n), rng.choice(np.arange(20) * 0.1 - 1, n)]
    for v in lists:
        text = fmt_list(v)
        assert same_floats(sim_list_values(text), reference_list_values(text))
    spaced = ", ".join(["0", " 1.2", "0 ", "-0", "+1E-3", "1.", ".5", "-0.0"] * (n // 8 + 1))
    assert same_floats(sim_list_values(spaced), reference_list_values(spaced))


@pytest.mark.parametrize("bad", ["1.2,,0", "1.2,x", "1.2,0,", "1,2\0,1", "1,2e,1", "1,0x10,1", "1,1.2.3,4"])
def test_sim_list_parse_refuses_what_float_refuses(bad):
    for text in (bad, ",".join([bad] * 400)):
        with pytest.raises(ValueError):
            sim_list_values(text)
