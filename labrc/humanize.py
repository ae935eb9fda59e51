"""What the operator reads at a glance: durations in h/min, a run's one-line result, exit-code meanings.

Pure formatting (no numpy, no h5py): imported by the run loop, the CLI and the Python API alike.
"""

from __future__ import annotations

import math
from typing import Any

from .outcome import (EXIT_ABORTED, EXIT_BAD_INPUT, EXIT_DEVICE_FAILURE, EXIT_OK, EXIT_RUN_FAILED,
                      EXIT_SAFE_STATE_UNVERIFIED)

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
