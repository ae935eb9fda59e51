"""``[sim]`` of ``labrc.toml``: the simulated die and chassis, and the fault drills (``sim.faults``)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator

from .sections import _Section


# --- fault drills (sim.faults): the schema of sim_backend.kxci.Kxci4200.faults, checked here so that a typo
# (mtch, after="x", an unknown device fault) is refused before the run instead of failing mid-run
class _Fault(_Section):
    match: str = ""                         # command prefix, e.g. "ME1", "DV", ":PMU:EXECUTE"; "" = any command
    after: int = Field(0, ge=0)             # let this many matching commands through first


class CountedFault(_Fault):
    count: int = Field(1, ge=1)             # how many matching commands are hit


class ErrorFault(CountedFault):
    code: int = Field(-992, ge=-999, le=-900)   # the KXCI error code to store (reference 1.6: -995 ... -947)


class DropFault(_Fault):
    """From the matching command on, the connection is lost."""


DEVICE_FAULT_KINDS = ("short", "open", "stuck_on", "stuck_off")   # = sim_backend.model.FAILURES (tested)


class DeviceFault(_Section):
    kind: Literal["short", "open", "stuck_on", "stuck_off"] = "short"
    at_execute: int = Field(1, ge=1)        # the n-th test of the run (:PMU:EXECUTE, ME1/ME3)


class FaultDrills(_Section):
    no_reply: CountedFault | None = None
    error: ErrorFault | None = None
    drop: DropFault | None = None
    device: DeviceFault | None = None

    def for_simulator(self) -> dict:
        """The plain dict :class:`sim_backend.kxci.Kxci4200` reads (only the drills that are set)."""
        return self.model_dump(exclude_none=True)


class SimSection(_Section):
    preset: Literal["OGB-Ag", "DDAB-Ag", "OGB-Au", "DDAB-Au"] = "OGB-Ag"
    seed: int = Field(0, ge=0)
    n_devices: int = Field(25, ge=1, le=10_000)
    device: int = Field(0, ge=0)
    realtime_factor: float = Field(0.0, ge=0, le=10)
    line_frequency_hz: Literal[50, 60] = 60
    # what sits under the probes: the die's memristor, nothing, or a calibration resistor "resistor:<ohm>"
    load: str = Field("memristor", pattern=r"^(memristor|open|resistor:[0-9.eE+-]+)$")
    # fault drills: {no_reply|error|drop|device = {...}}, see sim_backend.kxci.Kxci4200.faults
    faults: FaultDrills = Field(default_factory=FaultDrills)
    # the simulated chassis' cards as *OPT? lists them, e.g. ["SMU1", "SMUPA2", "PMU1", "CVU1"];
    # unset = the default 4200A (four SMUs, one PMU with RPMs). Checked by sim_backend.simconfig.SimConfig.
    cards: list[str] | None = None
    # a fitted device (labrc sim fit -o device.toml): its model parameters replace the preset's; the path is
    # relative to this labrc.toml. ``params`` replaces single parameters (sim_backend.model.params.Preset fields)
    # on top of it; a run records the resolved numbers (metadata backend.sim.preset_params), so a replay
    # needs neither file.
    preset_file: str = ""
    params: dict[str, float] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _model_params(cls, v: dict[str, float]) -> dict[str, float]:
        from sim_backend.simconfig import check_preset_params
        check_preset_params(v, "sim.params")     # ValueError naming the parameter and the allowed values
        return v

    @field_validator("cards")
    @classmethod
    def _cards_are_slots(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            from sim_backend.simconfig import SimConfig
            SimConfig(cards=v)          # raises ValueError naming the bad entry and the allowed forms
        return v

    @field_validator("load")
    @classmethod
    def _resistor_positive(cls, v: str) -> str:
        if v.startswith("resistor:"):
            try:
                r = float(v.split(":", 1)[1])
            except ValueError:
                r = float("nan")
            if not (math.isfinite(r) and r > 0):
                raise ValueError("a calibration resistor needs a finite resistance > 0 ohm, e.g. "
                                 "resistor:1e6 (\"open\" = no load)")
        return v

    @field_validator("faults", mode="before")
    @classmethod
    def _faults_table(cls, v: Any) -> Any:
        if isinstance(v, dict):
            bad = sorted(set(v) - set(FaultDrills.model_fields))
            if bad:
                raise ValueError(f"unknown fault {bad}; faults are {', '.join(FaultDrills.model_fields)}")
        return v
