"""``labrc.toml``: instrument, wiring, operator safety limits, data directory, simulator.

Validated with pydantic: an unknown key, a wrong type or a value out of range is refused with a
:class:`ConfigError` that names the key (``limits.v_max_v``) and the allowed range, before anything
touches an instrument. ``--set section.key=value`` overrides any key for one run.
"""

from __future__ import annotations

import math
import os
import tempfile
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
    # a run stops cleanly (status failed, instrument safe, journal complete) before the data disk has less
    # than this free: HDF5 does not survive a full disk inside a flush
    min_free_bytes: int = Field(8 << 20, ge=0)


# --- run identity ([run], --sample/--device/...): what was measured on which device, by whom. Stored as
# metadata["run"] in the run file; sample and device also name the run directory (labrc.runner).
RUN_FIELDS = ("sample", "device", "operator", "note", "die_position")
_RUN_MAX_CHARS = {"sample": 40, "device": 40, "operator": 64, "note": 500, "die_position": 32}
RUN_UNNAMED_DEVICE = "unnamed"      # hardware run without a device name (a warning says to give --device)


class RunSection(_Section):
    """Identity of a run: strings, "" = not given. On the simulator ``device`` defaults to the die index
    ("D00"); on hardware to "unnamed" with a warning (:func:`run_identity`)."""

    sample: str = ""                    # the chip / wafer piece, e.g. "OGB-Ag-2026-11-03-A"
    device: str = ""                    # the device on it, e.g. "D07" or "r3c5"
    operator: str = ""
    note: str = ""                      # one line, free text
    die_position: str = ""              # where a prober gives one, e.g. "x=3,y=5"

    @field_validator(*RUN_FIELDS, mode="before")
    @classmethod
    def _text(cls, v: Any, info) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):   # device = 17 in TOML or --set: a name, not a number
            v = str(v)
        if not isinstance(v, str):
            raise ValueError(f"must be text (a quoted TOML string), got {type(v).__name__}")
        v = v.strip()
        bad = [c for c in v if ord(c) < 32 or ord(c) == 127]
        if bad:
            raise ValueError(f"must be one line of printable text (found control character {bad[0]!r})")
        limit = _RUN_MAX_CHARS[info.field_name]
        if len(v) > limit:
            raise ValueError(f"is {len(v)} characters; at most {limit}")
        return v


# --- notifications for unattended runs ([notify], --notify on `labrc run`; labrc.notify fires them)
NOTIFY_EVENTS = ("completed", "device_failure", "instrument_fault", "safe_state_unverified", "stall", "aborted",
                 "failed")


class NotifySection(_Section):
    """Who is told when a run ends or stalls: a shell command and/or notification URLs (apprise syntax,
    e.g. "mailto://user:pass@example.com", "json://host:port/path"). Never stored in a run file: URLs
    may carry credentials (Config.notify is excluded from ``to_dict``)."""

    command: str = ""                   # run by /bin/sh with LABRC_EVENT, LABRC_RUN_DIR, LABRC_MESSAGE, ...
    urls: list[str] = Field(default_factory=list)
    events: list[Literal["completed", "device_failure", "instrument_fault", "safe_state_unverified", "stall",
                         "aborted", "failed"]] = Field(default_factory=lambda: list(NOTIFY_EVENTS))
    stall_s: float = Field(600.0, gt=0, le=7 * 86400)   # no new rows for this long while running = a stall
    timeout_s: float = Field(10.0, gt=0, le=120)         # per target; a slower one is abandoned and logged

    @property
    def enabled(self) -> bool:
        return bool(self.command or self.urls)


