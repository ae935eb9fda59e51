"""What the simulated instrument is: its cards, the die under the probes, the wiring, the timing.

:class:`SimConfig` is plain, JSON-able data. :meth:`SimConfig.from_toml` reads the ``[sim]`` and
``[instrument]`` tables of a ``labrc.toml`` itself, so the simulator never imports labrc (the
dependency runs labrc → sim_backend only).

The chassis' cards are configuration (``cards``): one ``*OPT?`` slot entry each, as the instrument
names them (KXCI-E p. 4-4, 4-5): ``SMU``, ``HPSMU`` (4210/4211, 1 A), ``SMUPA`` / ``HPSMUPA`` (with a
4200-PA preamp), ``CVU``, ``VPU`` (PGU), ``PMU`` / ``PMUnRPM…``, ``VS``, ``VM``, each followed by its
number. ``None`` means ``n_smus`` plain SMUs and one PMU (the chassis the labrc driver is tested on).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

_SLOT = re.compile(r"^(HPSMUPA|HPSMU|SMUPA|SMU|CVU|VPU|PMU|VS|VM)(\d)(RPM[0-9-]*)?$")


@dataclass(frozen=True)
class SmuCard:
    """One SMU slot: the ranges and limits that depend on the card model (KXCI-E p. 5-17 … 5-34)."""

    number: int
    model: str            # the *OPT? name without the number: SMU, HPSMU, SMUPA, HPSMUPA

    @property
    def preamp(self) -> bool:
        return self.model.endswith("PA")

    @property
    def i_max_a(self) -> float:
        return 1.05 if self.model.startswith("HP") else 0.105

    @property
    def comp_min_a(self) -> float:
        """Current compliance below this is raised to it (KXCI-E p. 5-20)."""
        return 100e-12 if self.preamp else 100e-9


@dataclass
class SimConfig:
    """What the simulated instrument is: cards, die, wiring, timing. Plain data, JSON-able."""

    n_smus: int = 4
    preset: str = "OGB-Ag"
    n_devices: int = 25
    seed: int = 0
    device_index: int = 0
    top: str = "SMU1"                 # terminal on the Ag top electrode
    bottom: str = "SMU2"              # SMU on the ITO bottom electrode, or "GNDU"
    line_frequency_hz: float = 60.0
    command_latency_s: float = 1e-3   # virtual time each command takes on the instrument
    realtime_factor: float = 0.0      # 0 = as fast as possible
    serial: str = "1442736"
    firmware: str = "V1.13"
    tcpip_resource: str = "TCPIP0::k4200.sim::1225::SOCKET"
    gpib_resource: str = "GPIB0::17::INSTR"
    load: str = "memristor"           # "memristor", "open", or "resistor:<ohms>" (calibration load)
    pmu_top_channel: int = 1          # PMU channel wired (through its RPM) to the top electrode; bottom grounded
    cards: list[str] | None = None    # *OPT? slot entries, e.g. ["SMU1", "SMUPA2", "PMU1", "CVU1"]
    faults: dict = field(default_factory=dict)   # fault injection, see Kxci4200.faults
    # model parameters replacing the preset's (sim_backend.model.params.Preset fields), e.g. a device fitted by
    # `labrc sim fit` (labrc.fit); {} = the preset as it is. The die is then built by fitted_die().
    preset_params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.options():
            if not _SLOT.match(entry.upper()):
                raise ValueError(f"cards: {entry!r} is not a 4200A slot entry (SMUn, HPSMUn, SMUPAn, HPSMUPAn, "
                                 f"CVUn, VPUn, PMUn[RPM…], VSn, VMn)")

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def options(self) -> list[str]:
        """The ``*OPT?`` entries, slot by slot."""
        if self.cards is not None:
            return [str(c).strip() for c in self.cards]
        return [f"SMU{n}" for n in range(1, self.n_smus + 1)] + ["PMU1"]

    def installed(self, kind: str) -> list[int]:
        """Numbers of the installed cards of one kind: ``"SMU"`` (any SMU model), ``"PMU"``, ``"CVU"``, …"""
        out = []
        for entry in self.options():
            m = _SLOT.match(entry.upper())
            if m and (m.group(1) == kind or (kind == "SMU" and m.group(1).endswith(("SMU", "SMUPA")))):
                out.append(int(m.group(2)))
        return out

    def smu_cards(self) -> dict[int, SmuCard]:
        out = {}
        for entry in self.options():
            m = _SLOT.match(entry.upper())
            if m and "SMU" in m.group(1):
                out[int(m.group(2))] = SmuCard(int(m.group(2)), m.group(1))
        return out

    # --- labrc.toml -------------------------------------------------------------------------------
    _SIM_KEYS: ClassVar[dict[str, str]] = {"preset": "preset", "seed": "seed", "n_devices": "n_devices", "device": "device_index",
                 "realtime_factor": "realtime_factor", "line_frequency_hz": "line_frequency_hz",
                 "load": "load", "faults": "faults", "cards": "cards"}

    @classmethod
    def from_toml(cls, path: str | Path) -> SimConfig:
        """The simulated instrument a ``labrc.toml`` describes (its ``[sim]`` and ``[instrument]`` tables).

        Values are checked by labrc when labrc reads the file; here an unknown ``[sim]`` key is
        refused with its name, so a typo never silently gives the default die.
        """
        data = tomllib.loads(Path(path).read_text())
        sim, inst = dict(data.get("sim", {})), data.get("instrument", {})
        params = dict(sim.pop("params", {}) or {})
        if sim.get("preset_file"):     # a preset written by `labrc sim fit`, relative to the labrc.toml
            base, file_params = read_preset_file(Path(path).parent / str(sim.pop("preset_file")))
            sim.setdefault("preset", base)
            params = {**file_params, **params}
        sim.pop("preset_file", None)
        bad = sorted(set(sim) - set(cls._SIM_KEYS))
        if bad:
            raise ValueError(f"{path}: unknown [sim] key(s) {bad}; known: {sorted(cls._SIM_KEYS)}")
        kw = {cls._SIM_KEYS[k]: v for k, v in sim.items()}
        if "line_frequency_hz" in kw:
            kw["line_frequency_hz"] = float(kw["line_frequency_hz"])
        for key in ("top", "bottom"):
            if key in inst:
                kw[key] = str(inst[key])
        resource = str(inst.get("resource", ""))
        if "SOCKET" in resource.upper():
            kw["tcpip_resource"] = resource
        elif resource.upper().startswith("GPIB"):
            kw["gpib_resource"] = resource
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in kw.items() if k in names}, preset_params=params)


def read_preset_file(path: str | Path) -> tuple[str, dict[str, float]]:
    """(base preset, parameters) of a device preset file (``[preset] base``, ``[params]``; labrc.fit writes it).

    ValueError with one line naming the file and the key for anything else."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{p}: cannot read the preset file ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: not a TOML preset file ({exc})") from None
    base = (data.get("preset") or {}).get("base")
    params = data.get("params")
    if not isinstance(base, str) or not isinstance(params, dict):
        raise ValueError(f"{p}: a preset file needs [preset] base = \"<preset>\" and a [params] table")
    check_preset_params(params, str(p))
    return base, {k: float(v) for k, v in params.items()}


def check_preset_params(params: dict, where: str = "preset_params") -> None:
    """Every key a numeric field of the model's Preset, every value a finite number >= 0."""
    import math
    from dataclasses import fields as dc_fields

    from .model.params import Preset
    numeric = {f.name for f in dc_fields(Preset) if f.type in ("float", float)}
    for k, v in params.items():
        if k not in numeric:
            raise ValueError(f"{where}: {k!r} is not a numeric model parameter; parameters are: {sorted(numeric)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{where}: {k} = {v!r} must be a finite number >= 0")


def fitted_die(config: SimConfig):
    """The die of ``config.preset`` with ``config.preset_params`` in place of the preset's values.

    Devices are drawn from the base preset's random streams (sim_backend.model.params.streams keys them by
    the preset's name), so device k of seed s is the same draw as on the plain preset; a fitted preset sets
    the spreads of its fitted parameters to 0, so every device of the die is the fitted device."""
    from .model import Die
    check_preset_params(config.preset_params)
    return Die(config.n_devices, config.preset, config.seed, replaced=config.preset_params)
