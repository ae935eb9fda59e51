"""Before any voltage: what a plan needs of the station, the pre-flight, and the dry run.

:func:`check_station` runs after the instrument is opened and before any source command or file:
the devices the plan selects, the parameters against the SMU card ``*OPT?`` reports, and the plan's
first and last blocks through the driver's own checks on the planning station. :func:`plan_run` is
``labrc run --dry-run``: the whole plan on the planning station (:class:`labrc.stations.PlanningStation`),
exact command count and instrument time, nothing sent but ``*IDN?``/``*OPT?``.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.base import ParameterError, Protocol

from .config import Config, ConnectError
from .engine.engine import PlanSink, RunEngine
from .stations import PlanningStation, Station, connect

__all__ = ["check_station", "PlanReport", "plan_run"]


def check_station(cfg: Config, protocol: Protocol, station: Station, preflight: bool = True) -> None:
    """What the plan needs of the station, before any voltage and any file (one line, exit 2): the
    devices it selects, its parameters against the SMU card the instrument reports (``*OPT?``), and —
    ``preflight`` — its first and last blocks through the driver's own checks on the planning station
    (nothing is sent; the driver then forgets its held state, so the run starts with the full setup)."""
    need = protocol.devices_needed()
    if need > station.n_devices:
        raise ParameterError(f"devices={need} exceeds the devices reachable here ({station.n_devices}"
                             f"{' on hardware: one device per run' if station.kind == 'hardware' else ''})")
    protocol.card = station.instr.smu_limits.get(station.top_smu)
    protocol.validate(cfg.limits)
    if preflight:
        n = len(protocol.blocks())
        planning = PlanningStation(station)
        try:
            RunEngine(protocol, planning, PlanSink(), stop=lambda: False,
                      log=lambda m, level="info": None).run(only=sorted({0, n - 1}) if n else [])
        finally:
            planning.finish()


@dataclass
class PlanReport:
    """The dry run: the plan executed against the planning station (nothing sent, nothing stored)."""

    n_blocks: int
    rows: dict[str, int]
    n_commands: int
    n_sweeps: int
    instrument_s: float
    station: str
    devices: list[int]
    note: str = ""


def plan_run(cfg: Config, protocol: Protocol) -> PlanReport:
    """Run the plan against the planning station: exact command count (the driver's own stream, one
    status poll per test), the instrument time, validation against the SMU cards the instrument
    reports. Opening the instrument sends only ``*IDN?`` and ``*OPT?``; no source command is sent.

    An instrument that cannot be opened (planning at a desk, the probe station switched off) does not
    stop a dry run: the plan runs on the simulator's chassis with the configured cards instead
    (``[sim] cards``, default a 4200A with four 4200-SMUs), and ``PlanReport.note`` says so — the
    installed card is then checked when the run starts, before any voltage."""
    protocol.validate(cfg.limits)
    note = ""
    try:
        base = connect(cfg)
    except ConnectError as exc:
        if cfg.instrument.backend == "sim":
            raise
        note = (f"instrument not opened ({' '.join(str(exc).split())[:160]}); planned on the simulator's "
                "cards ([sim] cards): the installed card is checked when the run starts")
        sim = cfg.model_copy(update={"instrument": cfg.instrument.model_copy(update={"backend": "sim"})})
        base = connect(sim)
    try:
        check_station(cfg, protocol, base, preflight=False)
        station = PlanningStation(base)
        try:
            sink = PlanSink()
            RunEngine(protocol, station, sink, stop=lambda: False, log=lambda m, level="info": None).run()
            return PlanReport(sink.blocks, sink.rows, station.n_commands, station.n_sweeps, station.instrument_s,
                              base.kind, sorted(station.devices), note)
        finally:
            station.close()
    finally:
        base.close()
