"""How far two runs of one protocol differ: a few summary figures per protocol, a table, a figure.

``labrc compare RUN_A RUN_B [-o fig.png]``. The figures are the ones a person compares two runs by
(and the ones :mod:`labrc.fit` fits the model with):

* I–V loops (``iv-sweep``): per sweep the SET and RESET voltages and the currents at the +0.1 V read
  points (HRS on the way up, LRS on the way down): median over sweeps and their spread (σ);
* endurance: ON/OFF median and spread (σ of log10 ON/OFF), ON and OFF currents, the failure cycle;
* ``icc-set``: the Icc → G line (slope, intercept, R²) and the level spread (median σ_G/G);
* ``spike-train``: the node traces pattern by pattern (matched by seq): correlation and RMS difference
  of node G, and each run's mean node G;
* ``retention``: first and last conductance, retained fraction, and the correlation of log G over the
  common read times;
* any other protocol: the numbers of its ``summary()``.

Each row is ``(figure, A, B, B − A, (B − A)/|A|)``; the figure draws the two runs side by side on the
same axes (matplotlib :class:`~matplotlib.figure.Figure`, returned; the CLI saves it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .store import RunReader

__all__ = ["CompareError", "Comparison", "Row", "compare_runs", "run_figures"]

READ_V = 0.1          # the read voltage of the I–V loops (protocols.iv_sweep.iv_summary reads at 0.1 V)


class CompareError(ValueError):
    """Two runs that cannot be compared (different protocols, no rows): one line."""


@dataclass
class Row:
    name: str
    unit: str
    a: float | None
    b: float | None

    @property
    def diff(self) -> float | None:
        if self.a is None or self.b is None:
            return None
        return self.b - self.a

    @property
    def rel(self) -> float | None:
        d = self.diff
        if d is None or not self.a or not math.isfinite(self.a):
            return None
        return d / abs(self.a)


@dataclass
class Comparison:
    protocol: str
    run_a: str
    run_b: str
    rows: list[Row]
    joint: dict[str, float] = field(default_factory=dict)   # figures of the pair (correlation, RMS)
    figure: Any = None

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def table(self) -> str:
        """A small aligned table: figure, unit, A, B, B − A, relative difference."""
        def f(x: float | None) -> str:
            return "—" if x is None else ("nan" if not math.isfinite(x) else f"{x:.4g}")
        head = f"{self.protocol}: A = {self.run_a}  B = {self.run_b}"
        lines = [head, f"{'figure':<24} {'unit':<5} {'A':>11} {'B':>11} {'B-A':>11} {'rel':>8}"]
        for r in self.rows:
            rel = "—" if r.rel is None else f"{100 * r.rel:+.1f}%"
            lines.append(f"{r.name:<24} {r.unit:<5} {f(r.a):>11} {f(r.b):>11} {f(r.diff):>11} {rel:>8}")
        for k, v in self.joint.items():
            lines.append(f"{k:<24} {'':<5} {f(v):>11}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "run_a": self.run_a, "run_b": self.run_b,
                "rows": [{"name": r.name, "unit": r.unit, "a": r.a, "b": r.b, "diff": r.diff, "rel": r.rel}
                         for r in self.rows], "joint": self.joint}


def _f(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _stats(values: list[float] | np.ndarray) -> tuple[float | None, float | None]:
    a = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if not a.size:
        return None, None
    return float(np.median(a)), (float(a.std(ddof=1)) if a.size > 1 else 0.0)


# ----------------------------------------------------------------------------- per protocol figures
def iv_figures(r: RunReader) -> dict[str, tuple[float | None, str]]:
    """Per-sweep SET/RESET voltages and read currents at +0.1 V: median and σ over the sweeps."""
    from protocols.iv_sweep import iv_summary
    p = r.stream("points")
    per: dict[str, list] = {"set_v": [], "reset_v": [], "i_read_up_a": [], "i_read_down_a": []}
    for s in np.unique(p["sweep"]):
        m = p["sweep"] == s
        out = iv_summary(p["v_set"][m], p["i_meas"][m], p["compliance"][m].astype(bool), p["sweep"][m])
        for k, vals in per.items():
            vals.append(_f(out.get(k)))
    units = {"set_v": "V", "reset_v": "V", "i_read_up_a": "A", "i_read_down_a": "A"}
    res: dict[str, tuple[float | None, str]] = {"sweeps": (float(len(per["set_v"])), "")}
    for k, vals in per.items():
        med, sd = _stats(vals)
        if med is None:
            continue
        res[f"{k} median"] = (med, units[k])
        res[f"{k} sigma"] = (sd, units[k])
    return res


def endurance_figures(r: RunReader) -> dict[str, tuple[float | None, str]]:
    c = r.stream("cycles")
    if not c["seq"].size:
        return {"cycles": (0.0, "")}
    lg = np.log10(np.maximum(c["on_off"], 1e-30))
    fail = (r.failure or {}).get("cycle")
    return {"cycles": (float(c["seq"].size), ""), "on_off median": (float(np.nanmedian(c["on_off"])), ""),
            "log10 on_off sigma": (float(np.nanstd(lg, ddof=1)) if lg.size > 1 else 0.0, "dec"),
            "i_on median": (float(np.nanmedian(c["i_write"])), "A"),
            "i_off median": (float(np.nanmedian(c["i_read_before"])), "A"),
            "failure cycle": (_f(fail), "")}


def icc_figures(r: RunReader) -> dict[str, tuple[float | None, str]]:
    from protocols.icc_set import icc_fit
    lv = r.stream("levels")
    fit = icc_fit(lv)
    g = np.asarray(fit.get("g_mean_s", []), np.float64)
    sd = np.asarray(fit.get("g_std_s", []), np.float64)
    rel = sd / np.where(g > 0, g, np.nan) if g.size else np.empty(0)
    return {"levels": (float(lv["icc"].size), ""), "slope": (_f(fit.get("slope_s_per_a")), "S/A"),
            "intercept": (_f(fit.get("intercept_s")), "S"), "r2": (_f(fit.get("r2")), ""),
            "V_c = 1/slope": (_f(1.0 / fit["slope_s_per_a"]) if fit.get("slope_s_per_a") else None, "V"),
            "G spread median": (_f(np.nanmedian(rel)) if np.isfinite(rel).any() else None, ""),
            "g_hrs median": (_f(np.median(lv["g_hrs"])) if lv["g_hrs"].size else None, "S")}


def spike_figures(r: RunReader) -> dict[str, tuple[float | None, str]]:
    s = r.stream("patterns")
    g = s["node_g"]
    return {"patterns": (float(s["seq"].size), ""),
            "node_g mean": (_f(g.mean()) if g.size else None, "S"),
            "node_g max": (_f(g.max()) if g.size else None, "S"),
            "spikes mean": (_f(s["n_spikes"].mean()) if s["n_spikes"].size else None, "")}


def retention_figures(r: RunReader) -> dict[str, tuple[float | None, str]]:
    x = r.stream("reads")
    g = x["g"]
    if not g.size:
        return {"reads": (0.0, "")}
    return {"reads": (float(g.size), ""), "g initial": (float(g[0]), "S"), "g final": (float(g[-1]), "S"),
            "retained fraction": (_f(g[-1] / g[0]) if g[0] else None, ""), "t final": (float(x["t"][-1]), "s")}


def summary_figures(r: RunReader) -> dict[str, tuple[float | None, str]]:
    from protocols import PROTOCOLS
    proto = PROTOCOLS.get(r.metadata.get("protocol", ""))
    out = proto.summary(r) if proto else {}
    return {k: (_f(v), "") for k, v in out.items() if _f(v) is not None}


FIGURES: dict[str, Callable[[RunReader], dict[str, tuple[float | None, str]]]] = {
    "iv-sweep": iv_figures, "volatile-endurance": endurance_figures, "nonvolatile-endurance": endurance_figures,
    "icc-set": icc_figures, "spike-train": spike_figures, "retention": retention_figures}


def run_figures(r: RunReader) -> dict[str, tuple[float | None, str]]:
    """The comparison figures of one run, by its protocol: ``{name: (value or None, unit)}``."""
    return FIGURES.get(r.metadata.get("protocol", ""), summary_figures)(r)


def _joint(protocol: str, a: RunReader, b: RunReader) -> dict[str, float]:
    """Figures of the pair: how alike the traces are, point for point (common prefix, matched by seq)."""
    pairs = {"spike-train": ("patterns", "node_g"), "retention": ("reads", "g"), "iv-sweep": ("points", "i_meas"),
             "volatile-endurance": ("cycles", "on_off"), "nonvolatile-endurance": ("cycles", "on_off"),
             "icc-set": ("levels", "g_lrs")}
    if protocol not in pairs:
        return {}
    stream, col = pairs[protocol]
    xa, xb = a.stream(stream)[col], b.stream(stream)[col]
    n = min(len(xa), len(xb))
    if n == 0:
        return {}
    xa, xb = xa[:n].astype(np.float64).ravel(), xb[:n].astype(np.float64).ravel()
    ok = np.isfinite(xa) & np.isfinite(xb)
    xa, xb = xa[ok], xb[ok]
    if protocol != "spike-train":          # currents and conductances span decades: compare decades
        xa, xb = np.log10(np.maximum(np.abs(xa), 1e-30)), np.log10(np.maximum(np.abs(xb), 1e-30))
    what = col if protocol == "spike-train" else f"log10 {col}"
    out = {f"rows compared ({stream})": float(n),
           f"rms diff {what}": float(np.sqrt(np.mean((xa - xb) ** 2))) if xa.size else float("nan")}
    if xa.size > 1 and xa.std() > 0 and xb.std() > 0:
        out[f"correlation {what}"] = float(np.corrcoef(xa, xb)[0, 1])
    out["identical"] = float(np.array_equal(xa, xb))
    return out


def compare_runs(path_a: Path | str, path_b: Path | str, *, figure: bool = True) -> Comparison:
    """Compare two runs of the same protocol (CompareError otherwise; StoreError for a file that is not one)."""
    with RunReader(path_a) as a, RunReader(path_b) as b:
        pa, pb = a.metadata.get("protocol", ""), b.metadata.get("protocol", "")
        if pa != pb:
            raise CompareError(f"runs of different protocols: {a.run_id[:8]} is {pa!r}, {b.run_id[:8]} is {pb!r}")
        fa, fb = run_figures(a), run_figures(b)
        rows = [Row(k, fa.get(k, fb.get(k, (None, "")))[1], fa.get(k, (None, ""))[0], fb.get(k, (None, ""))[0])
                for k in dict.fromkeys([*fa, *fb])]
        cmp = Comparison(pa, a.run_id, b.run_id, rows, _joint(pa, a, b))
        if figure:
            cmp.figure = draw(pa, a, b)
    return cmp


# ----------------------------------------------------------------------------- the figure
def draw(protocol: str, a: RunReader, b: RunReader):
    """The two runs side by side on shared axes: A left, B right."""
    from .plots.common import new_figure
    fig = new_figure(11, 4.2)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, r, tag in zip(axes, (a, b), "AB"):
        _PANELS.get(protocol, _panel_summary)(ax, r)
        ax.set_title(f"{tag}: {r.run_id[:8]} ({r.metadata.get('backend', {}).get('kind', '?')}, "
                     f"{(r.metadata.get('run') or {}).get('device', r.device)})", fontsize=9)
    fig.suptitle(f"{protocol}: A vs B", fontsize=10)
    return fig


def _panel_iv(ax, r: RunReader) -> None:
    p = r.stream("points")
    for s in np.unique(p["sweep"])[:20]:
        m = p["sweep"] == s
        ax.semilogy(p["v_set"][m], np.maximum(np.abs(p["i_meas"][m]), 1e-13), lw=0.8)
    ax.set_xlabel("V (V)")
    ax.set_ylabel("|I| (A)")


def _panel_endurance(ax, r: RunReader) -> None:
    c = r.stream("cycles")
    ax.loglog(c["seq"] + 1, np.maximum(c["on_off"], 1e-3), ".", ms=2)
    fail = (r.failure or {}).get("cycle")
    if fail is not None:
        ax.axvline(float(fail) + 1, color="r", lw=0.8)
    ax.set_xlabel("cycle")
    ax.set_ylabel("ON/OFF")


def _panel_icc(ax, r: RunReader) -> None:
    lv = r.stream("levels")
    ax.plot(lv["icc"] * 1e3, lv["g_lrs"] * 1e3, ".", ms=4)
    if lv["icc"].size >= 2:
        k, c = np.polyfit(lv["icc"], lv["g_lrs"], 1)
        x = np.array([lv["icc"].min(), lv["icc"].max()])
        ax.plot(x * 1e3, (k * x + c) * 1e3, "-", lw=1)
    ax.set_xlabel("Icc (mA)")
    ax.set_ylabel("G LRS (mS)")


def _panel_spikes(ax, r: RunReader) -> None:
    s = r.stream("patterns")
    for k in range(min(8, s["seq"].size)):
        ax.plot(s["node_g"][k] * 1e6, lw=0.8)
    ax.set_xlabel("node")
    ax.set_ylabel("node G (µS)")


def _panel_retention(ax, r: RunReader) -> None:
    x = r.stream("reads")
    ax.loglog(x["t"], x["g"], "o-", ms=3)
    ax.set_xlabel("t (s)")
    ax.set_ylabel("G (S)")


def _panel_summary(ax, r: RunReader) -> None:
    f = summary_figures(r)
    names = list(f)[:12]
    ax.barh(range(len(names)), [abs(f[k][0] or 0) for k in names])
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xscale("log")


_PANELS = {"iv-sweep": _panel_iv, "volatile-endurance": _panel_endurance, "nonvolatile-endurance": _panel_endurance,
           "icc-set": _panel_icc, "spike-train": _panel_spikes, "retention": _panel_retention}
