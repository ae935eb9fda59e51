"""Pulse bursts on the two engines of the 4200, and the burst planner shared by every protocol.

* **SMU** (:class:`SmuPulseTrain`): a pulse train *with current compliance* as system-mode ``VL`` list
  sweeps (≤ 4096 points, KXCI-E p. 5-18): each cycle is ``k`` levels, each level held for the step delay
  ``DT = width_s`` (≤ 6.553 s, p. 5-12) and then measured (integration chosen for the width, ``IT1``
  0.1 PLC unless the width allows more), every point returned with its status letter (``C`` = the
  compliance clamped it). N cycles are split into as many list sweeps as needed
  (:meth:`Keithley4200.list_sweep` is reused for each).
* **PMU** (:class:`PmuCycle`): one Segment-Arb sequence per cycle, looped ``n`` times by
  ``:PMU:SARB:WFM:SEQ:LIST ch, 1, n`` (no compliance: the device model sees ``icc = inf``).
* :func:`plan_bursts` splits N cycles into bursts that respect points per acquisition (65,536 PMU /
  4096 SMU list), and an instrument-time budget per burst (stop requests and store flushes happen at
  least every ``budget_s``), and gives the ETA from the instrument timing before anything runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from .limits import (
    DELAY_MAX_S,
    INTEGRATION_PLC,
    LIST_POINTS_MAX,
    PMU_POINTS_MAX,
    PMU_SARB_LOOPS_MAX,
    LimitError,
    check_range,
)
from .pmu import ChannelSetup, PmuData, SarbSequence, Segment

if TYPE_CHECKING:  # pragma: no cover
    from .keithley4200 import Keithley4200

__all__ = ["BurstPlan", "plan_bursts", "SmuPulseTrain", "SmuBurst", "PmuCycle", "PmuBurst",
           "choose_integration", "LINE_FREQUENCY_WORST_HZ"]

LINE_FREQUENCY_WORST_HZ = 50.0      # PLC duration is longest at 50 Hz: used for timing estimates
SMU_BURST_OVERHEAD_S = 0.05         # per list sweep: ~20 commands + 3 DO transfers (estimate)
PMU_BURST_OVERHEAD_S = 0.05         # per execute: setup + polling + DATA:GET blocks (estimate)


@dataclass(frozen=True)
class BurstPlan:
    """N cycles as bursts: ``n_bursts - 1`` bursts of ``cycles_per_burst`` and a last one of ``last``."""

    n_cycles: int
    cycles_per_burst: int
    n_bursts: int
    last: int
    cycle_time_s: float          # instrument time of one cycle
    burst_overhead_s: float      # per-burst transfer/setup estimate
    eta_s: float                 # instrument time + overheads for all bursts
    bound_by: str                # which limit set cycles_per_burst

    def sizes(self) -> Iterator[int]:
        """Cycles in each burst, in order (a generator: memory independent of N)."""
        for _ in range(self.n_bursts - 1):
            yield self.cycles_per_burst
        if self.n_bursts:
            yield self.last


def plan_bursts(n_cycles: int, cycle_time_s: float, points_per_cycle: int, max_points: int,
                budget_s: float | None = 2.0, max_cycles: int | None = None,
                burst_overhead_s: float = 0.0) -> BurstPlan:
    """Split ``n_cycles`` into bursts.

    ``max_points``: points one acquisition may return (65,536 PMU per channel, 4096 for a VL list);
    ``budget_s``: instrument time per burst (None: no budget); ``max_cycles``: any further cap (loops).
    Raises :class:`LimitError` if a single cycle already breaks a limit.
    """
    n = int(n_cycles)
    if n < 1 or n != n_cycles:
        raise LimitError(f"n_cycles={n_cycles!r} must be an integer >= 1")
    if not cycle_time_s > 0:
        raise LimitError(f"cycle_time_s={cycle_time_s!r} must be > 0")
    if points_per_cycle > max_points:
        raise LimitError(f"one cycle returns {points_per_cycle} points; one acquisition holds at most {max_points}")
    caps = {"points": max_points // max(points_per_cycle, 1) if points_per_cycle else n}
    if budget_s is not None:
        if cycle_time_s > budget_s:
            caps["time budget"] = 1
        else:
            caps["time budget"] = max(1, int(budget_s // cycle_time_s))
    if max_cycles is not None:
        caps["cycle cap"] = int(max_cycles)
    caps["n_cycles"] = n
    bound = min(caps, key=lambda k: caps[k])
    per = max(1, caps[bound])
    n_bursts = math.ceil(n / per)
    last = n - per * (n_bursts - 1)
    eta = n * cycle_time_s + n_bursts * burst_overhead_s
    return BurstPlan(n, per, n_bursts, last, cycle_time_s, burst_overhead_s, eta, bound)


def choose_integration(width_s: float, line_frequency_hz: float = LINE_FREQUENCY_WORST_HZ) -> int:
    """The longest integration (``IT1``/``IT2``/``IT3``, KXCI-E p. 5-40) whose time fits in the width.

    ``IT1`` (0.1 PLC) is the floor: pulses shorter than 2 ms (at 50 Hz) are still measured with 0.1 PLC,
    and the device then sees ``width + integration`` at the level (the ETA includes it).
    """
    best = 1
    for code in (2, 3):
        if INTEGRATION_PLC[code] / line_frequency_hz <= width_s:
            best = code
    return best


# ------------------------------------------------------------------------------------ SMU engine
@dataclass
class SmuBurst:
    """One burst of an SMU pulse train: arrays shaped (cycles, k) with the status letters kept."""

    first_cycle: int
    v_set_v: np.ndarray
    v_meas_v: np.ndarray
    i_meas_a: np.ndarray
    t_s: np.ndarray
    status: np.ndarray

    @property
    def compliance(self) -> np.ndarray:
        return self.status == "C"

    def __len__(self) -> int:
        return int(self.i_meas_a.shape[0])


@dataclass
class SmuPulseTrain:
    """A train of ``n_cycles`` cycles of ``levels_v`` (e.g. read 0.1 V, write 2 V, read 0.1 V) on an SMU
    with current compliance ``icc_a``; every level lasts ``width_s`` (``DT``) + the integration time."""

    smu: int
    levels_v: np.ndarray
    width_s: float
    icc_a: float
    n_cycles: int
    ground_smu: int | None = None
    integration: int | None = None       # None: choose_integration(width_s)
    budget_s: float | None = 2.0

    def __post_init__(self) -> None:
        self.levels_v = np.atleast_1d(np.asarray(self.levels_v, dtype=np.float64))
        check_range(self.width_s, 0.0, DELAY_MAX_S, "width_s", "s")
        if self.integration is None:
            self.integration = choose_integration(self.width_s)

    @property
    def step_time_s(self) -> float:
        return self.width_s + INTEGRATION_PLC[int(self.integration)] / LINE_FREQUENCY_WORST_HZ

    def plan(self) -> BurstPlan:
        k = self.levels_v.size
        return plan_bursts(self.n_cycles, k * self.step_time_s, k, LIST_POINTS_MAX, self.budget_s,
                           burst_overhead_s=SMU_BURST_OVERHEAD_S)

    def validate(self, instrument: "Keithley4200") -> BurstPlan:
        """Every limit checked on the largest burst's command stream (nothing is sent)."""
        plan = self.plan()
        instrument.plan_list_sweep(self.smu, np.tile(self.levels_v, plan.cycles_per_burst), self.icc_a,
                                   self.width_s, 0.0, int(self.integration), self.ground_smu)
        return plan

    def run(self, instrument: "Keithley4200", should_stop: Callable[[], bool] | None = None) -> Iterator[SmuBurst]:
        """Yield one :class:`SmuBurst` per list sweep; check ``should_stop`` between (and during) bursts."""
        plan = self.validate(instrument)
        k = self.levels_v.size
        done = 0
        for n in plan.sizes():
            if should_stop is not None and should_stop():
                return
            r = instrument.list_sweep(self.smu, np.tile(self.levels_v, n), self.icc_a, self.width_s, 0.0,
                                      int(self.integration), self.ground_smu, should_stop=should_stop)
            yield SmuBurst(done, r.v_set_v.reshape(n, k), r.v_meas_v.reshape(n, k), r.i_meas_a.reshape(n, k),
                           r.t_s.reshape(n, k), r.status.reshape(n, k))
            done += n


