"""How a protocol splits N cycles into bursts: the planning policy, not the driver's.

A burst is one acquisition — an SMU ``VL`` list (≤ 4096 points, KXCI-E p. 5-18) or a PMU Segment-Arb
execute (≤ 65,536 points per channel, p. 7-38) — so stop requests, checkpoints and store flushes come
between bursts. :func:`plan_bursts` sizes them by the points one acquisition returns and an
instrument-time budget, and gives the ETA from the instrument timing before anything runs;
:func:`choose_integration` picks the longest integration that fits a pulse width. The driver
(:mod:`instruments`) only executes one acquisition; it holds no policy about how many to make.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from instruments.limits import INTEGRATION_PLC, LINE_FREQUENCY_WORST_HZ, LimitError

__all__ = ["BurstPlan", "choose_integration", "plan_bursts"]


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
        caps["time budget"] = 1 if cycle_time_s > budget_s else max(1, int(budget_s // cycle_time_s))
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
