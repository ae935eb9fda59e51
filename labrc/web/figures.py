"""The protocols' figures as interactive Plotly figures (zoom, hover values, log/linear buttons).

The same quantities as the paper-style PNGs of :mod:`labrc.plots` (ON/OFF currents and ratio per cycle,
|I|–V per sweep, G versus Icc, retention, reconfiguration, spike-train node currents), built with
plotly.graph_objects in Python and drawn by Plotly's own JavaScript (served locally from the plotly package).
``layout.uirevision`` is fixed per run, so a zoom or an axis switched to linear survives the live updates.

Each source keeps what it draws bounded: endurance through :class:`~labrc.web.decimate.LogEnvelope`
(folded in row by row as the run grows, never re-read), every other stream by reading at most
``MAX_ROWS`` rows, evenly strided, of the file (those protocols write thousands of rows, not millions).
"""

from __future__ import annotations

import base64
import copy
import math
import time
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .decimate import LogEnvelope

MAX_ROWS = 20_000          # rows read for a figure of a non-endurance stream (strided beyond)
READ_BLOCK = 1 << 20       # rows per read while an endurance envelope catches up with a long file
SWEEPS_DRAWN = 24          # I-V: the most recent sweeps drawn (older ones stay in the file)
COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _axis_buttons(axes: list[str]) -> list[dict]:
    """Plotly's own update menus: switch every x or y axis between log and linear (no page code)."""
    xs = [a for a in axes if a.startswith("x")]
    ys = [a for a in axes if a.startswith("y")]

    def btn(label: str, names: list[str], kind: str) -> dict:
        return {"label": label, "method": "relayout",
                "args": [{f"{n.replace('x', 'xaxis').replace('y', 'yaxis')}.type": kind for n in names}]}
    menus = []
    for i, (names, what) in enumerate(((xs, "x"), (ys, "y"))):
        if names:
            menus.append({"type": "buttons", "direction": "left", "showactive": False, "x": 0.0 + 0.2 * i,
                          "y": 1.01, "xanchor": "left", "yanchor": "bottom", "pad": {"r": 4, "t": 0, "b": 2},
                          "buttons": [btn(f"{what} log", names, "log"), btn(f"{what} linear", names, "linear")]})
    return menus


def _finish(fig: go.Figure, title: str, run_key: str, axes: list[str]) -> dict:
    fig.update_layout(title={"text": title, "font": {"size": 14}, "x": 0.01, "y": 0.985, "yanchor": "top"},
                      uirevision=run_key, hovermode="closest", margin={"l": 70, "r": 20, "t": 100, "b": 50},
                      legend={"orientation": "h", "y": -0.12, "font": {"size": 11}}, updatemenus=_axis_buttons(axes),
                      template="plotly_white", height=620)
    return fig.to_plotly_json()


def _pos(a: np.ndarray) -> np.ndarray:
    """Log axes: non-positive or NaN values are left out, never moved to an invented floor."""
    a = np.abs(np.asarray(a, np.float64)) if a is not None else np.empty(0)
    return np.where(a > 0, a, np.nan)


def _list(a: np.ndarray) -> np.ndarray:
    """float64 for Plotly: sent as a base64 typed array (compact; NaN stays NaN, drawn as a gap)."""
    return np.asarray(a, np.float64)


def typed(a: np.ndarray) -> dict:
    """Plotly's typed-array form of a float64 array ({"dtype", "bdata"}: base64 little-endian), no validation."""
    return {"dtype": "f8", "bdata": base64.b64encode(np.ascontiguousarray(a, "<f8").tobytes()).decode("ascii")}


