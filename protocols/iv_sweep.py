"""DC I–V sweep: a staircase list sweep on the top-electrode SMU with current compliance.

Paper (John, Demirağ et al., Methods): volatile mode 0 → 2 → 0 V at Icc = 1 µA; non-volatile mode
0 → +5 → 0 → −7 → 0 V "with an Icc = 1 mA during SET operation" (Fig. 3b caption). The RESET branch
therefore runs as a second list sweep with its own compliance ``icc_reset_a`` (default 10 mA, as
Keithley's own ReRAM module separates ``setIcomp``/``resetIcomp``): with 1 mA on the negative branch
the SMU would hold a 3.5 mS filament at ≈0.3 V and it could never RESET. Engine: the SMU (system-mode ``VL`` list sweep), because the
outcome depends on the compliance, which only the SMU has. One sweep = one block (≤ 4096 points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instruments.limits import (
    DELAY_MAX_S,
    HOLD_MAX_S,
    SMU_COMPLIANCE_MIN_A,
    SMU_ICC_MAX_A,
    SMU_VOLTAGE_MAX_V,
    integration_time_s,
)
from labrc.engine.messages import BlockPlan, Emit, ListSweep
from labrc.store import Column, Stream

from .base import ParameterError, Plan, Protocol, check_smu_source, param
from .smu_ops import staircase


@dataclass
class IVSweepParams:
    v_max_v: float = param(2.0, "V", 0.0, SMU_VOLTAGE_MAX_V, "positive apex of the sweep")
    v_min_v: float = param(0.0, "V", -SMU_VOLTAGE_MAX_V, 0.0, "negative apex (0 = unipolar sweep)")
    step_v: float = param(0.02, "V", 1e-3, 10.0, "voltage step of the staircase")
    icc_a: float = param(1e-6, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "current compliance of the positive (SET) branch")
    icc_reset_a: float = param(1e-2, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A,
                               "current compliance of the negative (RESET) branch, if v_min_v < 0")
    delay_s: float = param(0.01, "s", 0.0, DELAY_MAX_S, "delay between a step and its measurement (DT)")
    hold_s: float = param(0.0, "s", 0.0, HOLD_MAX_S, "hold at the first point before the sweep (HT)")
    integration: int = param(1, "", 1, 3, "integration time code: 1 = 0.1 PLC, 2 = 1 PLC, 3 = 10 PLC",
                             choices=(1, 2, 3))
    repeats: int = param(1, "", 1, 100_000, "number of sweeps")
    rest_s: float = param(0.0, "s", 0.0, 3600.0, "time at 0 V between sweeps (hold of the next sweep)")


def sweep_branches(v_max_v: float, v_min_v: float, step_v: float) -> tuple[np.ndarray, np.ndarray]:
    """(0 → v_max → 0, → v_min → 0) staircases; the first includes the starting 0 V point."""
    pos = staircase(0.0, v_max_v, 0.0, step_v=step_v) if v_max_v > 0 else np.zeros(1)
    neg = staircase(0.0, v_min_v, 0.0, step_v=step_v)[1:] if v_min_v < 0 else np.empty(0)
    return pos, neg


def sweep_waveform(v_max_v: float, v_min_v: float, step_v: float) -> np.ndarray:
    """The whole 0 → v_max → 0 (→ v_min → 0) staircase of one sweep."""
    return np.concatenate(sweep_branches(v_max_v, v_min_v, step_v))


class IVSweep(Protocol):
    name = "iv-sweep"
    run_type = "iv"
    progress_unit = "points"

    def live_figure(self, block: dict[str, dict]) -> str:
        """The sweep just measured and its largest |I|."""
        p = block["points"]
        return f"sweep {int(p['sweep'][-1])}, |I| max {float(np.nanmax(np.abs(p['i_meas']))):.3g} A"
    Params = IVSweepParams
    description = "DC I–V list sweep with SMU compliance (paper Fig. 2/3 sweeps)"
    presets = {
        "volatile": dict(v_max_v=2.0, v_min_v=0.0, step_v=0.02, icc_a=1e-6),
        # 20 mV as the volatile sweep: with delay_s 10 ms + 0.1 PLC a point lasts 11.7 ms, 1.7 V/s. The
        # paper's Methods give no DC step or rate; its sub-1 V SET at 1 mA [B] holds for sweeps slower than
        # ≈ 4 V/s (the SET voltage rises with the ramp rate, ECM kinetics: sim_backend/model/__init__.py),
        # and 50 mV (4.3 V/s) set at 1.00 V and could not resolve a sub-1 V SET better than 50 mV.
        "nonvolatile": dict(v_max_v=5.0, v_min_v=-7.0, step_v=0.02, icc_a=1e-3, icc_reset_a=1e-2),
    }

    @property
    def waveform(self) -> np.ndarray:
        p = self.params
        return sweep_waveform(p.v_max_v, p.v_min_v, p.step_v)

    def validate(self, limits) -> None:
        super().validate(limits)
        p = self.params
        if p.v_max_v == 0 and p.v_min_v == 0:
            raise ParameterError("v_max_v and v_min_v are both 0: nothing to sweep")
        pos, neg = sweep_branches(p.v_max_v, p.v_min_v, p.step_v)
        check_smu_source(limits, self.card, "icc_a", p.icc_a, {"v_max_v": p.v_max_v}, pos.size)
        if neg.size:
            check_smu_source(limits, self.card, "icc_reset_a", p.icc_reset_a, {"v_min_v": p.v_min_v}, neg.size)

    def schema(self) -> dict[str, Stream]:
        # One stream, appended once per sweep: a journal frame holds a whole sweep, so a crash never
        # leaves a half-indexed sweep and a resumed run continues at a sweep boundary.
        return {
            "points": Stream(columns=(
                Column("seq", "i8"), Column("sweep", "i4"), Column("v_set", "f8", "V"),
                Column("v_meas", "f8", "V"), Column("i_meas", "f8", "A"), Column("t", "f8", "s"),
                Column("icc", "f8", "A"), Column("compliance", "u1")),
                chunk_rows=16384, signal="i_meas", axes=("v_set",)),
        }

    @property
    def points_per_sweep(self) -> int:
        p = self.params
        return int(sum(b.size for b in sweep_branches(p.v_max_v, p.v_min_v, p.step_v)))

    def plan(self) -> Plan:
        p = self.params
        n = self.waveform.size
        t_int = integration_time_s(p.integration)
        per_sweep = p.hold_s + p.rest_s + n * (p.delay_s + t_int)
        return Plan(n_blocks=p.repeats, n_points=n * p.repeats, eta_s=per_sweep * p.repeats, engine="SMU list sweep (VL) with compliance",
                    notes=[f"{n} points per sweep, Icc = {p.icc_a:g} A"])

    def blocks(self) -> range:
        """One block per sweep."""
        return range(self.params.repeats)

    def block(self, k: int, carry: dict) -> BlockPlan:
        """Sweep ``k``: the SET branch at ``icc_a`` then (bipolar) the RESET branch at ``icc_reset_a``,
        each one list; ``t`` is the run clock (the list timestamps, continued across sweeps)."""
        p = self.params
        branches = [(b, icc) for b, icc in zip(sweep_branches(p.v_max_v, p.v_min_v, p.step_v),
                                                (p.icc_a, p.icc_reset_a)) if b.size]
        cols: dict[str, list] = {c: [] for c in ("v_set", "v_meas", "i_meas", "t", "icc", "compliance")}
        for j, (wave, icc) in enumerate(branches):
            hold = p.hold_s + (p.rest_s if k > 0 and j == 0 else 0.0)
            r = yield ListSweep(wave, icc, p.delay_s, hold, p.integration)
            for c, a in (("v_set", r.v_set_v), ("v_meas", r.v_meas_v), ("i_meas", r.i_meas_a), ("t", r.t_s),
                         ("icc", np.full(len(r), icc)), ("compliance", r.compliance.astype(np.uint8))):
                cols[c].append(a)
        points = {c: np.concatenate(a) for c, a in cols.items()}
        points["sweep"] = np.full(points["v_set"].size, k, np.int32)
        yield Emit("points", points)
        return carry

    @classmethod
    def summary(cls, reader) -> dict:
        pts = reader.stream("points")
        return iv_summary(pts["v_set"], pts["i_meas"], pts["compliance"].astype(bool), pts["sweep"])


def iv_summary(v: np.ndarray, i: np.ndarray, comp: np.ndarray, sweep: np.ndarray) -> dict:
    """SET/RESET voltages and ON/OFF at 0.1 V from the first sweep, plus compliance counts."""
    out: dict = {"points": int(v.size), "sweeps": int(sweep.max() + 1) if sweep.size else 0,
                 "points_in_compliance": int(comp.sum())}
    if not v.size:
        return out
    s0 = sweep == sweep.min()
    v0, i0 = v[s0], i[s0]
    k_apex = int(np.argmax(v0))
    up = slice(0, k_apex + 1)
    jumps = np.flatnonzero(np.abs(i0[up]) >= 0.5 * np.nanmax(np.abs(i0[up])))
    if jumps.size:
        out["set_v"] = float(v0[up][jumps[0]])
    near = np.abs(np.abs(v0) - 0.1) < 1e-6
    pos_read = np.flatnonzero(near & (v0 > 0))
    if pos_read.size >= 2:
        i_up, i_down = abs(i0[pos_read[0]]), abs(i0[pos_read[1]])
        out["i_read_up_a"], out["i_read_down_a"] = float(i_up), float(i_down)
        out["on_off_0p1v"] = float(i_down / i_up) if i_up > 0 else float("inf")
    if v0.min() < 0:
        # RESET: the first point of the negative ramp where |I| drops to < half of the previous point
        kneg = np.flatnonzero(v0 < 0)
        kneg = kneg[: int(np.argmin(v0[kneg])) + 1]
        i_neg = np.abs(i0[kneg])
        drop = np.flatnonzero(i_neg[1:] < 0.5 * i_neg[:-1])
        if drop.size:
            out["reset_v"] = float(v0[kneg][drop[0] + 1])
        back = np.flatnonzero(near & (v0 > 0))
        if back.size >= 3:
            out["i_read_after_reset_a"] = float(abs(i0[back[-1]]))
    return out
