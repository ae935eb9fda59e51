"""Stations: where a plan's messages become instrument commands, behind one small interface.

* :class:`HardwareStation` — a real 4200A through VISA: waits spend host time (a stop request ends
  them early), the probes stay on the one device under test of the run (index 0), and the device's
  state cannot be saved or restored (a resumed run on hardware continues the device as it is now).
* :class:`SimStation` — the embedded simulator: waits advance its virtual clock, device selection
  moves the probes on the simulated die, snapshot/restore make a resumed run equal an uninterrupted
  one. It talks to the chassis only through :mod:`sim_backend.state`.
* :class:`PlanningStation` — the dry run: the same plan, the same driver code path, nothing sent
  (``Keithley4200.dry_run``); it counts the exact commands and adds up the instrument time.

The engine (:mod:`labrc.engine`) sees only this interface and never a simulator attribute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from instruments.keithley4200 import Keithley4200, SweepResult

from .config import Config, ConfigError, check_wiring, connect_error
from .engine.messages import ListSweep

__all__ = ["HardwareStation", "PlanningStation", "SimStation", "Station", "StationError", "connect"]


class StationError(ValueError):
    """A message the station cannot carry out (e.g. a device the probes cannot reach). The plan's needs are
    checked before any voltage (labrc.planning.check_station, ParameterError, exit 2); this is the station's
    own refusal during a run, which then ends ``failed`` with the safe shutdown."""


class Station:
    """An opened instrument and the wiring of the run: what the engine drives."""

    kind = ""
    # how often the engine writes a checkpoint (host seconds; 0 = after every block): see RunEngine.run
    checkpoint_interval_s = 0.0

    def __init__(self, instr: Keithley4200, backend: dict, top_smu: int, ground_smu: int | None) -> None:
        self.instr, self.backend = instr, backend
        self.top_smu, self.ground_smu = top_smu, ground_smu

    @property
    def n_devices(self) -> int:
        """Devices :meth:`select_device` can reach."""
        return 1

    def list_sweep(self, msg: ListSweep, stop: Callable[[], bool]) -> SweepResult:
        return self.instr.list_sweep(self.top_smu, msg.voltages_v, msg.icc_a, msg.delay_s, msg.hold_s,
                                     msg.integration, self.ground_smu, should_stop=stop, fetch=msg.fetch)

    def wait(self, duration_s: float, stop: Callable[[], bool]) -> None:
        raise NotImplementedError

    def select_device(self, index: int) -> None:
        if index != 0:
            raise StationError(f"device {index}: on hardware the probes stay on one device per run; "
                               "run once per device")

    def snapshot(self) -> dict | None:
        """The station's state for a checkpoint (None: it cannot be restored)."""
        return None

    def restore(self, snap: dict) -> None:
        raise StationError(f"a {self.kind} station cannot restore a device state")

    def close(self) -> None:
        try:
            self.instr.adapter.close()
        except Exception:  # noqa: BLE001 - closing a dead connection is not an error worth raising
            pass


class HardwareStation(Station):
    """A real instrument: host-time waits, one device under the probes."""

    kind = "hardware"

    def wait(self, duration_s: float, stop: Callable[[], bool]) -> None:
        end = time.monotonic() + float(duration_s)
        while not stop() and time.monotonic() < end:
            time.sleep(min(0.2, max(end - time.monotonic(), 0.0)))


class SimStation(Station):
    """The embedded simulator: virtual time, a die of devices, exact snapshot and restore."""

    kind = "sim"
    checkpoint_interval_s = 0.5     # a snapshot is tens of kB of JSON; any older checkpoint resumes exactly

    def __init__(self, instr: Keithley4200, backend: dict, top_smu: int, ground_smu: int | None, core: Any) -> None:
        super().__init__(instr, backend, top_smu, ground_smu)
        from sim_backend import state
        self._core, self._state = core, state

    @property
    def n_devices(self) -> int:
        return self._state.n_devices(self._core)

    def wait(self, duration_s: float, stop: Callable[[], bool]) -> None:
        self._state.advance(self._core, duration_s)

    def select_device(self, index: int) -> None:
        try:
            self._state.select_device(self._core, index)
        except ValueError as exc:
            raise StationError(str(exc)) from None

    def snapshot(self) -> dict:
        """The chassis (clock, devices, random streams, outputs, pages) and what the driver knows it holds."""
        return {**self._state.snapshot(self._core), "held": self.instr.held_snapshot()}

    def restore(self, snap: dict) -> None:
        """Back to ``snap``: the chassis exactly, and the driver adopts the setup the restored pages hold, so
        the resumed run sends what the uninterrupted one sent (only on the simulator, whose pages were
        restored; a real instrument after a reconnect gets the full setup: instruments.held)."""
        self._state.restore(self._core, snap)
        self.instr.adopt_held(snap.get("held"))

    def describe(self) -> dict:
        return self._state.describe(self._core)


