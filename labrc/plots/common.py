"""What every figure shares: the run's identity in the title, SI-prefixed units, marker sizes, saving.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through ``pyplot``: the library
then neither chooses nor switches a backend (a notebook keeps its own; ``savefig`` renders PNG with Agg
on any machine, display or not) and keeps no global list of open figures in a long-running process.
A returned figure shows in Jupyter as it is; ``fig.savefig(path)`` writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..humanize import SI_PREFIX as _PREFIX
from ..humanize import num, si, si_exponent_of  # noqa: F401  (the one formatter; re-exported for the figure modules)

DPI = 150
_IDENTITY_KEYS = ("sample", "device", "operator", "die_position", "note")
_STATUS_TEXT = {"device_failure": "DEVICE FAILURE", "aborted": "ABORTED", "failed": "FAILED",
                "interrupted": "INTERRUPTED", "running": "RUNNING (partial)"}


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure with constrained layout, independent of pyplot and of any backend."""
    return Figure(figsize=(width_in, height_in), layout="constrained", dpi=DPI)


def save(fig: Figure, out: Path | str) -> Path:
    """Write ``fig`` as a PNG at ``out`` and return the path."""
    out = Path(out)
    fig.savefig(out, dpi=DPI)
    return out


# ------------------------------------------------------------------ units
def si_exponent(values: Any) -> int:
    """Engineering exponent (multiple of 3) that puts the largest finite |value| in [1, 1000)."""
    a = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    a = a[np.isfinite(a) & (a > 0)]
    return si_exponent_of(float(a.max())) if a.size else 0


def si_scale(values: Any, unit: str) -> tuple[float, str]:
    """(factor, prefixed unit) for a panel: ``values * factor`` reads in ``unit`` with a prefix (µA, mS)."""
    e = si_exponent(values)
    return 10.0 ** -e, f"{_PREFIX[e]}{unit}"


def marker_size(n: int) -> float:
    """Marker size (points) readable for ``n`` markers: big for a DDAB run of 8 cycles, small for 10⁷."""
    return 7.0 if n <= 30 else 5.0 if n <= 300 else 3.0 if n <= 3000 else 1.6


def log_spaced_index(n: int, k: int = 20_000) -> np.ndarray:
    """At most about ``k`` indices of 0 … n−1, log-spaced (every early cycle, fewer late ones) for log axes."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.geomspace(1, n, k)).astype(np.int64) - 1)


# ------------------------------------------------------------------ identity
def identity(reader: Any) -> dict[str, str]:
    """Sample, device, operator, die position and note of a run.

    From ``metadata["run"]`` when the run carries its identity; the device falls back to the file's
    device name, and on the simulator the sample to "simulated <preset> die, seed <s>"."""
    meta = reader.metadata or {}
    run = meta.get("run") or {}
    out = {k: _text(run[k]) for k in _IDENTITY_KEYS if run.get(k) not in (None, "", [], {})}
    if "device" not in out and getattr(reader, "device", ""):
        out["device"] = str(reader.device)
    backend = meta.get("backend") or {}
    if "sample" not in out and backend.get("kind") == "sim":
        sim = backend.get("sim") or {}
        out["sample"] = f"simulated {sim.get('preset', '?')} die, seed {sim.get('seed', '?')}"
    return out


def _text(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {x}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(str(x) for x in v) + ")"
    return str(v)


def title_text(reader: Any, what: str, devices: str | None = None) -> str:
    """Two lines: "<sample> · device <d> — <what> [STATUS]" and "operator · die … · note · start time".

    Never the run id: a reader of the paper knows the device, not a 32-hex name. ``devices`` replaces
    "device <d>" for a run that moved between devices (a spike-train campaign)."""
    ident = identity(reader)
    dev = devices or (f"device {ident['device']}" if "device" in ident else "")
    head = " · ".join(x for x in (ident.get("sample", ""), dev) if x)
    status = _STATUS_TEXT.get(getattr(reader, "status", "completed"), "")
    line1 = f"{head} — {what}" if head else what
    if status:
        line1 += f"  [{status}]"
    extra = [f"operator {ident['operator']}" if "operator" in ident else "",
             f"die {ident['die_position']}" if "die_position" in ident else "",
             _short(ident.get("note", ""), 70), _started(getattr(reader, "start_time", "") or "")]
    line2 = " · ".join(x for x in extra if x)
    return f"{line1}\n{line2}" if line2 else line1


def _started(iso: str) -> str:
    """``started 2026-12-01 21:59 UTC`` from the run's ISO start time (stored in UTC)."""
    if not iso:
        return ""
    utc = iso.endswith(("+00:00", "Z"))
    return f"started {iso[:16].replace('T', ' ')}{' UTC' if utc else ''}"


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def set_title(fig: Figure, reader: Any, what: str, fontsize: float = 10, devices: str | None = None) -> None:
    """The run's identity and what was measured as the figure's title, wrapped to the figure's width."""
    fig.suptitle(wrap(title_text(reader, what, devices), fig, fontsize), fontsize=fontsize)


def plural(n: int, word: str) -> str:
    """``1 cycle``, ``3 cycles``, ``4 classes``."""
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('s') else 's'}"


def wrap(text: str, fig: Figure, fontsize: float = 10) -> str:
    """Wrap each line of ``text`` to the characters that fit across ``fig`` at ``fontsize`` (DejaVu Sans)."""
    import textwrap
    width = max(30, int(fig.get_figwidth() * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def params(reader: Any) -> dict:
    """The protocol's parameters as recorded in the run file."""
    return dict((reader.metadata or {}).get("parameters") or {})