# --------------------------------------------------------------------------- endurance (live, 10⁷ rows)
class EnduranceSource:
    """ON, OFF and ON/OFF per cycle of an endurance run, folded in as the file grows (bounded memory)."""

    def __init__(self, metadata: dict) -> None:
        self.nv = metadata.get("protocol") == "nonvolatile-endurance"
        self.prm = metadata.get("parameters") or {}
        self.on_col = "i_read_after" if self.nv else "i_write"
        self.env = LogEnvelope(("on", "off", "ratio", "thr"), head=200, per_decade=120, fail_of="ratio")
        self._frame: dict | None = None        # the figure built once by plotly; updates only swap the data
        # the ON/OFF below which a cycle fails (protocols.endurance: max(collapse_frac x early-life ON/OFF, floor))
        self.floor = float(self.prm.get("on_off_min") or 0.0)
        self.frac = float(self.prm.get("collapse_frac") or 0.0)
        self.ref_n = int(self.prm.get("ref_cycles") or 0)
        self.rows = 0

    def update(self, reader) -> bool:
        """Read the rows written since the last call (in blocks); True when something new arrived."""
        n = reader.n_rows("cycles")
        if n <= self.rows:
            return False
        has_ref = "on_off_ref" in {c.name for c in reader.schema["cycles"].columns}
        cols = ("seq", self.on_col, "i_read_before", "on_off", "fail") + (("on_off_ref",) if has_ref else ())
        for a in range(self.rows, n, READ_BLOCK):
            g = reader.read("cycles", a, min(n, a + READ_BLOCK), columns=cols)
            seq = g["seq"]
            thr = np.full(seq.size, self.floor)
            if self.frac > 0 and has_ref:
                thr = np.maximum(np.where(seq >= self.ref_n, self.frac * g["on_off_ref"], 0.0), self.floor)
            self.env.add(seq.astype(np.float64) + 1.0,
                         {"on": _pos(g[self.on_col]), "off": _pos(g["i_read_before"]),
                          "ratio": _pos(g["on_off"]), "thr": _pos(thr)}, g["fail"])
        self.rows = n
        return True

    def figure(self, title: str, run_key: str, failure: dict | None) -> dict:
        """The figure with the newest envelope. Built through plotly.graph_objects once (layout, styles, hover
        templates); each update then only swaps the traces' x/y (typed arrays) and the title — measured:
        ~190 ms per update when the whole figure is rebuilt and validated, a few ms like this."""
        fails = self.env.fails()[2]
        key = (bool(fails), bool(failure), self.env.n <= 300, self.env.x_last > 200)
        if self._frame is None or self._frame["key"] != key:
            self._frame = {"key": key, "fig": self._build(title, run_key, failure)}
        fig = copy.copy(self._frame["fig"])
        fig["layout"] = {**fig["layout"], "title": {**fig["layout"]["title"], "text": self._title(title)}}
        data = []
        for trace in fig["data"]:
            name = trace.get("meta")
            if name == "fails":
                x, y, _ = self.env.fails()
            else:
                x, y = self.env.series(name)
            data.append({**trace, "x": typed(x), "y": typed(y)})
        fig["data"] = data
        return fig

    def _title(self, title: str) -> str:
        return f"{title} — {self.env.n:,} cycles (drawn: ≤ {self.env.drawn_points:,} points per series)"

    def _build(self, title: str, run_key: str, failure: dict | None) -> dict:
        p = self.prm
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.07)
        # beyond 300 cycles the min/max envelope is drawn as one line per series (one SVG path, not thousands of
        # marker nodes: measured, the browser then costs a fraction of the CPU per update)
        mode = "lines+markers" if self.env.n <= 300 else "lines"
        marker = {"size": 4 if self.env.n <= 300 else 3}
        on_lbl = "ON: read after SET" if self.nv else f"ON: I during the {p.get('v_write_v', '?')} V write"
        off_lbl = "OFF: read after erase" if self.nv else f"OFF: {p.get('v_read_v', '?')} V read"
        for name, label, color, row in (("on", on_lbl, COLORS[0], 1), ("off", off_lbl, COLORS[1], 1),
                                         ("ratio", "ON/OFF", "#222222", 2)):
            x, y = self.env.series(name)
            unit = "" if name == "ratio" else " A"
            fig.add_trace(go.Scatter(x=x, y=_list(y), name=label, mode=mode, marker={**marker, "color": color}, meta=name,
                                     line={"width": 1, "color": color},
                                     hovertemplate=f"cycle %{{x:,.0f}}<br>{label}: %{{y:.4g}}{unit}<extra></extra>"),
                          row=row, col=1)
        if not self.nv and p.get("icc_a"):
            fig.add_hline(y=float(p["icc_a"]), line={"dash": "dash", "color": COLORS[0], "width": 1}, row=1, col=1,
                          annotation_text=f"compliance {float(p['icc_a']):.3g} A", annotation_font_size=10)
        if self.floor > 0 or self.frac > 0:
            x, y = self.env.series("thr")
            label = (f"fails below max({self.frac:g} × early-life ON/OFF, {self.floor:g})" if self.frac > 0
                     else f"fails below {self.floor:g}")
            fig.add_trace(go.Scatter(x=x, y=_list(y), name=label, mode="lines", meta="thr", line={"dash": "dot", "color": COLORS[0],
                                     "width": 1.2}, hovertemplate="cycle %{x:,.0f}<br>threshold %{y:.4g}<extra></extra>"),
                          row=2, col=1)
        fx, fy, total = self.env.fails()
        if total:
            fig.add_trace(go.Scatter(x=fx, y=_list(fy), name="failing cycles", mode="markers", meta="fails",
                                     marker={"symbol": "x", "size": 7, "color": COLORS[0]},
                                     hovertemplate="failing cycle %{x:,.0f}<br>ON/OFF %{y:.4g}<extra></extra>"),
                          row=2, col=1)
        if failure and failure.get("cycle") is not None:
            fig.add_vline(x=int(failure["cycle"]) + 1, line={"color": COLORS[0], "width": 2},
                          annotation_text=f"device failure ({failure.get('mode', '?')})", annotation_font_size=10)
        log_x = self.env.x_last > 200
        fig.update_xaxes(type="log" if log_x else "linear", row=1, col=1)
        fig.update_xaxes(type="log" if log_x else "linear", title_text="cycle", row=2, col=1)
        fig.update_yaxes(type="log", title_text="|I| (A)", exponentformat="power", row=1, col=1)
        fig.update_yaxes(type="log", title_text="ON/OFF", exponentformat="power", row=2, col=1)
        return _finish(fig, self._title(title), run_key, ["x", "x2", "y", "y2"])