class PlanningStation(Station):
    """The dry run: every list sweep goes through the driver's own code path in ``dry_run`` mode, so
    the count is the commands the real run puts on the wire (one status poll per test, as the
    simulator answers; on hardware the 4200 is polled until done, so more ``SP`` queries follow)."""

    kind = "planning"

    def __init__(self, base: Station) -> None:
        super().__init__(base.instr, base.backend, base.top_smu, base.ground_smu)
        self.base = base
        self.n_sweeps = 0
        self.instrument_s = 0.0
        self.devices: set[int] = set()
        # one dry run for the whole plan: the driver's held state evolves across the planned sweeps as it
        # would on the wire (the first sends the full setup, later ones only what changed)
        self._dry = self.instr.dry_run()
        self._rec = self._dry.__enter__()

    @property
    def n_commands(self) -> int:
        """Commands the planned sweeps would put on the wire so far."""
        return int(self._rec.n_commands)

    @property
    def n_devices(self) -> int:
        return self.base.n_devices

    def list_sweep(self, msg: ListSweep, stop: Callable[[], bool]) -> SweepResult:
        out = super().list_sweep(msg, lambda: False)
        self.n_sweeps += 1
        self.instrument_s += msg.nominal_s          # a PLC at 50 Hz: the planning ETA is an upper bound
        return out

    def wait(self, duration_s: float, stop: Callable[[], bool]) -> None:
        self.instrument_s += float(duration_s)

    def select_device(self, index: int) -> None:
        if not 0 <= index < self.n_devices:
            raise StationError(f"device {index} is not reachable here (0..{self.n_devices - 1})")
        self.devices.add(int(index))

    def finish(self) -> None:
        """End the dry run (the driver forgets its held state: the next real list sends the full setup);
        the instrument stays open (a pre-flight before the real run)."""
        if self._dry is not None:
            self._dry.__exit__(None, None, None)
            self._dry = None

    def close(self) -> None:
        self.finish()
        self.base.close()


def connect(cfg: Config) -> Station:
    """Open the configured instrument (real through VISA, or the embedded simulator) as a station.

    Opening sends only ``*IDN?`` and ``*OPT?``; the wiring is then checked against the SMUs the
    instrument reports, before any voltage."""
    backend: dict[str, Any] = {"kind": cfg.instrument.backend}
    core = None
    if cfg.instrument.backend == "sim":
        from sim_backend import state
        from sim_backend.library import LabrcSimLibrary
        lib = LabrcSimLibrary.create(cfg.sim_config())
        visa_library: Any = lib
        core = lib.instrument
        backend.update(sim=lib.config.to_dict(), model=state.describe(core))
    else:
        visa_library = cfg.instrument.visa_library
    try:   # no library, a bad resource name, a closed port, no answer to *OPT?: one line, exit 2, nothing sourced
        instr = Keithley4200(cfg.instrument.resource, visa_library=visa_library,
                             timeout=int(cfg.instrument.timeout_s * 1000))
    except Exception as exc:
        raise connect_error(exc, cfg.instrument) from exc
    try:   # the wiring against the SMUs the instrument reports (*OPT?), before any voltage
        check_wiring(cfg.instrument, instr.smu_limits)
    except ConfigError:
        instr.adapter.close()
        raise
    wiring = (cfg.instrument.top_smu, cfg.instrument.ground_smu)
    if core is not None:
        return SimStation(instr, backend, *wiring, core)
    return HardwareStation(instr, backend, *wiring)
