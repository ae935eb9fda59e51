"""Protocols of the paper, by command-line name. Each plans blocks; :mod:`labrc.runner` executes them."""

from .base import ParameterError, Plan, Protocol
from .endurance import NonvolatileEndurance, VolatileEndurance
from .icc_set import IccSet
from .iv_sweep import IVSweep
from .reconfigure import Reconfigure
from .relaxation import Relaxation
from .retention import Retention
from .spike_train import SpikeTrain

PROTOCOLS: dict[str, type[Protocol]] = {p.name: p for p in (IVSweep, VolatileEndurance, NonvolatileEndurance, IccSet, SpikeTrain, Retention, Reconfigure, Relaxation)}


def get_protocol(name: str) -> type[Protocol]:
    """The protocol class for a command-line name; unknown names refused with the list."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ParameterError(f"unknown protocol {name!r}; protocols are: {', '.join(PROTOCOLS)}") from None


__all__ = [
    "PROTOCOLS",
    "IVSweep",
    "IccSet",
    "NonvolatileEndurance",
    "ParameterError",
    "Plan",
    "Protocol",
    "Reconfigure",
    "Relaxation",
    "Retention",
    "SpikeTrain",
    "VolatileEndurance",
    "get_protocol",
]
