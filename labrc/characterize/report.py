"""The report's rows and table: target | paper | measured | tolerance [source] | measured/model | result.

Each :class:`Row` says where its number comes from (``source``: :data:`MEASURED` or :data:`MODEL`) and
where its tolerance comes from (``tolerance_source``: ``paper`` when the paper states the bound,
``chosen`` when it is ours — the paper gives one value or none —, ``model`` when it follows from a model
parameter, ``none`` for a row that is reported only).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["MEASURED", "MODEL", "Row", "format_table", "pct", "spread_text"]

MEASURED, MODEL = "measured through the instrument", "model parameter"


@dataclass
class Row:
    """One target of the report."""

    target: str
    paper: str
    measured: float
    unit: str
    tolerance: str
    passed: bool
    note: str = ""               # how it was measured (protocol, devices, cycles, run files)
    source: str = MEASURED       # or MODEL
    tolerance_source: str = "chosen"    # "paper", "chosen", "model" or "none" (module doc)

    def __post_init__(self) -> None:
        self.measured = float(self.measured)
        self.passed = bool(self.passed)

    @property
    def name(self) -> str:
        return self.target

    @property
    def measured_text(self) -> str:
        return _fmt(self.measured, self.unit)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["measured_text"] = self.measured_text
        d["status"] = "PASS" if self.passed else "FAIL"
        return d


def _fmt(x: float, unit: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    ax = abs(x)
    if unit == "%" and ax < 0.01:
        txt = "< 0.01" if x >= 0 else "> -0.01"
    elif ax == 0 or 1e-2 <= ax < 1e4 or unit == "cycles":
        txt = f"{x:.3g}"
    else:
        txt = f"{x:.2e}"
    return f"{txt} {unit}".strip()


def format_table(rows: list[Row]) -> str:
    """Aligned text table: target | paper | measured | tolerance (source) | measured/model | PASS/FAIL, then notes."""
    head = ("target", "paper", "measured", "tolerance", "source", "result")
    body, notes = [], []
    for r in rows:
        tag = ""
        if r.note:
            notes.append(r.note)
            tag = f" [{len(notes)}]"
        body.append((r.target + tag, r.paper, r.measured_text, f"{r.tolerance} [{r.tolerance_source}]",
                     "measured" if r.source == MEASURED else "model parameter", "PASS" if r.passed else "FAIL"))
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]

    def line(cells) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    out = [line(head), "-+-".join("-" * w for w in widths)]
    out += [line(b) for b in body]
    n_fail = sum(not r.passed for r in rows)
    out.append("")
    out.append(f"{len(rows) - n_fail}/{len(rows)} targets pass" + (f", {n_fail} FAIL" if n_fail else ""))
    if notes:
        out.append("")
        out += [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    return "\n".join(out)


def pct(x) -> tuple[float, float, float]:
    """(median, p10, p90) of the finite values; NaNs when there are none."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not x.size:
        return (math.nan,) * 3
    return float(np.median(x)), float(np.percentile(x, 10)), float(np.percentile(x, 90))


def spread_text(x, unit: str) -> str:
    m, lo, hi = pct(x)
    return f"median {m:.3g} {unit}, p10 {lo:.3g}, p90 {hi:.3g}"
