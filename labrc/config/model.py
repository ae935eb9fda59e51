"""The whole configuration, :class:`Config`: the sections, the checks that span them, and what is derived
from them (the data folder, the simulated instrument's description).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .datadir import check_data_dir
from .errors import ConfigError
from .sections import (
    DataSection,
    InstrumentSection,
    LimitsSection,
    NotifySection,
    RunSection,
    ServeSection,
)
from .sim_section import SimSection
from .wiring import _sim_smus, check_wiring


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
