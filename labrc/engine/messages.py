"""The messages a plan yields, and what the engine sends back (Bluesky's plan/RunEngine split).

A protocol is a plan: for each of its blocks a generator that yields these messages and receives
each one's reply (``reply = yield ListSweep(...)``). The engine (:mod:`labrc.engine.engine`) executes
them against a station (:mod:`labrc.stations`) and alone owns what every run shares: stop checks
before every message, ``seq``, the run clock, checkpoints and resume, progress, the store, the safe
state and the final status. So a plan holds no stop, resume or sequence bookkeeping — and the same
plan against the planning station is the dry run, with the exact command count.

This module imports numpy and instruments.limits only, so protocols and the store can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from instruments.limits import integration_time_s

__all__ = ["BlockPlan", "DeviceFailed", "Emit", "ListSweep", "Log", "Message", "SelectDevice", "Sweep", "Wait"]


@dataclass(frozen=True)
class ListSweep:
    """One system-mode ``VL`` list sweep (≤ 4096 points) on the top-electrode SMU at compliance ``icc_a``.

    The wiring (which SMU drives the top electrode, which holds the bottom at 0 V) is the station's,
    not the plan's. ``fetch``: the ``DO`` transfers (current always: it carries the status letters;
    ``V`` measured voltage, ``T`` timestamps); what is not fetched comes back NaN. Reply: :class:`Sweep`.
    """

    voltages_v: np.ndarray
    icc_a: float
    delay_s: float
    hold_s: float = 0.0
    integration: int = 1
    fetch: tuple[str, ...] = ("I", "V", "T")

    @property
    def nominal_s(self) -> float:
        """Instrument time the list takes by its settings: hold + every point's delay and integration at the
        worst-case 50 Hz mains (an upper bound; the run clock uses the measured time when ``T`` is fetched)."""
        return self.hold_s + len(self.voltages_v) * (self.delay_s + integration_time_s(self.integration))


@dataclass(frozen=True)
class Sweep:
    """What a :class:`ListSweep` measured. ``t_s`` is on the run clock (instrument time since the run
    began, continued across a resume); ``t0_s`` / ``t_end_s`` the run clock when the list started / ended."""

    v_set_v: np.ndarray
    v_meas_v: np.ndarray
    i_meas_a: np.ndarray
    t_s: np.ndarray
    status: np.ndarray
    t0_s: float
    t_end_s: float          # run clock after the list (its last timestamp, or the nominal time unfetched)
    wall_s: float           # host time (time.time()) when the list started

    @property
    def compliance(self) -> np.ndarray:
        """Points the SMU clamped at the compliance (status letter ``C``)."""
        return self.status == "C"

    @property
    def duration_s(self) -> float:
        """Instrument time of the list: its last timestamp (the nominal time when ``T`` was not fetched)."""
        return self.t_end_s - self.t0_s

    def __len__(self) -> int:
        return int(self.i_meas_a.size)


@dataclass(frozen=True)
class Wait:
    """Let ``duration_s`` of time pass with the present outputs applied: host time on hardware (a stop
    request ends it early), virtual time on the simulator (the device relaxes or drifts). Reply: None."""

    duration_s: float


@dataclass(frozen=True)
class SelectDevice:
    """Put device ``index`` of the die under the probes (the simulator's die; on hardware only the one
    device of the run, index 0). The engine checks :meth:`Protocol.devices_needed` before the run starts."""

    index: int


@dataclass(frozen=True)
class Emit:
    """Rows for ``stream`` (columns of equal length, without ``seq``: the engine numbers the rows).
    A block's rows are stored when the block ends, with its checkpoint — never half a block."""

    stream: str
    columns: dict[str, np.ndarray]


@dataclass(frozen=True)
class Log:
    """A line for the run's event log (warnings and errors are also shown to the operator)."""

    message: str
    level: str = "info"


@dataclass(frozen=True)
class DeviceFailed:
    """The plan saw the device fail. ``info``: first failing cycle, mode, criterion, detection cycle.
    With ``end`` the run ends after this block, status ``device_failure`` (exit 3); without, the failure
    is recorded and the run goes on."""

    reason: str
    info: dict = field(default_factory=dict)
    end: bool = True


Message = Union[ListSweep, Wait, SelectDevice, Emit, Log, DeviceFailed]
# the plan of one block: yields messages, receives their replies, returns the carry for the next block
BlockPlan = Generator[Message, Any, dict]
