"""Fixtures: a fresh simulated 4200 per test (state lives in its own library instance)."""

from __future__ import annotations

import pytest

from helpers import make_instrument
from sim_backend.kxci import SimConfig


@pytest.fixture
def resistor_4200():
    """The simulator with a 1 MΩ calibration resistor between SMU1 and SMU2 (Ethernet framing)."""
    k = make_instrument(SimConfig(load="resistor:1e6"))
    yield k
    k.adapter.close()


@pytest.fixture
def memristor_4200():
    """The simulator with device 0 of the default OGB/Ag die under the probes."""
    k = make_instrument(SimConfig())
    yield k
    k.adapter.close()