# --------------------------------------------------------------------------- the other protocols (small)
def read_strided(reader, stream: str, cols: tuple[str, ...], max_rows: int = MAX_ROWS) -> dict[str, np.ndarray]:
    """At most ``max_rows`` rows of ``cols``, evenly strided over the valid prefix (the first and the newest kept)."""
    n = reader.n_rows(stream)
    step = max(1, math.ceil(n / max_rows))
    out = reader.read(stream, 0, n, step, columns=cols)
    if n and step > 1 and (n - 1) % step:
        last = reader.read(stream, n - 1, n, columns=cols)
        out = {c: np.concatenate([a, last[c]]) for c, a in out.items()}
    return out


class StreamSource:
    """Figures of protocols whose streams stay small: re-read (strided) when the row count changed, at most
    every ``REBUILD_S`` while the run grows (a plotly build costs ~0.1 s of the server's CPU)."""

    REBUILD_S = 3.0

    def __init__(self, metadata: dict) -> None:
        self.protocol = metadata.get("protocol", "")
        self.rows = -1
        self._fig: go.Figure | None = None
        self._axes: list[str] = ["x", "y"]
        self._built = 0.0
        self._json: dict | None = None

    def update(self, reader) -> bool:
        n = sum(reader.n_rows(s) for s in reader.schema)
        if n == self.rows or (reader.status == "running" and time.monotonic() - self._built < self.REBUILD_S):
            return False
        self.rows, self._built = n, time.monotonic()
        build = _BUILDERS.get(self.protocol, _generic)
        self._fig, self._axes = build(reader)
        return True

    def figure(self, title: str, run_key: str, failure: dict | None) -> dict:
        if self._json is None or self._json["at"] != (self._built, title):
            fig = go.Figure(self._fig) if self._fig is not None else go.Figure()
            self._json = {"at": (self._built, title), "fig": _finish(fig, title, run_key, self._axes)}
        return self._json["fig"]


def _iv(reader) -> tuple[go.Figure, list[str]]:
    d = read_strided(reader, "points", ("sweep", "v_set", "i_meas", "compliance"))
    fig = go.Figure()
    sweeps = np.unique(d["sweep"])[-SWEEPS_DRAWN:]
    for k, s in enumerate(sweeps.tolist()):
        m = d["sweep"] == s
        fig.add_trace(go.Scatter(x=d["v_set"][m], y=_list(_pos(d["i_meas"][m])), mode="lines+markers",
                                 name=f"sweep {s}", marker={"size": 3}, line={"width": 1, "color": COLORS[k % 6]},
                                 hovertemplate="V %{x:.3f} V<br>|I| %{y:.4g} A<extra>sweep " + str(s) + "</extra>"))
    fig.update_xaxes(title_text="V (top electrode, V)")
    fig.update_yaxes(type="log", title_text="|I| (A)", exponentformat="power")
    return fig, ["y"]


