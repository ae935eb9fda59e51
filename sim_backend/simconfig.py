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
        sim, inst = data.get("sim", {}), data.get("instrument", {})
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
        return cls(**{k: v for k, v in kw.items() if k in names})
