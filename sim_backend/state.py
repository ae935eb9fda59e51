"""The simulated chassis' state as a station sees it: snapshot, restore, device selection, time.

These are not KXCI commands — a real 4200A has no such thing — but what the simulator station
(:mod:`labrc.stations`) needs so that a resumed run equals an uninterrupted one: everything that
makes the simulated instrument's future (its clock, every touched device's state and random
stream, the open-load noise stream, the SMU outputs) in a JSON-able dict, and back. Kept here, in
``sim_backend``, so nothing outside the simulator reaches into the chassis' attributes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["advance", "describe", "device_index", "n_devices", "restore", "select_device", "snapshot"]


def _has_devices(core: Any) -> bool:
    return core.die is not None and hasattr(core.die, "device")


def n_devices(core: Any) -> int:
    """Devices a probe move can reach: the die's (1 for a calibration load or an open circuit)."""
    return int(core.config.n_devices) if _has_devices(core) else 1


def device_index(core: Any) -> int:
    """The device under the probes now."""
    return int(core.config.device_index) if _has_devices(core) else 0


def select_device(core: Any, k: int) -> None:
    """Put device ``k`` of the die under the probes (a probe move; the outputs are the run's)."""
    if not 0 <= int(k) < n_devices(core):
        raise ValueError(f"device {k} is not on the die (0..{n_devices(core) - 1})")
    if _has_devices(core):
        core.config.device_index = int(k)


def advance(core: Any, dt_s: float) -> None:
    """Let ``dt_s`` of virtual time pass with the present outputs applied."""
    core.advance(dt_s)


def describe(core: Any) -> dict:
    """The device model's description for the run's provenance (parameters of every device)."""
    die = core.die
    if die is None:
        return {}
    return die.describe() if hasattr(die, "describe") else dict(getattr(die, "params", {}))


def snapshot(core: Any) -> dict:
    """Everything that makes the simulated instrument's future, JSON-able (floats round-trip exactly)."""
    die = core.die
    if die is None:
        devices: dict = {}
    elif _has_devices(core):     # only devices that were under the probes can have changed
        devices = {str(k): die.device(k).get_state() for k in sorted(core.touched)}
    else:
        devices = {"0": die.get_state()}
    # the SMU outputs too: they stay at a list's last point (a retention wait runs with them applied)
    smus = {str(n): dataclasses.asdict(s) for n, s in core.smus.items()}
    # the system-mode pages keep their setup between tests (reference §2.1-2.4), so they are instrument
    # state too: a resumed run continues with the pages the uninterrupted run had (smu_pages.pages_snapshot)
    return {"clock_s": core.clock_s, "devices": devices, "device_index": device_index(core),
            "open_load": core.open_load.get_state(), "smus": smus, "pages": core.pages_snapshot()}


def restore(core: Any, snap: dict) -> None:
    """Put the chassis back in the state :func:`snapshot` recorded."""
    die = core.die
    if _has_devices(core):
        for k, st in snap["devices"].items():
            die.device(int(k)).set_state(st)
        core.touched.update(int(k) for k in snap["devices"])
        core.config.device_index = int(snap.get("device_index", core.config.device_index))
    elif die is not None and "0" in snap["devices"]:
        die.set_state(snap["devices"]["0"])
    core.open_load.set_state(snap["open_load"])
    core.clock_s = float(snap["clock_s"])
    for n, st in snap.get("smus", {}).items():
        if int(n) in core.smus:
            for k, v in st.items():
                setattr(core.smus[int(n)], k, v)
    if "pages" in snap:
        core.pages_restore(snap["pages"])
