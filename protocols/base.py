"""What every protocol is: typed parameters with units and limits, ``validate()``, and a plan.

A protocol is a *plan* (Bluesky's plans vs RunEngine): a list of blocks (a sweep, a burst of
cycles, a read) fixed by the parameters alone, and for each block a generator of messages
(:mod:`labrc.engine.messages`: a list sweep, a wait, a device selection, rows to store, a log line,
a device failure) that receives each measurement back, so adaptive protocols stay natural. A block
returns its *carry* — the few typed values the next block needs (a failure run length, a
reference) — and that is all a protocol knows of resuming. The one engine (:mod:`labrc.engine`)
owns stop checks, ``seq``, the run clock, checkpoints, progress, the store, the safe state and the
final status; the same plan against the planning station is the dry run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from instruments.limits import LIST_POINTS_MAX, LimitError, SmuLimits, integration_time_s
from labrc.engine.messages import BlockPlan


class ParameterError(LimitError):
    """A protocol parameter outside its allowed range; raised before any instrument command."""


def param(default: Any, unit: str = "", lo: float | None = None, hi: float | None = None,
          help: str = "", choices: tuple | None = None) -> Any:
    """A protocol parameter: default, SI unit, allowed range (inclusive) and one-line help."""
    return field(default=default, metadata={"unit": unit, "lo": lo, "hi": hi, "help": help, "choices": choices})


def describe_params(cls: type) -> list[dict]:
    """Name, type, unit, default, limits and help of every parameter (for ``labrc protocols``)."""
    out = []
    for f in dataclasses.fields(cls):
        m = f.metadata
        out.append({"name": f.name, "type": f.type if isinstance(f.type, str) else f.type.__name__,
                    "unit": m.get("unit", ""), "default": f.default, "lo": m.get("lo"), "hi": m.get("hi"),
                    "choices": m.get("choices"), "help": m.get("help", "")})
    return out


def _num(x: float, typ: str) -> str:
    """A parameter value or bound as the operator typed it: integers in full (10000001, not 1e+07)."""
    if typ == "int" and float(x).is_integer():
        return str(int(x))
    return f"{x:g}"


def check_params(p: Any) -> None:
    """Type and range check of every field against its declared limits; NaN/inf refused."""
    for f in dataclasses.fields(p):
        v, m = getattr(p, f.name), f.metadata
        typ = f.type if isinstance(f.type, str) else f.type.__name__
        if typ == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ParameterError(f"{f.name} must be an integer, got {v!r}")
        elif typ == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ParameterError(f"{f.name} must be a number, got {v!r}")
            if not math.isfinite(v):
                raise ParameterError(f"{f.name} must be a finite number, got {v!r}")
        elif typ == "bool" and not isinstance(v, bool):
            raise ParameterError(f"{f.name} must be true or false, got {v!r}")
        if m.get("choices") is not None and v not in m["choices"]:
            raise ParameterError(f"{f.name}={v!r} must be one of {list(m['choices'])}")
        lo, hi, unit = m.get("lo"), m.get("hi"), m.get("unit", "")
        u = f" {unit}" if unit else ""
        if lo is not None and hi is not None and not lo <= v <= hi:
            raise ParameterError(f"{f.name}={_num(v, typ)}{u} is outside the allowed range "
                                 f"[{_num(lo, typ)}, {_num(hi, typ)}]{u}")
        if lo is not None and hi is None and v < lo:
            raise ParameterError(f"{f.name}={_num(v, typ)}{u} must be >= {_num(lo, typ)}{u}")


def check_smu_source(limits: Any, card: SmuLimits | None, icc_name: str, icc_a: float, voltages: dict[str, float],
                     n_points: int | None = None) -> None:
    """One SMU source setting — ``voltages`` at compliance ``icc_a`` — against the operator's limits
    (``[limits]`` of labrc.toml), the list size (≤ 4096 points), and — once a station is connected —
    the instrument's: ``card``, the SMU the top electrode is wired to as ``*OPT?`` reported it
    (``Protocol.card``; labrc.runner validates again with it before any voltage and any file). Without
    a card (no instrument opened yet) the card check is skipped, never guessed."""
    for name, v in voltages.items():
        if not limits.v_min_v <= v <= limits.v_max_v:
            raise ParameterError(f"{name}={v:g} V is outside the operator limits limits.v_min_v..v_max_v = "
                                 f"[{limits.v_min_v:g}, {limits.v_max_v:g}] V")
    if icc_a > limits.icc_max_a:
        raise ParameterError(f"{icc_name}={icc_a:g} A exceeds the operator limit limits.icc_max_a={limits.icc_max_a:g} A")
    if card is not None:
        card.check_voltage_source(np.array(list(voltages.values()), dtype=np.float64), icc_a, icc_name)
    if n_points is not None and n_points > LIST_POINTS_MAX:
        raise ParameterError(f"the {icc_name} list has {n_points} points; a list sweep holds at most "
                             f"{LIST_POINTS_MAX} (raise the step or narrow the voltage range)")


def check_point_time(dt_s: float, line_frequency_hz: float) -> None:
    """A list grid of ``dt_s`` per point needs ``dt_s`` ≥ one 0.1-PLC measurement at the lab's mains."""
    t_int = integration_time_s(1, line_frequency_hz)
    if dt_s < t_int - 1e-12:
        raise ParameterError(f"dt_s={dt_s:g} s is below the SMU's minimum point time 0.1 PLC = {t_int:g} s "
                             f"at {line_frequency_hz} Hz")


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _as_int(raw: Any) -> int:
    """An integer from ``10000001``, ``"10000001"`` or ``"1e7"``; ``"2.5"``, ``"x"`` and booleans refused."""
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    try:
        return int(text)
    except ValueError:
        f = float(text)
        if not (math.isfinite(f) and f.is_integer()):
            raise ValueError from None
        return int(f)


