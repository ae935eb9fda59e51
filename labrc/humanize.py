"""What the operator reads at a glance: quantities with SI units, durations in h/min, a run's one-line
result, exit-code meanings.

Pure formatting (no numpy, no h5py, no matplotlib): imported by the run loop, the CLI, the Python API,
the figures (labrc.plots re-exports :func:`si` and :func:`num`) and protocols/ alike. The one home of
unit/number formatting: a new printer of values belongs here, not beside its caller.
"""

from __future__ import annotations

import math
from typing import Any

from .outcome import (
    EXIT_ABORTED,
    EXIT_BAD_INPUT,
    EXIT_DEVICE_FAILURE,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SAFE_STATE_UNVERIFIED,
)

# the table of labrc.outcome's docstring, one phrase per code
EXIT_MEANINGS = {
    EXIT_OK: "the plan ran to its end; safe state verified",
    EXIT_RUN_FAILED: "a software, instrument or storage error ended the run",
    EXIT_BAD_INPUT: "refused before any voltage",
    EXIT_DEVICE_FAILURE: "the device under test failed",
    EXIT_SAFE_STATE_UNVERIFIED: "the outputs were NOT verified at 0 V / off: check the instrument now",
    EXIT_ABORTED: "operator stop",
}

# the protocol's key figure in the one-line result: (Protocol.summary key, label, format)
KEY_FIGURES: dict[str, list[tuple[str, str, str]]] = {
    "iv-sweep": [("on_off_0p1v", "ON/OFF at 0.1 V", ".3g"), ("set_v", "SET", ".3g V"), ("reset_v", "RESET", ".3g V")],
    "volatile-endurance": [("on_off_median", "ON/OFF median", ".3g"), ("failing_cycles", "failing cycles", ",d")],
    "nonvolatile-endurance": [("on_off_median", "ON/OFF median", ".3g"), ("failing_cycles", "failing cycles", ",d")],
    "icc-set": [("slope_s_per_a", "G/Icc slope", ".3g S/A"), ("r2", "R²", ".3f")],
    "spike-train": [("reads_in_compliance", "reads in compliance", ".1%")],
    "retention": [("retained_fraction", "G retained", ".1%"), ("t_final_s", "after", "duration")],
    "reconfigure": [("returned_to_volatile", "back to volatile", "bool")],
}


# SI prefixes by engineering exponent: a value's |v| lands in [1, 1000) of its prefixed unit
SI_PREFIX = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G"}


def si_exponent_of(v: float) -> int:
    """Engineering exponent (multiple of 3, clipped to f…G) that puts |v| in [1, 1000); 0 for 0/inf/nan."""
    a = abs(float(v))
    if not (math.isfinite(a) and a > 0):
        return 0
    return int(min(max(3 * math.floor(math.log10(a) / 3 + 1e-9), -15), 9))


def si(value: float | None, unit: str, digits: int = 3) -> str:
    """A quantity as a person writes it: ``1 µA``, ``10 mA``, ``1.667 ms``, ``0.1 V``, ``−7 V``.

    Volts from 10 mV up keep the plain unit (the paper writes 0.1 V, not 100 mV)."""
    if value is None:
        return "—"
    v = float(value)
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if math.isnan(v):
        return "n/a"
    if v == 0:
        return f"0 {unit}".strip()
    if unit == "V" and abs(v) >= 1e-2:
        e = 0
    elif unit == "s" and abs(v) >= 1e3:            # 10⁵ s, not 100 ks (how retention times are written)
        return f"{_power_of_ten(v, digits)} s"
    else:
        e = si_exponent_of(v)
    txt = f"{v / 10.0 ** e:.{digits}g}".replace("-", "−")
    return f"{txt} {SI_PREFIX[e]}{unit}".strip()