def _icc(reader) -> tuple[go.Figure, list[str]]:
    d = read_strided(reader, "levels", ("icc", "g_lrs", "g_hrs"))
    fig = go.Figure()
    for col, label, color in (("g_lrs", "G LRS", COLORS[0]), ("g_hrs", "G HRS", COLORS[1])):
        fig.add_trace(go.Scatter(x=d["icc"], y=_list(_pos(d[col])), mode="markers", name=label,
                                 marker={"size": 6, "color": color},
                                 hovertemplate="Icc %{x:.3g} A<br>" + label + " %{y:.4g} S<extra></extra>"))
    fig.update_xaxes(type="log", title_text="Icc (A)", exponentformat="power")
    fig.update_yaxes(type="log", title_text="G at the read (S)", exponentformat="power")
    return fig, ["x", "y"]


def _retention(reader) -> tuple[go.Figure, list[str]]:
    d = read_strided(reader, "reads", ("t", "g"))
    fig = go.Figure(go.Scatter(x=_list(_pos(d["t"])), y=_list(_pos(d["g"])), mode="lines+markers", name="G",
                               marker={"size": 5, "color": COLORS[0]},
                               hovertemplate="t %{x:.4g} s<br>G %{y:.4g} S<extra></extra>"))
    fig.update_xaxes(type="log", title_text="time since programming (s)", exponentformat="power")
    fig.update_yaxes(type="log", title_text="G (S)", exponentformat="power")
    return fig, ["x", "y"]


def _reconfigure(reader) -> tuple[go.Figure, list[str]]:
    d = read_strided(reader, "steps", ("seq", "g_read", "g_after_reset", "phase"))
    fig = go.Figure()
    for col, label, color in (("g_read", "G read", COLORS[0]), ("g_after_reset", "G after reset", COLORS[1])):
        fig.add_trace(go.Scatter(x=d["seq"], y=_list(_pos(d[col])), mode="lines+markers", name=label,
                                 marker={"size": 6, "color": color}, customdata=d["phase"],
                                 hovertemplate="step %{x}<br>" + label + " %{y:.4g} S<br>phase %{customdata}"
                                               "<extra></extra>"))
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(type="log", title_text="G (S)", exponentformat="power")
    return fig, ["y"]


CLASS_NAMES = ("class 0", "class 1", "class 2", "class 3")


def _spikes(reader) -> tuple[go.Figure, list[str]]:
    d = read_strided(reader, "patterns", ("cls", "node_i"), max_rows=4000)
    fig = go.Figure()
    for k in np.unique(d["cls"]).tolist():
        m = d["cls"] == k
        mean = np.nanmean(np.abs(d["node_i"][m]), axis=0)
        fig.add_trace(go.Scatter(x=np.arange(1, mean.size + 1), y=_list(_pos(mean)), mode="lines+markers",
                                 name=f"class {k} ({int(m.sum())} patterns)", marker={"size": 5, "color": COLORS[k % 6]},
                                 hovertemplate="node %{x}<br>mean |I| %{y:.4g} A<extra>class " + str(k) + "</extra>"))
    fig.update_xaxes(title_text="virtual node (read every 35 ms)")
    fig.update_yaxes(type="log", title_text="mean |I| at the read (A)", exponentformat="power")
    return fig, ["y"]


def _generic(reader) -> tuple[go.Figure, list[str]]:
    """A stream's signal column against its row (protocols without a figure of their own here)."""
    fig = go.Figure()
    for name, st in reader.schema.items():
        sig = getattr(st, "signal", "") or ""
        if sig and sig in {c.name for c in st.columns}:
            cols = ("seq", sig) if st.seq_col else (sig,)
            d = read_strided(reader, name, cols)
            y = d[sig]
            if y.ndim == 1:
                fig.add_trace(go.Scatter(y=_list(y), mode="lines+markers", name=f"{name}.{sig}", marker={"size": 4}))
    return fig, ["y"]


_BUILDERS: dict[str, Any] = {"iv-sweep": _iv, "icc-set": _icc, "retention": _retention, "reconfigure": _reconfigure,
                             "spike-train": _spikes}


def source_for(metadata: dict):
    """The figure source of a run's protocol."""
    if metadata.get("protocol") in ("volatile-endurance", "nonvolatile-endurance"):
        return EnduranceSource(metadata)
    return StreamSource(metadata)
