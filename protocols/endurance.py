"""Endurance in both modes, as the paper's Methods run it, for up to 10⁷ cycles.

Volatile (Methods): 1. read at +0.1 V, 2. write +2 V for 5 ms at Icc = 1 µA and monitor the current,
3. read again. ON = the current during the write, OFF = the read current (the device forgets its
state when the bias is removed, so ON cannot be read at 0.1 V). One cycle = the 3 levels of an SMU
list sweep with DT = width; bursts of cycles are single ``VL`` lists (≤ 4096 points) sized by an
instrument-time budget, so stop requests and flushes come every ``burst_s`` of instrument time.

Non-volatile (Methods): 1. read +0.1 V, 2. write +5 V (SET at Icc = 1 mA) / erase −7 V for 5 ms,
3. read; ON/OFF from the two 0.1 V reads. SET and erase need different compliances (1 mA limits the
SET; with 1 mA the erase could not reach the RESET voltage), and a list sweep has one compliance,
so each cycle is two SMU lists: [read, +5 V, read] at ``icc_a`` and [−7 V] at ``icc_reset_a``.

Both keep every cycle's values in compact columns (one append per burst, so a crash or kill leaves
whole bursts and a resumed run continues exactly), full traces at log-spaced cycles, running
statistics in the event log, and failure detection: ON/OFF below ``on_off_min`` for
``fail_cycles`` consecutive cycles, classified as stuck ON (the OFF read is high) or stuck OFF (the
write no longer switches). With ``stop_on_failure`` the run ends there and the reason is recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Iterator

import numpy as np

from instruments.bursts import choose_integration, plan_bursts
from instruments.limits import INTEGRATION_PLC, LIST_POINTS_MAX, SMU_COMPLIANCE_MIN_A
from labrc.store import Column, Stream

from .base import ParameterError, Plan, Protocol, RunContext, check_smu_source, param

FAIL_NONE, FAIL_STUCK_ON, FAIL_STUCK_OFF, FAIL_LOW_ON_OFF = 0, 1, 2, 3
FAIL_NAMES = {FAIL_STUCK_ON: "stuck ON", FAIL_STUCK_OFF: "stuck OFF", FAIL_LOW_ON_OFF: "ON/OFF collapse"}
PLC_S_WORST = 1 / 50.0


def detail_cycles(n_cycles: int, n_detail: int) -> np.ndarray:
    """Log-spaced cycle indices (0, 1, 2, … 10ᵏ …) where the full trace is kept."""
    if n_detail <= 0:
        return np.empty(0, np.int64)
    return np.unique(np.round(np.geomspace(1, n_cycles, n_detail)).astype(np.int64) - 1)


def classify(on_off: np.ndarray, stuck_on: np.ndarray, on_off_min: float) -> np.ndarray:
    """Per-cycle failure code: 0 ok, else why this cycle does not switch."""
    bad = ~(on_off >= on_off_min)
    return np.where(~bad, FAIL_NONE, np.where(stuck_on, FAIL_STUCK_ON, FAIL_STUCK_OFF)).astype(np.uint8)


def run_lengths(bad: np.ndarray, carry: int) -> np.ndarray:
    """Consecutive failing cycles up to and including each cycle, continuing ``carry`` from the last burst."""
    idx = np.arange(bad.size)
    last_good = np.maximum.accumulate(np.where(~bad, idx, -1))
    runs = idx - last_good
    first_good = np.flatnonzero(~bad)
    head = first_good[0] if first_good.size else bad.size
    runs[:head] += carry
    return np.where(bad, runs, 0).astype(np.int64)


class _Endurance(Protocol):
    run_type: ClassVar[str] = "endurance"
    mode: ClassVar[str] = ""

    def validate(self, limits) -> None:
        super().validate(limits)
        p = self.params
        if p.cycles > limits.cycles_max:
            raise ParameterError(f"cycles={p.cycles} exceeds the operator limit limits.cycles_max={limits.cycles_max}")
        check_smu_source(limits, "icc_a", p.icc_a, {"v_read_v": p.v_read_v, "v_write_v": p.v_write_v})

    # -- shared timing -------------------------------------------------------------------------
    @property
    def step_s(self) -> float:
        p = self.params
        return p.width_s + INTEGRATION_PLC[choose_integration(p.width_s)] * PLC_S_WORST

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
        return Plan(n_blocks=n_bursts, n_points=self.params.cycles, n_commands=self.cmds_per_burst * n_bursts,
                    eta_s=bp.eta_s, engine=self.engine,
                    notes=[f"{bp.cycles_per_burst} cycles per burst (bound by {bp.bound_by}), "
                           f"cycle = {self.cycle_s * 1e3:.3g} ms of instrument time"])

    def schema(self) -> dict[str, Stream]:
        k = self.points_per_cycle
        return {
            "cycles": Stream(columns=(
                Column("seq", "i8"), Column("t", "f8", "s"), Column("i_read_before", "f8", "A"),
                Column("i_write", "f8", "A"), Column("i_read_after", "f8", "A"), Column("i_erase", "f8", "A"),
                Column("on_off", "f8"), Column("compliance", "u1"), Column("fail", "u1"),
                Column("fail_run", "i8")), chunk_rows=16384, signal="on_off", axes=("seq",)),
            "detail": Stream(columns=(
                Column("seq", "i8"), Column("cycle", "i8"), Column("v_set", "f8", "V", (k,)),
                Column("i_meas", "f8", "A", (k,)), Column("compliance", "u1", "", (k,))), chunk_rows=256),
        }

    def resume_point(self, n_rows: dict[str, int], last: dict[str, dict]) -> dict:
        row = last.get("cycles", {})
        return {"start_block": 0, "cycle0": n_rows.get("cycles", 0), "detail0": n_rows.get("detail", 0),
                "t_offset": float(row.get("t", 0.0)) + self.cycle_s if row else 0.0,
                "fail_run": int(row.get("fail_run", 0))}

    def execute(self, ctx: RunContext) -> Iterator[dict[str, dict]]:
        p = self.params
        details = detail_cycles(p.cycles, p.n_detail)
        cycle = int(ctx.resume.get("cycle0", 0))
        detail_seq = int(ctx.resume.get("detail0", 0))
        t = float(ctx.resume.get("t_offset", 0.0))
        carry = int(ctx.resume.get("fail_run", 0))
        stats = RunningStats(p.on_off_min)
        c_start = 0
        for n_planned in self.burst_sizes():
            c_end = c_start + n_planned
            c_start, first = c_end, max(c_end - n_planned, cycle)
            if first >= c_end:          # resumed: this burst is already on disk
                continue
            if ctx.should_stop():
                return
            v, i, status, cols = self.burst(ctx, c_end - first)
            n = cols["on_off"].size
            bad = cols["fail"] != FAIL_NONE
            runs = run_lengths(bad, carry)
            carry = int(runs[-1])
            cols.update(seq=np.arange(cycle, cycle + n, dtype=np.int64), t=t + self.cycle_s * np.arange(n),
                        fail_run=runs)
            block = {"cycles": cols}
            sel = details[(details >= cycle) & (details < cycle + n)] - cycle
            if sel.size:
                block["detail"] = {"seq": np.arange(detail_seq, detail_seq + sel.size, dtype=np.int64),
                                   "cycle": sel + cycle, "v_set": v[sel], "i_meas": i[sel],
                                   "compliance": (status[sel] == "C").astype(np.uint8)}
                detail_seq += sel.size
            yield block
            if stats.add(cols["on_off"]):
                ctx.log(f"cycle {cycle + n}: ON/OFF median of the last burst {stats.median_recent:.3g}, "
                        f"min {stats.min:.3g}, failing cycles {stats.n_bad} of {stats.n}")
            cycle += n
            t += self.cycle_s * n
            failed = np.flatnonzero(runs >= p.fail_cycles)
            if failed.size and p.stop_on_failure:
                k = int(failed[0])
                why = FAIL_NAMES.get(int(cols["fail"][k]), "failure")
                at = cycle - n + k
                ctx.end_reason = (f"device failure ({why}) at cycle {at - int(runs[k]) + 1}: ON/OFF < "
                                  f"{p.on_off_min:g} for {p.fail_cycles} consecutive cycles (detected at cycle {at})")
                return

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


class RunningStats:
    """Bounded-memory running statistics of ON/OFF: count, minimum, median of the last burst, failing cycles."""

    def __init__(self, on_off_min: float) -> None:
        self.on_off_min = on_off_min
        self.n, self.n_bad, self.min, self.median_recent = 0, 0, math.inf, math.nan
        self._decade = -1

    def add(self, on_off: np.ndarray) -> bool:
        """Add a burst; True when the total crossed a power of ten (time to log a line)."""
        if not on_off.size:
            return False
        self.n += on_off.size
        self.n_bad += int(np.sum(~(on_off >= self.on_off_min)))
        self.min = min(self.min, float(np.nanmin(on_off)))
        self.median_recent = float(np.nanmedian(on_off))
        d = int(math.log10(self.n))
        crossed, self._decade = d > self._decade, max(d, self._decade)
        return crossed


@dataclass
class VolatileEnduranceParams:
    cycles: int = param(10_000, "", 1, 10_000_000, "read–write–read cycles")
    v_read_v: float = param(0.1, "V", -21.0, 21.0, "read voltage")
    v_write_v: float = param(2.0, "V", -21.0, 21.0, "write voltage")
    width_s: float = param(5e-3, "s", 1e-3, 6.553, "width of every level (SMU step delay DT)")
    icc_a: float = param(1e-6, "A", SMU_COMPLIANCE_MIN_A, 0.105, "compliance: 1 µA = volatile (diffusive) mode")
    rest_s: float = param(0.03, "s", 0.0, 10.0, "0 V after the write before the next read (the state relaxes)")
    burst_s: float = param(20.0, "s", 0.1, 3600.0, "instrument time per burst (stop checks and flushes)")
    n_detail: int = param(200, "", 0, 100_000, "log-spaced cycles whose full trace is kept")
    on_off_min: float = param(5.0, "", 1.0, 1e9, "a cycle with ON/OFF below this is a failing cycle")
    fail_cycles: int = param(5, "", 1, 1_000_000, "consecutive failing cycles that mean the device failed")
    stop_on_failure: bool = param(True, "", help="end the run when the device has failed")


class VolatileEndurance(_Endurance):
    name = "volatile-endurance"
    mode = "volatile"
    Params = VolatileEnduranceParams
    description = "read +0.1 V / write +2 V 5 ms at 1 µA / read; ON = write current, OFF = read (paper Methods)"
    engine = "SMU list sweeps with compliance (one VL list per burst)"
    cmds_per_burst = 24

    @property
    def n_rest(self) -> int:
        return int(math.ceil(self.params.rest_s / self.step_s - 1e-9)) if self.params.rest_s > 0 else 0

    @property
    def points_per_cycle(self) -> int:
        return 2 + self.n_rest

    @property
    def cycle_s(self) -> float:
        return self.points_per_cycle * self.step_s

    def burst(self, ctx: RunContext, n: int):
        p = self.params
        # one cycle: read, write, rest at 0 V; "3. repeat step 1" is the next cycle's read, so the read
        # after a write is the following read (i_read_after, NaN for the last cycle of a burst)
        levels = np.concatenate([[p.v_read_v, p.v_write_v], np.zeros(self.n_rest)])
        k = levels.size
        r = ctx.instrument.list_sweep(ctx.top_smu, np.tile(levels, n), p.icc_a, p.width_s, 0.0,
                                      choose_integration(p.width_s), ctx.ground_smu,
                                      should_stop=ctx.should_stop, fetch=("I",))
        i = r.i_meas_a.reshape(n, k)
        st = r.status.reshape(n, k)
        i_off = np.abs(i[:, 0])
        on_off = np.abs(i[:, 1]) / np.maximum(i_off, 1e-15)
        stuck_on = i_off > 0.1 * p.icc_a           # the OFF read carries a tenth of the compliance
        cols = {"i_read_before": i[:, 0], "i_write": i[:, 1], "i_read_after": np.append(i[1:, 0], np.nan),
                "i_erase": np.full(n, np.nan), "on_off": on_off,
                "compliance": (st[:, 1] == "C").astype(np.uint8), "fail": classify(on_off, stuck_on, p.on_off_min)}
        return np.tile(levels, (n, 1)), i, st, cols


@dataclass
class NonvolatileEnduranceParams:
    cycles: int = param(1000, "", 1, 10_000_000, "read–write/erase–read cycles")
    v_read_v: float = param(0.1, "V", -21.0, 21.0, "read voltage")
    v_write_v: float = param(5.0, "V", -21.0, 21.0, "SET (write) voltage")
    v_erase_v: float = param(-7.0, "V", -21.0, 21.0, "RESET (erase) voltage")
    width_s: float = param(5e-3, "s", 1e-3, 6.553, "width of every level (SMU step delay DT)")
    icc_a: float = param(1e-3, "A", SMU_COMPLIANCE_MIN_A, 0.105, "SET compliance: 1 mA = non-volatile (drift) mode")
    icc_reset_a: float = param(10e-3, "A", SMU_COMPLIANCE_MIN_A, 0.105, "erase compliance")
    burst_s: float = param(5.0, "s", 0.1, 3600.0, "instrument time per burst (stop checks and flushes)")
    n_detail: int = param(100, "", 0, 100_000, "log-spaced cycles whose full trace is kept")
    on_off_min: float = param(10.0, "", 1.0, 1e9, "a cycle with ON/OFF (0.1 V reads) below this fails")
    fail_cycles: int = param(3, "", 1, 1_000_000, "consecutive failing cycles that mean the device failed")
    stop_on_failure: bool = param(True, "", help="end the run when the device has failed")


class NonvolatileEndurance(_Endurance):
    name = "nonvolatile-endurance"
    mode = "nonvolatile"
    Params = NonvolatileEnduranceParams
    description = "read / +5 V SET (1 mA) / read / -7 V erase; ON/OFF from the two 0.1 V reads (paper Methods)"
    engine = "SMU list sweeps: [read, SET, read] at Icc and [erase] at the erase compliance, per cycle"
    points_per_cycle = 4
    cmds_per_burst = 48

    @property
    def cycle_s(self) -> float:
        return 4 * self.step_s

    def burst_plan(self):
        p = self.params
        return plan_bursts(p.cycles, self.cycle_s, 1, LIST_POINTS_MAX, p.burst_s, burst_overhead_s=0.1)

    def validate(self, limits) -> None:
        super().validate(limits)
        p = self.params
        check_smu_source(limits, "icc_reset_a", p.icc_reset_a, {"v_erase_v": p.v_erase_v})

    def burst(self, ctx: RunContext, n: int):
        p = self.params
        k = ctx.instrument
        i = np.empty((n, 4))
        st = np.empty((n, 4), "<U1")
        integ = choose_integration(p.width_s)
        for c in range(n):
            if c and ctx.should_stop():   # finish a whole burst only if not asked to stop
                i, st, n = i[:c], st[:c], c
                break
            a = k.list_sweep(ctx.top_smu, np.array([p.v_read_v, p.v_write_v, p.v_read_v]), p.icc_a, p.width_s,
                             0.0, integ, ctx.ground_smu, should_stop=ctx.should_stop, fetch=("I",))
            e = k.list_sweep(ctx.top_smu, np.array([p.v_erase_v]), p.icc_reset_a, p.width_s, 0.0, integ,
                             ctx.ground_smu, should_stop=ctx.should_stop, fetch=("I",))
            i[c, :3], i[c, 3] = a.i_meas_a, e.i_meas_a[0]
            st[c, :3], st[c, 3] = a.status, e.status[0]
        i_off, i_on = np.abs(i[:, 0]), np.abs(i[:, 2])
        on_off = i_on / np.maximum(i_off, 1e-15)
        stuck_on = i_off * (1.0 / p.v_read_v) > 1e-4     # the OFF read shows > 0.1 mS: not erased
        cols = {"i_read_before": i[:, 0], "i_write": i[:, 1], "i_read_after": i[:, 2], "i_erase": i[:, 3],
                "on_off": on_off, "compliance": (st[:, 1] == "C").astype(np.uint8),
                "fail": classify(on_off, stuck_on, p.on_off_min)}
        levels = np.tile([p.v_read_v, p.v_write_v, p.v_read_v, p.v_erase_v], (i.shape[0], 1))
        return levels, i, st, cols
