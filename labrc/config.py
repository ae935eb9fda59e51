"""``labrc.toml``: instrument, wiring, operator safety limits, data directory, simulator.

Validated with pydantic: an unknown key, a wrong type or a value out of range is refused with a
:class:`ConfigError` that names the key (``limits.v_max_v``) and the allowed range, before anything
touches an instrument. ``--set section.key=value`` overrides any key for one run.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_ENV = "LABRC_CONFIG"
DEFAULT_FILE = "labrc.toml"


class ConfigError(ValueError):
    """An invalid configuration; the message names the key and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, v: Any, info):  # NaN/inf are never a sane setting
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {v}")
        return v


class InstrumentSection(_Section):
    backend: Literal["sim", "visa"] = "sim"
    resource: str = "TCPIP0::k4200.sim::1225::SOCKET"
    visa_library: str = ""              # backend "visa": "" = system VISA (IVI), "@py" = pyvisa-py
    timeout_s: float = Field(20.0, gt=0, le=600)
    transcript: bool = False            # record every command and reply (run dir + /entry/attachments/transcript)
    top: str = Field("SMU1", pattern=r"^SMU[1-9]$")           # terminal on the Ag top electrode
    bottom: str = Field("SMU2", pattern=r"^(SMU[1-9]|GNDU)$")  # ITO bottom electrode: SMU at 0 V or ground unit

    @model_validator(mode="after")
    def _distinct(self):
        if self.top == self.bottom:
            raise ValueError("instrument.top and instrument.bottom must be different terminals")
        return self

    @property
    def top_smu(self) -> int:
        return int(self.top[3:])

    @property
    def ground_smu(self) -> int | None:
        return None if self.bottom == "GNDU" else int(self.bottom[3:])


class LimitsSection(_Section):
    """Operator limits: no protocol may exceed them (tighter than the instrument's own)."""

    v_max_v: float = Field(8.0, ge=0, le=210)     # most positive voltage on the top electrode
    v_min_v: float = Field(-8.0, ge=-210, le=0)   # most negative voltage
    icc_max_a: float = Field(2e-2, gt=0, le=0.105)  # largest current compliance a protocol may set
    cycles_max: int = Field(10_000_000, ge=1)


class DataSection(_Section):
    dir: str = "data"
    flush_interval_s: float = Field(1.0, gt=0, le=60)
    flush_rows: int = Field(65_536, ge=1)
    compact: bool = True                # after a verified finish: gzip copy of run.h5, journal removed (labrc.store.compact)


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
    faults: dict = Field(default_factory=dict)

    @field_validator("faults")
    @classmethod
    def _fault_keys(cls, v: dict) -> dict:
        bad = set(v) - {"no_reply", "error", "drop", "device"}
        if bad:
            raise ValueError(f"unknown fault {sorted(bad)}; faults are no_reply, error, drop, device")
        return v


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instrument: InstrumentSection = InstrumentSection()
    limits: LimitsSection = LimitsSection()
    data: DataSection = DataSection()
    sim: SimSection = SimSection()
    source: str = ""   # where it was read from (for provenance)

    @model_validator(mode="after")
    def _device_on_die(self):
        if self.sim.device >= self.sim.n_devices:
            raise ValueError(f"sim.device={self.sim.device} must be < sim.n_devices={self.sim.n_devices}")
        return self

    @property
    def data_dir(self) -> Path:
        p = Path(self.data.dir).expanduser()
        if not p.is_absolute() and self.source:
            p = Path(self.source).parent / p
        return p

    def sim_config(self):
        """The simulated instrument this configuration describes."""
        from sim_backend.kxci import SimConfig
        return SimConfig(preset=self.sim.preset, n_devices=self.sim.n_devices, seed=self.sim.seed,
                         device_index=self.sim.device, top=self.instrument.top, bottom=self.instrument.bottom,
                         realtime_factor=self.sim.realtime_factor,
                         line_frequency_hz=float(self.sim.line_frequency_hz), load=self.sim.load,
                         faults=dict(self.sim.faults),
                         tcpip_resource=self.instrument.resource if "SOCKET" in self.instrument.resource
                         else SimConfig.tcpip_resource,
                         gpib_resource=self.instrument.resource if self.instrument.resource.upper().startswith("GPIB")
                         else SimConfig.gpib_resource)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


def _format_error(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = e.get("input")
        got_txt = "" if isinstance(got, dict) or e["type"] == "missing" else f" (got {got!r})"
        lines.append(f"{source}: {key}: {msg}{got_txt}")
    return "\n".join(lines)


def parse_override(item: str) -> tuple[list[str], Any]:
    """``section.key=value`` with the value read as a TOML literal (``1e-3``, ``"x"``, ``true``), else a string."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value")
    key, _, raw = item.partition("=")
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def find_config(path: str | os.PathLike | None = None) -> Path | None:
    """The config file to use: the given path, ``$LABRC_CONFIG``, or ``./labrc.toml`` if present."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        return p
    env = os.environ.get(CONFIG_ENV)
    if env:
        return find_config(env)
    p = Path(DEFAULT_FILE)
    return p if p.is_file() else None


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> Config:
    """Read, override and validate the configuration (defaults = the embedded simulator)."""
    p = find_config(path)
    data: dict = {}
    source = str(p) if p else "(defaults)"
    if p:
        try:
            data = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    for item in overrides or []:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {k} is not a section")
        node[keys[-1]] = value
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source)) from None
    cfg.source = str(p.resolve()) if p else ""
    return cfg


EXAMPLE_TOML = """\
# labrc.toml — configuration of the probe station (SI units: V, A, s)
[instrument]
backend = "sim"                              # "sim" = embedded simulated 4200, "visa" = real instrument
resource = "TCPIP0::k4200.sim::1225::SOCKET" # real: "TCPIP0::<ip>::1225::SOCKET" or "GPIB0::17::INSTR"
visa_library = ""                            # real: "" = system VISA, "@py" = pyvisa-py
timeout_s = 20.0
transcript = false                           # true: every command and reply, timestamped, into the run file
top = "SMU1"                                 # SMU on the Ag top electrode
bottom = "SMU2"                              # SMU (held at 0 V) or "GNDU" on the ITO bottom electrode

[limits]                                     # operator limits; no protocol may exceed them
v_max_v = 8.0
v_min_v = -8.0
icc_max_a = 2e-2
cycles_max = 10000000

[data]
dir = "data"
flush_interval_s = 1.0                       # at most this much measured data is at risk
compact = true                               # compress run.h5 and drop the journal once verified

[sim]
preset = "OGB-Ag"                            # OGB-Ag, DDAB-Ag, OGB-Au, DDAB-Au
seed = 0
n_devices = 25
device = 0                                   # device under test on the simulated die
realtime_factor = 0.0                        # 0 = as fast as possible
"""
