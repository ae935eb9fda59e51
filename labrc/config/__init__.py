"""``labrc.toml``: instrument, wiring, operator safety limits, data directory, simulator.

Validated with pydantic: an unknown key, a wrong type or a value out of range is refused with a
:class:`ConfigError` that names the key (``limits.v_max_v``) and the allowed range, before anything
touches an instrument. ``--set section.key=value`` overrides any key for one run.

One module per job: :mod:`.errors` (ConfigError, ConnectError), :mod:`.sections` and :mod:`.sim_section`
(the tables), :mod:`.model` (Config), :mod:`.datadir` and :mod:`.wiring` (checks before any instrument
command), :mod:`.identity` (the run identity), :mod:`.loading` (file, ``--set``, error lines),
:mod:`.example` (what ``labrc init`` writes). Import from ``labrc.config``: the names below are its surface.
"""

from __future__ import annotations

from .datadir import RUN_DIR_RESERVE, check_data_dir
from .errors import ConfigError, ConnectError, connect_error
from .example import EXAMPLE_TOML
from .identity import run_identity, with_run_identity
from .loading import (
    CONFIG_ENV,
    DEFAULT_FILE,
    _format_error,
    find_config,
    load_config,
    parse_override,
    read_toml,
)
from .model import Config
from .sections import (
    NOTIFY_EVENTS,
    RUN_FIELDS,
    RUN_UNNAMED_DEVICE,
    DataSection,
    InstrumentSection,
    LimitsSection,
    NotifySection,
    RunSection,
    ServeSection,
)
from .sim_section import (
    DEVICE_FAULT_KINDS,
    CountedFault,
    DeviceFault,
    DropFault,
    ErrorFault,
    FaultDrills,
    SimSection,
)
from .wiring import check_wiring

__all__ = [
    "CONFIG_ENV", "DEFAULT_FILE", "DEVICE_FAULT_KINDS", "EXAMPLE_TOML", "NOTIFY_EVENTS", "RUN_DIR_RESERVE",
    "RUN_FIELDS", "RUN_UNNAMED_DEVICE", "Config", "ConfigError", "ConnectError", "CountedFault", "DataSection",
    "DeviceFault", "DropFault", "ErrorFault", "FaultDrills", "InstrumentSection", "LimitsSection", "NotifySection",
    "RunSection", "ServeSection", "SimSection", "_format_error", "check_data_dir", "check_wiring", "connect_error",
    "find_config", "load_config", "parse_override", "read_toml", "run_identity", "with_run_identity",
]