# ------------------------------------------------------------------------------------ PMU engine
@dataclass
class PmuBurst:
    """One Segment-Arb execute: measured points of the top channel reshaped (cycles, points per cycle)."""

    first_cycle: int
    v_v: np.ndarray
    i_a: np.ndarray
    t_s: np.ndarray
    status: np.ndarray
    data: PmuData

    def __len__(self) -> int:
        return int(self.i_a.shape[0])


@dataclass
class PmuCycle:
    """``n_cycles`` repetitions of one Segment-Arb sequence on PMU channel ``channel`` (no compliance)."""

    segments: list[Segment]
    n_cycles: int
    channel: int = 1
    range_v: float = 10.0
    i_range_a: float = 100e-6
    load_ohm: float = 1e6
    rpm: bool = True
    budget_s: float | None = 2.0

    def __post_init__(self) -> None:
        self.sequence = SarbSequence.from_segments(self.segments)

    def setup(self, loops: int) -> ChannelSetup:
        return ChannelSetup(self.channel, {1: self.sequence}, [(1, int(loops))], self.range_v, self.i_range_a,
                            self.load_ohm, self.rpm)

    def plan(self) -> BurstPlan:
        ppc = self.sequence.points_per_pass()
        return plan_bursts(self.n_cycles, self.sequence.duration_s, ppc, PMU_POINTS_MAX, self.budget_s,
                           max_cycles=int(PMU_SARB_LOOPS_MAX), burst_overhead_s=PMU_BURST_OVERHEAD_S)

    def validate(self, instrument: "Keithley4200") -> BurstPlan:
        plan = self.plan()
        instrument.pmu.plan_segment_arb([self.setup(plan.cycles_per_burst)])
        return plan

    def run(self, instrument: "Keithley4200", should_stop: Callable[[], bool] | None = None) -> Iterator[PmuBurst]:
        plan = self.validate(instrument)
        ppc = self.sequence.points_per_pass()
        done = 0
        for n in plan.sizes():
            if should_stop is not None and should_stop():
                return
            sarb = instrument.pmu.plan_segment_arb([self.setup(n)])
            d = instrument.pmu.run(sarb, should_stop=should_stop)[self.channel] if ppc else None
            if d is None:
                e = np.empty((n, 0))
                yield PmuBurst(done, e, e, e, e.astype(np.uint32), PmuData(*(np.empty(0),) * 3, np.empty(0, np.uint32)))
            else:
                shape = (n, ppc)
                yield PmuBurst(done, d.v_v.reshape(shape), d.i_a.reshape(shape), d.t_s.reshape(shape),
                               d.status.reshape(shape), d)
            done += n


def read_write_read_segments(v_read: float = 0.1, read_s: float = 10e-6, v_write: float = 2.0,
                             write_s: float = 10e-6, edge_s: float = 1e-6, gap_s: float = 2e-6) -> list[Segment]:
    """A read / write / read cycle as Segment-Arb segments (0 V at both ends, seamless, spot-mean reads
    over the middle 50 % of each read plateau)."""
    w0, w1 = 0.25 * read_s, 0.75 * read_s
    return [
        Segment(0.0, v_read, edge_s), Segment(v_read, v_read, read_s, 1, w0, w1), Segment(v_read, 0.0, edge_s),
        Segment(0.0, 0.0, gap_s),
        Segment(0.0, v_write, edge_s), Segment(v_write, v_write, write_s), Segment(v_write, 0.0, edge_s),
        Segment(0.0, 0.0, gap_s),
        Segment(0.0, v_read, edge_s), Segment(v_read, v_read, read_s, 1, w0, w1), Segment(v_read, 0.0, edge_s),
        Segment(0.0, 0.0, gap_s),
    ]