def _as_bool(raw: Any) -> bool:
    """Only true/false, 1/0, yes/no, on/off (any case): ``maybe`` is an error, never a silent False."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError


def coerce_params(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Convert ``--param name=value`` strings to the field types; unknown names refused with the list."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for k, raw in values.items():
        if k not in fields:
            raise ParameterError(f"unknown parameter {k!r}; parameters are: {', '.join(fields)}")
        typ = fields[k].type if isinstance(fields[k].type, str) else fields[k].type.__name__
        try:
            if typ == "int":
                out[k] = _as_int(raw)
            elif typ == "float":
                out[k] = float(raw)
            elif typ == "bool":
                out[k] = _as_bool(raw)
            else:
                out[k] = raw
        except (TypeError, ValueError, OverflowError):
            if typ == "bool":
                raise ParameterError(f"{k}={raw!r} must be a boolean: true/false, 1/0, yes/no or on/off") from None
            raise ParameterError(f"{k}={raw!r} is not a valid {typ}") from None
    return out


@dataclass
class Plan:
    """What a run will do, estimated from the parameters before it runs: blocks, points, duration.

    The exact command count is not estimated: ``labrc run --dry-run`` runs the plan against the
    planning station (:class:`labrc.stations.PlanningStation`) and counts the driver's own stream."""

    n_blocks: int
    n_points: int
    eta_s: float
    engine: str
    notes: list[str] = field(default_factory=list)


class Protocol:
    """Base class: subclasses set ``name``, ``Params``, ``run_type`` and implement the hooks."""

    name: ClassVar[str] = ""
    run_type: ClassVar[str] = ""
    Params: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    description: ClassVar[str] = ""
    progress_unit: ClassVar[str] = "points"   # what a plan's n_points counts (progress bar, labrc watch)
    # the top-electrode SMU card as the instrument reports it (labrc.runner sets it after connecting, then
    # validates again); None before: the card's limits are not checked until it is known
    card: SmuLimits | None = None

    def __init__(self, params: Any):
        self.params = params

    @classmethod
    def from_options(cls, preset: str | None = None, values: dict[str, Any] | None = None) -> Protocol:
        """Build from a preset name and ``--param`` overrides (strings allowed)."""
        base: dict[str, Any] = {}
        if preset is not None:
            if preset not in cls.presets:
                raise ParameterError(f"unknown preset {preset!r} for {cls.name}; presets are: {', '.join(cls.presets)}")
            base.update(cls.presets[preset])
        base.update(coerce_params(cls.Params, values or {}))
        return cls(cls.Params(**base))

    def validate(self, limits: Any) -> None:
        """Refuse anything outside the parameter ranges, the instrument or the operator limits."""
        check_params(self.params)

    def schema(self) -> dict:
        raise NotImplementedError

    def plan(self) -> Plan:
        raise NotImplementedError

    def blocks(self) -> Sequence[Any]:
        """The run's blocks, in order, from the parameters alone (deterministic: a resumed run splits
        exactly like the original). Each is handed to :meth:`block`."""
        raise NotImplementedError

    def initial_carry(self) -> dict:
        """The carry into the first block (plain values: it is stored in every checkpoint)."""
        return {}

    def block(self, spec: Any, carry: dict) -> BlockPlan:
        """The plan of one block: yield messages, receive their replies, return the carry for the next."""
        raise NotImplementedError

    def devices_needed(self) -> int:
        """Devices of the die the plan selects (checked against the station before any voltage)."""
        return 1

    def live_figure(self, block: dict[str, dict]) -> str:
        """A short figure of one just-measured block for the progress bar (e.g. ``ON/OFF 1.2e+03``); "" = none."""
        return ""

    @classmethod
    def summary(cls, reader: Any) -> dict[str, Any]:
        """Key figures of a finished run (for ``labrc show``)."""
        return {}