class ServeSection(_Section):
    """``labrc serve``: where it listens and its access token ("" = the stored one, labrc.web.security)."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    token: str = Field("", pattern=r"^([A-Za-z0-9_-]{16,128})?$")   # never stored in a run file


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


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instrument: InstrumentSection = InstrumentSection()
    limits: LimitsSection = LimitsSection()
    data: DataSection = DataSection()
    sim: SimSection = SimSection()
    run: RunSection = RunSection()
    notify: NotifySection = Field(default_factory=NotifySection, exclude=True)   # secrets: not in to_dict()
    serve: ServeSection = Field(default_factory=ServeSection, exclude=True)
    source: str = ""   # where it was read from (for provenance)

    @model_validator(mode="after")
    def _device_on_die(self):
        if self.sim.device >= self.sim.n_devices:
            raise ValueError(f"sim.device={self.sim.device} must be < sim.n_devices={self.sim.n_devices}")
        return self

    @model_validator(mode="after")
    def _wiring_on_sim_chassis(self):
        """On the simulator the chassis is known before connecting: refuse a terminal it does not have
        (a real instrument is checked against its ``*OPT?`` by :func:`check_wiring` once connected)."""
        if self.instrument.backend == "sim":
            check_wiring(self.instrument, _sim_smus(self), "the simulated chassis")
        return self

    def check_data_dir(self) -> Path:
        """Make sure a run directory can be created in ``data.dir`` (before any instrument command).

        Refused with one :class:`ConfigError` line naming ``data.dir``: a path that is a file, a name
        longer than the file system allows, a folder that cannot be created or is not writable.
        """
        return check_data_dir(self.data_dir)

    @property
    def data_dir(self) -> Path:
        p = Path(self.data.dir).expanduser()
        if not p.is_absolute() and self.source:
            p = Path(self.source).parent / p
        return p

    def preset_params(self) -> tuple[str, dict[str, float]]:
        """(preset, model parameters) of the simulated die: ``sim.preset_file`` (relative to this labrc.toml)
        under ``sim.params``; ConfigError naming sim.preset_file for a file that cannot be used."""
        if not self.sim.preset_file:
            return self.sim.preset, dict(self.sim.params)
        from sim_backend.simconfig import read_preset_file
        p = Path(self.sim.preset_file).expanduser()
        if not p.is_absolute() and self.source:
            p = Path(self.source).parent / p
        try:
            base, params = read_preset_file(p)
        except ValueError as exc:
            raise ConfigError(f"sim.preset_file: {exc}") from None
        return base, {**params, **self.sim.params}

    def sim_config(self, *, with_preset_file: bool = True):
        """The simulated instrument this configuration describes (``with_preset_file=False``: the chassis
        only, without reading sim.preset_file — what validation needs before the file's folder is known)."""
        from sim_backend.kxci import SimConfig
        preset, params = self.preset_params() if with_preset_file else (self.sim.preset, dict(self.sim.params))
        return SimConfig(preset=preset, preset_params=params, n_devices=self.sim.n_devices, seed=self.sim.seed,
                         device_index=self.sim.device, top=self.instrument.top, bottom=self.instrument.bottom,
                         realtime_factor=self.sim.realtime_factor,
                         line_frequency_hz=float(self.sim.line_frequency_hz), load=self.sim.load,
                         faults=self.sim.faults.for_simulator(), cards=self.sim.cards,
                         tcpip_resource=self.instrument.resource if "SOCKET" in self.instrument.resource
                         else SimConfig.tcpip_resource,
                         gpib_resource=self.instrument.resource if self.instrument.resource.upper().startswith("GPIB")
                         else SimConfig.gpib_resource)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


# bytes a run adds below data.dir: "/<UTC time 16>_<type ≤ 16>_<sample ≤ 40>_<device ≤ 40>_<id 8>" (≤ 125)
# + "/run.h5.compact.tmp" (19), rounded up
RUN_DIR_RESERVE = 160


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except OSError:          # ENAMETOOLONG and the like: not a usable path either way
        return False


def _name_max(path: Path) -> int:
    """The longest file name the file system under ``path`` allows (255 when it cannot be asked)."""
    p = path
    while not _exists(p) and p != p.parent:
        p = p.parent
    try:
        return int(os.pathconf(p, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def check_data_dir(path: Path) -> Path:
    """See :meth:`Config.check_data_dir`; returns the (created) folder."""
    p = Path(path).absolute()
    name_max = _name_max(p)
    for part in p.parts[1:]:
        if len(os.fsencode(part)) > name_max:
            raise ConfigError(f"data.dir: the name {part[:24]}... is {len(os.fsencode(part))} bytes; this file system "
                              f"allows {name_max} per name: choose a shorter data.dir")
    if len(os.fsencode(str(p))) + RUN_DIR_RESERVE > 4096:
        raise ConfigError(f"data.dir is {len(os.fsencode(str(p)))} bytes long; with a run folder inside it exceeds "
                          "the 4096-byte path limit: choose a shorter data.dir")
    for a in (p, *p.parents):
        if _exists(a):
            if not a.is_dir():
                what = "is a file" if a == p else f"cannot be created: {a} is a file"
                raise ConfigError(f"data.dir={str(path)!r} {what}, not a folder: choose a folder for the run files")
            break
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".labrc-write-check-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"data.dir={str(path)!r} is not writable ({exc.strerror or exc}): choose a folder "
                          "you can write to, or fix its permissions") from None
    return p


def _sim_smus(cfg: "Config") -> list[int]:
    """SMU numbers of the simulated chassis this configuration builds."""
    sc = cfg.sim_config(with_preset_file=False)
    if hasattr(sc, "installed"):
        return sorted(sc.installed("SMU"))
    return list(range(1, sc.n_smus + 1))


def check_wiring(inst: InstrumentSection, installed, where: str = "the instrument") -> None:
    """Refuse ``instrument.top``/``bottom`` naming an SMU that ``where`` does not have (before any voltage)."""
    have = sorted(int(n) for n in installed)
    for key, n in (("top", inst.top_smu), ("bottom", inst.ground_smu)):
        if n is not None and n not in have:
            names = ", ".join(f"SMU{k}" for k in have) or "none"
            raise ConfigError(f"instrument.{key}={getattr(inst, key)}: {where} has no SMU{n} "
                              f"(installed SMUs: {names}); wire instrument.{key} to one of them")


class ConnectError(ConfigError):
    """The configured instrument could not be opened; the message names the ``instrument.*`` key to fix."""


def connect_error(exc: BaseException, inst: InstrumentSection) -> ConnectError:
    """One line for an exception raised while opening ``inst`` (nothing was sourced yet)."""
    from pyvisa import constants
    from pyvisa.errors import LibraryError, VisaIOError

    res, lib = inst.resource, inst.visa_library
    text = " ".join((str(exc) or type(exc).__name__).split())   # one line, whatever the library printed
    if isinstance(exc, ConfigError):
        return ConnectError(text)
    if type(exc).__name__ == "TranscriptError":   # visa_library = "path.jsonl@labrc" (sim_backend.transcript_replay)
        return ConnectError(f"instrument.visa_library={lib!r}: {text}")
    if isinstance(exc, LibraryError) or "VISA implementation" in text or "Wrapper not found" in text \
            or "Could not open VISA library" in text:
        return ConnectError(f"instrument.visa_library={lib!r}: no VISA implementation could be loaded ({text.strip()}); "
                            "install NI-VISA or Keysight IO Libraries, or pyvisa-py and set "
                            'instrument.visa_library = "@py"')
    if getattr(exc, "command", None) and isinstance(exc, VisaIOError) and exc.error_code == constants.VI_ERROR_TMO:
        return ConnectError(f"instrument.resource={res!r}: {text}; is this the 4200's address, and is KXCI "
                            "running there?")
    if isinstance(exc, VisaIOError) and exc.error_code == constants.VI_ERROR_INV_RSRC_NAME:
        return ConnectError(f"instrument.resource={res!r} is not a VISA resource name; use "
                            "TCPIP0::<ip>::1225::SOCKET (KXCI over Ethernet) or GPIB0::<address>::INSTR")
    if isinstance(exc, VisaIOError) and exc.error_code == constants.VI_ERROR_RSRC_NFOUND:
        return ConnectError(f"instrument.resource={res!r}: no such instrument (VISA: resource not found); "
                            "check the address, and that the instrument is on and connected")
    return ConnectError(f"instrument.resource={res!r}: cannot connect ({type(exc).__name__}: {text.strip()}); "
                        "check that the 4200 is on and reachable and that KXCI is running and listening "
                        "on this port (KCon, KXCI settings; default 1225)")


def with_run_identity(cfg: Config, source: str = "--run options", **values: str | None) -> Config:
    """``cfg`` with the given ``[run]`` values replaced (None = keep); validated like ``labrc.toml``."""
    unknown = sorted(set(values) - set(RUN_FIELDS))
    if unknown:
        raise ConfigError(f"unknown run identity field(s) {unknown}; fields are: {', '.join(RUN_FIELDS)}")
    merged = {**cfg.run.model_dump(), **{k: v for k, v in values.items() if v is not None}}
    try:
        run = RunSection.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError("; ".join(f"{source}: run.{e['loc'][0]}: {e['msg'].removeprefix('Value error, ')}"
                                    for e in exc.errors())) from None
    out = cfg.model_copy(update={"run": run})
    out.source = cfg.source
    return out


def run_identity(cfg: Config) -> tuple[dict[str, str], str]:
    """The run's identity as stored (metadata["run"]) and a warning for the operator ("" = none).

    The device name defaults to the simulated die index ("D00") on the simulator; on hardware there is
    no way to know which device is under the probes, so it is "unnamed" and the operator is told."""
    ident = cfg.run.model_dump()
    warning = ""
    if not ident["device"]:
        if cfg.instrument.backend == "sim":
            ident["device"] = f"D{cfg.sim.device:02d}"
        else:
            ident["device"] = RUN_UNNAMED_DEVICE
            warning = (f"labrc: warning: no device name: this run is recorded as device {RUN_UNNAMED_DEVICE!r}; "
                       "give --device NAME (and --sample) or set [run] device in labrc.toml")
    return ident, warning


def _format_error(err: ValidationError, source: str) -> str:
    """All validation errors on one line, each naming its key (``sim.faults.error.after``)."""
    lines = []
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = e.get("input")
        got_txt = "" if isinstance(got, dict) or e["type"] == "missing" or not key else f" (got {got!r})"
        lines.append(f"{source}: {key + ': ' if key else ''}{msg}{got_txt}")
    return "; ".join(lines)


def read_toml(path: str | os.PathLike, what: str) -> dict:
    """Read a TOML file; not UTF-8, not TOML or unreadable gives one :class:`ConfigError` line."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: the {what} file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); TOML files must be UTF-8: re-save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the {what} file: {exc.strerror or exc}") from None


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
    source = str(p) if p else ("--set" if overrides else "(defaults)")
    if p:
        data = read_toml(p, "configuration")
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

[run]                                        # identity of the runs (or --sample, --device, ... on labrc run)
sample = ""                                  # chip / wafer piece; names the run directory with the device
device = ""                                  # "" = the simulated die index (D00); on hardware give one
operator = ""
note = ""
die_position = ""                            # where a prober gives one

[notify]                                     # unattended runs: told on the end or a stall (labrc.notify)
command = ""                                 # e.g. "notify-send labrc \"$LABRC_MESSAGE\""
urls = []                                    # apprise URLs, e.g. ["mailto://user:pass@example.com"]
stall_s = 600.0                              # no new rows for this long while running = a stall

[serve]                                      # labrc serve: 127.0.0.1 by default; elsewhere a token
host = "127.0.0.1"
port = 8765
token = ""                                   # "" = generated once, kept 0600 in ~/.config/labrc/serve.token
"""
