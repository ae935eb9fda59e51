"""Shared helpers for the tests: the simulated 4200 reached through pyvisa like the real one."""

from __future__ import annotations

from instruments.keithley4200 import Keithley4200
from sim_backend.kxci import SimConfig
from sim_backend.library import LabrcSimLibrary

ETHERNET = SimConfig.tcpip_resource
GPIB = SimConfig.gpib_resource


def make_instrument(config: SimConfig | None = None, resource: str = ETHERNET, **kw) -> Keithley4200:
    lib = LabrcSimLibrary.create(config or SimConfig())
    return Keithley4200(resource, visa_library=lib, timeout=2000, **kw)


class MemorySink:
    """An engine sink that keeps every committed block in memory (tests drive a plan without a run file)."""

    planning = False

    def __init__(self) -> None:
        self.blocks: list[dict] = []
        self.checkpoints: list[dict] = []

    def checkpoint(self, entry: dict) -> None:
        self.checkpoints.append(entry)

    def commit(self, entry: dict | None, rows: list) -> None:
        if entry is not None:
            self.checkpoints.append(entry)
        self.blocks.append(dict(rows))

    def stream(self, name: str) -> dict:
        import numpy as np
        parts = [b[name] for b in self.blocks if name in b]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


def drive_plan(cfg, proto, stop=lambda: False):
    """Execute ``proto``'s plan through the engine on the configured station (the real driver → pyvisa →
    simulator stack), rows kept in memory; returns (EngineResult, MemorySink, events)."""
    from labrc.engine.engine import RunEngine
    from labrc.stations import connect
    station = connect(cfg)
    events: list[tuple[str, str]] = []
    sink = MemorySink()
    try:
        result = RunEngine(proto, station, sink, stop=stop, log=lambda m, level="info": events.append((m, level))).run()
    finally:
        station.instr.shutdown()
        station.close()
    return result, sink, events
