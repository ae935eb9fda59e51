"""Endurance in both modes, as the paper's Methods run it, for up to 10⁷ cycles.

Volatile (Methods): 1. read at +0.1 V, 2. write +2 V for 5 ms at Icc = 1 µA and monitor the current,
3. read again. ON = the current during the write, OFF = the read current (the device forgets its
state when the bias is removed, so ON cannot be read at 0.1 V). One cycle = the 3 levels of an SMU
list sweep with DT = width; bursts of cycles are single ``VL`` lists (≤ 4096 points) sized by the
list's capacity or a shorter instrument-time budget ``burst_s``. By default the capacity binds (585
cycles, 28.7 s of instrument time at the Methods' timing): a stop request aborts a running list
(``ME4``), so ``burst_s`` no longer bounds the stop latency, only how many cycles a crash can leave
unrecorded (one burst). Against the earlier 20 s budget (408 cycles) a full list leaves at most 177 more
cycles unrecorded, immaterial in a 10⁶-cycle run, and sends 30 % fewer lists.

Non-volatile (Methods): 1. read +0.1 V, 2. write +5 V (SET at Icc = 1 mA) / erase −7 V for 5 ms,
3. read; ON/OFF from the two 0.1 V reads. SET and erase need different compliances (1 mA limits the
SET; with 1 mA the erase could not reach the RESET voltage), and a list sweep has one compliance,
so each cycle is two SMU lists: [read, +5 V, read] at ``icc_a`` and [−7 V] at ``icc_reset_a``.

Both keep every cycle's values in compact columns (one append per burst, so a crash or kill leaves
whole bursts and a resumed run continues exactly), full traces at log-spaced cycles, running
statistics in the event log, and failure detection by what switching means in each mode (a ratio
alone cannot see a dead device: a worn volatile device that no longer forms a filament still gives
write/read ≈ 36 from the leakage curvature between 0.1 V and 2 V, above any fixed ``on_off_min``):

* stuck OFF — volatile: the write current stays below ``on_min_icc_frac`` × Icc (it did not reach
  compliance: no filament formed); non-volatile: the SET does not reach compliance, or the 0.1 V read
  after it is below ``g_lrs_min_s`` (no LRS);
* stuck ON — volatile: the OFF read after ``rest_s`` at 0 V stays above ``off_max_icc_frac`` × Icc (the
  filament no longer dissolves); non-volatile: the read after the erase stays above ``g_hrs_max_s``;
* ON/OFF collapse — ON/OFF below ``collapse_frac`` × the run's own early-life reference (the geometric
  mean over its first ``ref_cycles`` cycles, kept per row in ``on_off_ref`` so a resumed run uses the
  same reference), or below the absolute floor ``on_off_min``.

A device has failed after ``fail_cycles`` consecutive failing cycles; the plan then yields
:class:`DeviceFailed` (first failing cycle, mode, criterion, detection cycle) and, with
``stop_on_failure``, the engine ends the run there: status ``device_failure``, exit 3 (:mod:`labrc.outcome`).
What one burst hands the next (the failing-run length, the early-life reference, the running
statistics) is the block's carry, stored in every checkpoint, so a resumed run continues exactly.

Why one module over ~400 lines: it is one protocol family's plan and its criteria wiring — the shared burst
loop of ``_Endurance`` and the two modes' parameters, levels and lists, which differ only there; the
failure rules themselves live in :mod:`.endurance_criteria` and the burst sizing in :mod:`.bursts`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from instruments.limits import (
    DELAY_MAX_S,
    LIST_POINTS_MAX,
    SMU_COMPLIANCE_MIN_A,
    SMU_ICC_MAX_A,
    SMU_PULSE_V_MAX_V,
    integration_time_s,
)
from labrc.engine.messages import BlockPlan, DeviceFailed, Emit, ListSweep, Log
from labrc.store import Column, Stream

from .base import ParameterError, Plan, Protocol, check_smu_source, param
from .bursts import choose_integration, plan_bursts
from .endurance_criteria import (
    FAIL_LOW_ON_OFF,
    FAIL_NAMES,
    FAIL_NONE,
    FAIL_STUCK_OFF,
    FAIL_STUCK_ON,
    RunningStats,
    classify,
    detail_cycles,
    early_reference,
    run_lengths,
)

class _RunConsts(NamedTuple):
    """What every burst of a run shares, derived once from the parameters (:meth:`_Endurance.consts`)."""

    integration: int            # SMU integration (choose_integration of the width)
    cycle_s: float              # instrument time of one cycle
    levels: np.ndarray          # (points_per_cycle,) one cycle's source voltages, read-only
    voltages: np.ndarray        # volatile: ``levels`` tiled for the largest burst (a burst's list is a prefix)
    nan: np.ndarray             # NaN column of the largest burst (i_erase of the volatile mode)


class _Endurance(Protocol):
    run_type: ClassVar[str] = "endurance"
    mode: ClassVar[str] = ""
    progress_unit: ClassVar[str] = "cycles"

    def live_figure(self, block: dict[str, dict]) -> str:
        """ON/OFF median of the burst and its failing cycles (the consecutive run at its end)."""
        c = block["cycles"]
        return (f"ON/OFF {float(np.nanmedian(c['on_off'])):.3g}, failing {int(np.count_nonzero(c['fail']))}"
                f" (run {int(c['fail_run'][-1])})")

    def validate(self, limits) -> None:
        super().validate(limits)
        p = self.params
        if p.cycles > limits.cycles_max:
            raise ParameterError(f"cycles={p.cycles} exceeds the operator limit limits.cycles_max={limits.cycles_max}")
        check_smu_source(limits, self.card, "icc_a", p.icc_a, {"v_read_v": p.v_read_v, "v_write_v": p.v_write_v})

    # -- shared timing -------------------------------------------------------------------------
    @property
    def step_s(self) -> float:
        p = self.params
        return p.width_s + integration_time_s(choose_integration(p.width_s))

    def burst_plan(self):
        p = self.params
        per_cycle_pts = self.points_per_cycle
        return plan_bursts(p.cycles, self.cycle_s, per_cycle_pts, LIST_POINTS_MAX, p.burst_s,
                           burst_overhead_s=0.05)

    def burst_sizes(self) -> Iterator[int]:
        """Bursts of the plan, but starting small (8, 16, 32 … cycles) so an early failure (a DDAB
        device after ~10 cycles) is caught before hundreds more cycles stress a dead device.
        Deterministic, so a resumed run splits exactly like the original."""
        bp = self.burst_plan()
        done, size = 0, 8
        while done < bp.n_cycles:
            n = min(size, bp.cycles_per_burst, bp.n_cycles - done)
            yield n
            done += n
            size *= 2

    def plan(self) -> Plan:
        bp = self.burst_plan()
        n_bursts = sum(1 for _ in self.burst_sizes())
        return Plan(n_blocks=n_bursts, n_points=self.params.cycles,
                    eta_s=bp.eta_s, engine=self.engine,
                    notes=[f"{bp.cycles_per_burst} cycles per burst (bound by {bp.bound_by}), "
                           f"cycle = {self.cycle_s * 1e3:.3g} ms of instrument time"])

    def schema(self) -> dict[str, Stream]:
        k = self.points_per_cycle
        return {
            "cycles": Stream(columns=(
                Column("seq", "i8"), Column("t", "f8", "s"), Column("i_read_before", "f8", "A"),
                Column("i_write", "f8", "A"), Column("i_read_after", "f8", "A"), Column("i_erase", "f8", "A"),
                Column("on_off", "f8"), Column("on_off_ref", "f8"), Column("compliance", "u1"),
                Column("fail", "u1"), Column("fail_run", "i8")), chunk_rows=16384, signal="on_off", axes=("seq",)),
            "detail": Stream(columns=(
                Column("seq", "i8"), Column("cycle", "i8"), Column("v_set", "f8", "V", (k,)),
                Column("i_meas", "f8", "A", (k,)), Column("compliance", "u1", "", (k,))), chunk_rows=256),
        }

    @functools.cached_property
    def details(self) -> np.ndarray:
        """The log-spaced cycles whose full trace is kept (sorted)."""
        return detail_cycles(self.params.cycles, self.params.n_detail)

    def cycle_levels(self) -> np.ndarray:
        """(points_per_cycle,) source voltages of one cycle, in list order."""
        raise NotImplementedError

    def consts(self) -> _RunConsts:
        """The constants every burst shares, derived once per run instead of per burst (keyed by the
        parameter values, so a protocol whose parameters change is derived again)."""
        key = tuple(vars(self.params).values())
        cached = self.__dict__.get("_consts_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        p = self.params
        levels = self.cycle_levels()
        largest = max(self.burst_sizes(), default=0)
        voltages = np.tile(levels, largest) if self.mode == "volatile" else levels
        nan = np.full(largest, np.nan)
        for a in (levels, voltages, nan):
            a.setflags(write=False)             # handed to every burst as views
        c = _RunConsts(choose_integration(p.width_s), self.cycle_s, levels, voltages, nan)
        self._consts_cache = (key, c)
        return c

    def blocks(self) -> list[tuple[int, int]]:
        """(first cycle, cycles) of every burst."""
        sizes = np.fromiter(self.burst_sizes(), np.int64)
        firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return [(int(f), int(n)) for f, n in zip(firsts, sizes)]

    def initial_carry(self) -> dict:
        return {"fail_run": 0, "on_off_ref": math.nan, "failure_reported": False, "stats": RunningStats().state()}

    def block(self, spec: tuple[int, int], carry: dict) -> BlockPlan:
        """One burst: its cycles, the failure codes, the detail traces of its log-spaced cycles."""
        p, c = self.params, self.consts()
        first, n = spec
        levels, i, status, cols = yield from self.burst(n, c)
        cycle = np.arange(first, first + n, dtype=np.int64)
        cols["on_off_ref"] = early_reference(cols["on_off"], first, carry["on_off_ref"], p.ref_cycles)
        cols["fail"] = self.fail_codes(cols, cycle)
        runs = run_lengths(cols["fail"] != FAIL_NONE, int(carry["fail_run"]))
        cols.update(t=cycle * c.cycle_s, fail_run=runs)
        details = self.details
        sel = details[details.searchsorted(first):details.searchsorted(first + n)] - first
        if sel.size:                           # detail first: ``cycles`` is the block's last append
            yield Emit("detail", {"cycle": sel + first, "v_set": np.tile(levels, (sel.size, 1)), "i_meas": i[sel],
                                  "compliance": (status[sel] == "C").astype(np.uint8)})
        yield Emit("cycles", cols)
        stats = RunningStats.from_state(carry["stats"])
        ref = float(cols["on_off_ref"][-1])
        if stats.add(cols["on_off"], cols["fail"]):
            yield Log(f"cycle {first + n}: ON/OFF median of the last burst {stats.median_recent:.3g}, "
                      f"early-life reference {ref:.3g}, min {stats.min:.3g}, failing cycles {stats.n_bad} "
                      f"of the {stats.n} run")
        reported = bool(carry["failure_reported"])
        if not reported and runs.max() >= p.fail_cycles:          # the first cycle the run reaches it
            k = int(np.argmax(runs >= p.fail_cycles))
            yield self.failure(code=int(cols["fail"][k]), first=int(cycle[k] - runs[k] + 1), at=int(cycle[k]))
            reported = True
        return {"fail_run": int(runs[-1]), "on_off_ref": ref, "failure_reported": reported, "stats": stats.state()}

    # -- failure criteria ----------------------------------------------------------------------
    def collapsed(self, cols: dict, cycle: np.ndarray) -> np.ndarray:
        """ON/OFF below ``collapse_frac`` × the early-life reference (once it is complete) or below the
        absolute floor ``on_off_min``."""
        p = self.params
        done = cycle >= p.ref_cycles
        floor = np.where(done, p.collapse_frac * cols["on_off_ref"], 0.0)
        return ~(cols["on_off"] >= np.maximum(floor, p.on_off_min))

    def criterion(self, code: int) -> str:
        raise NotImplementedError

    def failure(self, code: int, first: int, at: int) -> DeviceFailed:
        """The device failed: the engine records it and, with ``stop_on_failure``, ends the run."""
        p = self.params
        mode, rule = FAIL_NAMES[code], self.criterion(code)
        return DeviceFailed(f"device failure ({mode}) at cycle {first}: {rule} for {p.fail_cycles} consecutive "
                            f"cycles (detected at cycle {at})",
                            {"cycle": first, "mode": mode, "criterion": rule, "detected_at": at,
                             "fail_cycles": p.fail_cycles}, end=p.stop_on_failure)

    @classmethod
    def summary(cls, reader) -> dict:
        c = reader.stream("cycles")
        if not c["seq"].size:
            return {"cycles": 0}
        on_off = c["on_off"]
        out = {"cycles": int(c["seq"].size), "on_off_median": float(np.nanmedian(on_off)),
               "on_off_p10": float(np.nanpercentile(on_off, 10)), "on_off_p90": float(np.nanpercentile(on_off, 90)),
               "i_on_median_a": float(np.nanmedian(c["i_write"])),
               "i_off_median_a": float(np.nanmedian(c["i_read_before"])),
               "failing_cycles": int(np.sum(c["fail"] != 0))}
        if reader.reason:
            out["end"] = reader.reason
        return out


@dataclass
class VolatileEnduranceParams:
    cycles: int = param(10_000, "", 1, 10_000_000, "read–write–read cycles")
    v_read_v: float = param(0.1, "V", -SMU_PULSE_V_MAX_V, SMU_PULSE_V_MAX_V, "read voltage")
    v_write_v: float = param(2.0, "V", -SMU_PULSE_V_MAX_V, SMU_PULSE_V_MAX_V, "write voltage")
    width_s: float = param(5e-3, "s", 1e-3, DELAY_MAX_S, "width of every level (SMU step delay DT)")
    icc_a: float = param(1e-6, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "compliance: 1 µA = volatile (diffusive) mode")
    rest_s: float = param(0.03, "s", 0.0, 10.0, "0 V after the write before the next read (the state relaxes)")
    burst_s: float = param(30.0, "s", 0.1, 3600.0, "instrument time per burst at most (a crash can leave one "
                           "burst unrecorded); 30 s lets the 4096-point list capacity bind")
    n_detail: int = param(200, "", 0, 100_000, "log-spaced cycles whose full trace is kept")
    on_min_icc_frac: float = param(0.5, "", 0.0, 1.0,
                                   "stuck OFF: a write below this fraction of icc_a did not reach compliance, so no "
                                   "filament formed (in compliance it reads 0.95-1.0 icc_a; a worn device only its "
                                   "leakage, 0.07 icc_a at 2 V on the default die)")
    off_max_icc_frac: float = param(0.2, "", 0.0, 1.0,
                                    "stuck ON: an OFF read above this fraction of icc_a after rest_s at 0 V means the "
                                    "filament no longer dissolves (relaxed: OGB 0.002, DDAB's leaky pristine state 0.1 "
                                    "icc_a; a DDAB device turned non-volatile 0.35 icc_a)")
    collapse_frac: float = param(0.2, "", 0.0, 1.0,
                                 "ON/OFF collapse: a cycle below this fraction of the early-life reference fails "
                                 "(healthy cycles stay within 5 % of it; 0 disables)")
    ref_cycles: int = param(100, "", 1, 100_000, "first cycles of the run whose geometric-mean ON/OFF is the "
                            "early-life reference (column on_off_ref, so a resumed run keeps it)")
    on_off_min: float = param(5.0, "", 1.0, 1e9, "absolute floor: a cycle with ON/OFF below this fails (collapse)")
    fail_cycles: int = param(5, "", 1, 1_000_000, "consecutive failing cycles that mean the device failed")
    stop_on_failure: bool = param(True, "", help="end the run when the device has failed (else record it and go on)")


class VolatileEndurance(_Endurance):
    name = "volatile-endurance"
    mode = "volatile"
    Params = VolatileEnduranceParams
    description = "read +0.1 V / write +2 V 5 ms at 1 µA / read; ON = write current, OFF = read (paper Methods)"
    engine = "SMU list sweeps with compliance (one VL list per burst)"

    @property
    def n_rest(self) -> int:
        return int(math.ceil(self.params.rest_s / self.step_s - 1e-9)) if self.params.rest_s > 0 else 0

    @property
    def points_per_cycle(self) -> int:
        return 2 + self.n_rest

    @property
    def cycle_s(self) -> float:
        return self.points_per_cycle * self.step_s

    def cycle_levels(self) -> np.ndarray:
        """One cycle: read, write, rest at 0 V; "3. repeat step 1" is the next cycle's read."""
        p = self.params
        return np.concatenate([[p.v_read_v, p.v_write_v], np.zeros(self.n_rest)])

    def burst(self, n: int, c: _RunConsts):
        """``n`` cycles as one list (``yield from``): (one cycle's levels, currents, status letters, cycle
        columns); ``c``: the run's :meth:`consts`."""
        p = self.params
        # the read after a write is the following read (i_read_after, NaN for the last cycle of a burst)
        k = c.levels.size
        r = yield ListSweep(c.voltages[:n * k], p.icc_a, p.width_s, 0.0, c.integration, ("I",))
        i = r.i_meas_a.reshape(n, k)
        st = r.status.reshape(n, k)
        on_off = np.abs(i[:, 1]) / np.maximum(np.abs(i[:, 0]), 1e-15)
        after = np.empty(n)
        after[:-1], after[-1] = i[1:, 0], np.nan
        cols = {"i_read_before": i[:, 0], "i_write": i[:, 1], "i_read_after": after,
                "i_erase": c.nan[:n], "on_off": on_off, "compliance": (st[:, 1] == "C").astype(np.uint8)}
        return c.levels, i, st, cols

    def fail_codes(self, cols: dict, cycle: np.ndarray) -> np.ndarray:
        """Volatile switching = the write reaches compliance and the state relaxes at 0 V (Methods)."""
        p = self.params
        return classify(np.abs(cols["i_read_before"]) > p.off_max_icc_frac * p.icc_a,
                        np.abs(cols["i_write"]) < p.on_min_icc_frac * p.icc_a, self.collapsed(cols, cycle))

    def criterion(self, code: int) -> str:
        p = self.params
        return {FAIL_STUCK_ON: f"OFF read after the rest > {p.off_max_icc_frac:g} x icc_a (the filament no longer "
                               "dissolves)",
                FAIL_STUCK_OFF: f"write current < {p.on_min_icc_frac:g} x icc_a (the write no longer reaches "
                                "compliance: no switching)",
                FAIL_LOW_ON_OFF: f"ON/OFF < max({p.collapse_frac:g} x early-life reference, {p.on_off_min:g})"}[code]