def num(x: float, digits: int = 3) -> str:
    """A dimensionless number (a ratio) to ``digits`` significant digits, plainly: ``931``, ``2200``,
    ``1.79e5`` (not ``2.2e+03``)."""
    x = float(x)
    if not math.isfinite(x):
        return "∞" if x > 0 else "−∞" if x < 0 else "n/a"
    r = float(f"{x:.{digits}g}")
    if r != 0 and not 1e-3 <= abs(r) < 1e5:
        m, e = f"{r:.{digits - 1}e}".split("e")
        m = m.rstrip("0").rstrip(".")
        return f"{m}e{int(e)}"
    return f"{r:g}"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power_of_ten(v: float, digits: int) -> str:
    """``10⁵``, ``2.5 × 10⁴``."""
    e = math.floor(math.log10(abs(v)))
    m = v / 10.0 ** e
    exp = "10" + str(e).translate(_SUPERSCRIPT)
    return exp if abs(m - 1) < 1e-9 else f"{m:.{digits}g} × {exp}".replace("-", "−")


OPEN_BOUND = 2**62        # an integer bound this large (the seed's 2**63 - 1) is no bound: printed as ∞


def param_value(x: Any, unit: str, typ: str) -> str:
    """A parameter value or bound as `labrc protocols` lists it: ``1.667 ms``, ``1 µA``, ``100 nA``,
    ``-7 V``, ``10000000``, ``1e9``, ``∞`` — small A/S/s/V values with the unit's SI prefix (:func:`si`,
    4 significant digits), integers in full, exponents as the operator types them."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if not isinstance(x, (int, float)):
        return str(x)
    if math.isinf(x) or (typ == "int" and abs(x) >= OPEN_BOUND):
        return "∞"
    u = f" {unit}" if unit else ""
    if typ == "int" or x == 0:
        return f"{int(x)}{u}" if float(x).is_integer() else f"{x:g}{u}"
    if unit in ("A", "S", "s", "V") and abs(x) < (0.01 if unit == "V" else 1):
        return si(x, unit, 4).replace("−", "-")    # typed values keep the ASCII minus
    return f"{_typed(x, 4)}{u}"


def _typed(v: float, digits: int) -> str:
    """``digits`` significant digits, exponents as the operator types them (1e9, not 1e+09)."""
    t = f"{v:.{digits}g}"
    if "e" in t:
        m, e = t.split("e")
        t = f"{m}e{int(e)}"
    return t


def format_duration(seconds: float) -> str:
    """``6 h 05 min``, ``12 min 30 s``, ``4.2 s``, ``3 d 04 h`` — never ``2.19e+04 s``."""
    s = float(seconds)
    if not math.isfinite(s):
        return "unknown"
    if s < 0:
        s = 0.0
    if s < 10:
        return f"{s:.1f} s" if s >= 0.05 else "< 0.1 s"
    s = round(s)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{m} min {r:02d} s"
    m = round(s / 60)
    if m < 24 * 60:
        h, m = divmod(m, 60)
        return f"{h} h {m:02d} min"
    h = round(s / 3600)
    d, h = divmod(h, 24)
    return f"{d} d {h:02d} h"


def _fmt(value: Any, fmt: str) -> str:
    if fmt == "bool":
        return "yes" if value else "no"
    if fmt == "duration":
        return format_duration(value)
    spec, _, unit = fmt.partition(" ")
    try:
        text = format(value, spec)
    except (TypeError, ValueError):
        text = str(value)
    return f"{text} {unit}" if unit else text


def key_figures(protocol: str, summary: dict) -> list[str]:
    """``["ON/OFF median 1.2e+03", "failing cycles 0"]``: the protocol's key figures present in ``summary``."""
    out = []
    for key, label, fmt in KEY_FIGURES.get(protocol, []):
        v = summary.get(key)
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            continue
        out.append(f"{label} {_fmt(v, fmt)}")
    return out


def result_line(status: str, code: int, rows: int | None, unit: str, protocol: str = "",
                summary: dict | None = None, failure: dict | None = None) -> str:
    """The one line that ends a run: status, rows, key figure, failure cycle, exit code and its meaning."""
    parts = [status]
    if rows is not None:
        parts.append(f"{rows:,} {unit[:-1] if rows == 1 and unit.endswith('s') else unit}")
    parts += key_figures(protocol, summary or {})
    if failure:
        parts.append(f"{failure.get('mode', 'failure')} from cycle {failure.get('cycle', '?')}")
    meaning = EXIT_MEANINGS.get(code, "")
    return f"result: {' | '.join(parts)} | exit {code}" + (f" ({meaning})" if meaning else "")
