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