@dataclass
class NonvolatileEnduranceParams:
    cycles: int = param(1000, "", 1, 10_000_000, "read–write/erase–read cycles")
    v_read_v: float = param(0.1, "V", -SMU_PULSE_V_MAX_V, SMU_PULSE_V_MAX_V, "read voltage")
    v_write_v: float = param(5.0, "V", -SMU_PULSE_V_MAX_V, SMU_PULSE_V_MAX_V, "SET (write) voltage")
    v_erase_v: float = param(-7.0, "V", -SMU_PULSE_V_MAX_V, SMU_PULSE_V_MAX_V, "RESET (erase) voltage")
    width_s: float = param(5e-3, "s", 1e-3, DELAY_MAX_S, "width of every level (SMU step delay DT)")
    icc_a: float = param(1e-3, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "SET compliance: 1 mA = non-volatile (drift) mode")
    icc_reset_a: float = param(10e-3, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "erase compliance")
    burst_s: float = param(5.0, "s", 0.1, 3600.0, "instrument time per burst (stop checks and flushes)")
    n_detail: int = param(100, "", 0, 100_000, "log-spaced cycles whose full trace is kept")
    on_min_icc_frac: float = param(0.5, "", 0.0, 1.0,
                                   "stuck OFF: a SET below this fraction of icc_a did not reach compliance (no "
                                   "filament formed; in compliance it reads 0.97-1.0 icc_a)")
    g_lrs_min_s: float = param(1e-4, "S", 0.0, 1.0,
                               "stuck OFF: the 0.1 V read after SET below this is not an LRS (the paper's lowest "
                               "programmed level is 0.1 mS; a 1 mA SET gives ~3.5 mS)")
    g_hrs_max_s: float = param(1e-4, "S", 0.0, 1.0,
                               "stuck ON: the 0.1 V read after the erase above this is still an LRS (an erased "
                               "device reads ~20 nS; a stuck DDAB device ~3.6 mS)")
    collapse_frac: float = param(0.01, "", 0.0, 1.0,
                                 "ON/OFF collapse: a cycle below this fraction of the early-life reference fails "
                                 "(loose: the erased state of a real device varies from cycle to cycle; 0 disables)")
    ref_cycles: int = param(20, "", 1, 100_000, "first cycles of the run whose geometric-mean ON/OFF is the "
                            "early-life reference (column on_off_ref, so a resumed run keeps it)")
    on_off_min: float = param(10.0, "", 1.0, 1e9, "absolute floor: a cycle with ON/OFF (0.1 V reads) below this fails")
    fail_cycles: int = param(3, "", 1, 1_000_000, "consecutive failing cycles that mean the device failed")
    stop_on_failure: bool = param(True, "", help="end the run when the device has failed (else record it and go on)")


class NonvolatileEndurance(_Endurance):
    name = "nonvolatile-endurance"
    mode = "nonvolatile"
    Params = NonvolatileEnduranceParams
    description = "read / +5 V SET (1 mA) / read / -7 V erase; ON/OFF from the two 0.1 V reads (paper Methods)"
    engine = "SMU list sweeps: [read, SET, read] at Icc and [erase] at the erase compliance, per cycle"
    points_per_cycle = 4

    @property
    def cycle_s(self) -> float:
        return 4 * self.step_s

    def burst_plan(self):
        p = self.params
        return plan_bursts(p.cycles, self.cycle_s, 1, LIST_POINTS_MAX, p.burst_s, burst_overhead_s=0.1)

    def validate(self, limits) -> None:
        super().validate(limits)
        p = self.params
        check_smu_source(limits, self.card, "icc_reset_a", p.icc_reset_a, {"v_erase_v": p.v_erase_v})

    def burst(self, n: int, c: _RunConsts):
        """``n`` cycles, two lists each (``yield from``): (one cycle's levels, currents, status letters, cycle
        columns); ``c``: the run's :meth:`consts`."""
        p = self.params
        i = np.empty((n, 4))
        st = np.empty((n, 4), "<U1")
        integ = c.integration
        write, erase = c.levels[:3], c.levels[3:]
        for j in range(n):
            a = yield ListSweep(write, p.icc_a, p.width_s, 0.0, integ, ("I",))
            e = yield ListSweep(erase, p.icc_reset_a, p.width_s, 0.0, integ, ("I",))
            i[j, :3], i[j, 3] = a.i_meas_a, e.i_meas_a[0]
            st[j, :3], st[j, 3] = a.status, e.status[0]
        on_off = np.abs(i[:, 2]) / np.maximum(np.abs(i[:, 0]), 1e-15)
        cols = {"i_read_before": i[:, 0], "i_write": i[:, 1], "i_read_after": i[:, 2], "i_erase": i[:, 3],
                "on_off": on_off, "compliance": (st[:, 1] == "C").astype(np.uint8)}
        return c.levels, i, st, cols

    def cycle_levels(self) -> np.ndarray:
        """One cycle: read, SET, read (one list), erase (another)."""
        p = self.params
        return np.array([p.v_read_v, p.v_write_v, p.v_read_v, p.v_erase_v])

    def fail_codes(self, cols: dict, cycle: np.ndarray) -> np.ndarray:
        """Non-volatile switching = the SET reaches compliance and leaves an LRS, the erase an HRS (Methods).
        The read before a cycle's SET is the read after the previous cycle's erase."""
        p = self.params
        g_before = np.abs(cols["i_read_before"]) / abs(p.v_read_v)
        g_after = np.abs(cols["i_read_after"]) / abs(p.v_read_v)
        stuck_off = (np.abs(cols["i_write"]) < p.on_min_icc_frac * p.icc_a) | ~(g_after >= p.g_lrs_min_s)
        return classify(g_before > p.g_hrs_max_s, stuck_off, self.collapsed(cols, cycle))

    def criterion(self, code: int) -> str:
        p = self.params
        return {FAIL_STUCK_ON: f"read after the erase > {p.g_hrs_max_s:g} S (still an LRS: the erase no longer resets)",
                FAIL_STUCK_OFF: f"SET current < {p.on_min_icc_frac:g} x icc_a or read after SET < {p.g_lrs_min_s:g} S "
                                "(the SET no longer switches)",
                FAIL_LOW_ON_OFF: f"ON/OFF < max({p.collapse_frac:g} x early-life reference, {p.on_off_min:g})"}[code]
