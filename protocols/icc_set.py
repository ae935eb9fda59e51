"""Icc-programmed multi-level SET: a ladder of compliances programs LRS levels; G = a·Icc + b.

Paper (Results, Fig. 3): the LRS conductance after a SET is linear in the programming compliance,
readout range 0.1–3.5 mS; the reservoir readout (Methods) programs weights by choosing Icc from this
line and its spread. Each level: SET sweep 0 → v_set → 0 at Icc (SMU compliance), rest at 0 V, read at
0.1 V, RESET sweep 0 → v_reset → 0 at ``icc_reset_a``, read the HRS. Engine: SMU list sweeps — the
level *is* the compliance, which only the SMU has. One ladder (all levels once) = one block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instruments.limits import (
    DELAY_MAX_S,
    SMU_COMPLIANCE_MIN_A,
    SMU_ICC_MAX_A,
    SMU_PULSE_V_MAX_V,
    integration_time_s,
)
from labrc.engine.messages import BlockPlan, Emit
from labrc.store import Column, Stream

from .base import ParameterError, Plan, Protocol, check_smu_source, param
from .smu_ops import ramp, read, sweep


@dataclass
class IccSetParams:
    icc_min_a: float = param(10e-6, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "lowest programming compliance")
    icc_max_a: float = param(1e-3, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "highest programming compliance")
    n_levels: int = param(10, "", 2, 200, "levels in the ladder (linearly spaced in Icc)")
    repeats: int = param(5, "", 1, 10_000, "ladders (R): each level is programmed R times")
    v_set_v: float = param(2.0, "V", 0.0, SMU_PULSE_V_MAX_V, "SET sweep apex")
    v_reset_v: float = param(-3.0, "V", -SMU_PULSE_V_MAX_V, 0.0, "RESET sweep apex")
    step_v: float = param(0.05, "V", 1e-3, 1.0, "sweep step")
    delay_s: float = param(1e-3, "s", 0.0, DELAY_MAX_S, "delay per sweep step")
    icc_reset_a: float = param(10e-3, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "compliance of the RESET sweep")
    v_read_v: float = param(0.1, "V", -1.0, 1.0, "read voltage")
    rest_s: float = param(0.03, "s", 0.0, 10.0, "time at 0 V before each read (volatile part relaxes)")
    n_read: int = param(5, "", 1, 1000, "read points averaged per read")


class IccSet(Protocol):
    name = "icc-set"
    run_type = "icc"
    progress_unit = "levels"

    def live_figure(self, block: dict[str, dict]) -> str:
        """The conductance range the ladder just programmed."""
        g = block["levels"]["g_lrs"]
        return f"G {float(np.nanmin(g)) * 1e3:.3g}-{float(np.nanmax(g)) * 1e3:.3g} mS"
    Params = IccSetParams
    description = "Icc-programmed multi-level SET ladder; fits G = a*Icc + b and its spread (paper Fig. 3)"

    @property
    def ladder(self) -> np.ndarray:
        p = self.params
        return np.linspace(p.icc_min_a, p.icc_max_a, p.n_levels)

    def validate(self, limits) -> None:
        super().validate(limits)
        p = self.params
        if p.icc_min_a >= p.icc_max_a:
            raise ParameterError(f"icc_min_a={p.icc_min_a:g} A must be below icc_max_a={p.icc_max_a:g} A")
        check_smu_source(limits, self.card, "icc_max_a", p.icc_max_a, {"v_set_v": p.v_set_v}, ramp(p.v_set_v, p.step_v).size)
        check_smu_source(limits, self.card, "icc_reset_a", p.icc_reset_a, {"v_reset_v": p.v_reset_v},
                         ramp(p.v_reset_v, p.step_v).size)

    def schema(self) -> dict[str, Stream]:
        return {"levels": Stream(columns=(
            Column("seq", "i8"), Column("repeat", "i4"), Column("level", "i4"), Column("icc", "f8", "A"),
            Column("g_lrs", "f8", "S"), Column("g_hrs", "f8", "S"), Column("i_lrs", "f8", "A"),
            Column("i_set_peak", "f8", "A"), Column("v_set", "f8", "V"), Column("t", "f8", "s")),
            chunk_rows=4096, signal="g_lrs", axes=("icc",))}

    def plan(self) -> Plan:
        p = self.params
        pts_set = 2 * p.v_set_v / p.step_v + 1
        pts_reset = 2 * abs(p.v_reset_v) / p.step_v + 1
        n_rest = int(np.ceil(p.rest_s / 1e-3)) + p.n_read
        per_level = (pts_set + pts_reset) * (p.delay_s + integration_time_s(1)) + 2 * n_rest * (1e-3 + integration_time_s(1))
        n = p.n_levels * p.repeats
        return Plan(n_blocks=p.repeats, n_points=n, eta_s=per_level * n,
                    engine="SMU list sweeps (SET at Icc, RESET, reads)",
                    notes=[f"ladder {p.icc_min_a:g} … {p.icc_max_a:g} A in {p.n_levels} levels × {p.repeats}"])

    def blocks(self) -> range:
        """One block per pass over the ladder."""
        return range(self.params.repeats)

    def block(self, rep: int, carry: dict) -> BlockPlan:
        """Every level of the ladder: SET at its Icc, read the LRS, RESET, read the HRS; ``t`` = the run
        clock at the end of the level's RESET."""
        p = self.params
        ladder = self.ladder
        set_wave, reset_wave = ramp(p.v_set_v, p.step_v), ramp(p.v_reset_v, p.step_v)
        rows: dict[str, list] = {k: [] for k in ("icc", "g_lrs", "g_hrs", "i_lrs", "i_set_peak", "v_set", "t")}
        for icc in ladder:
            s = yield from sweep(set_wave, float(icc), p.delay_s)
            i_lrs, g_lrs = yield from read(p.v_read_v, p.n_read, p.rest_s, 1e-3)
            r = yield from sweep(reset_wave, p.icc_reset_a, p.delay_s)
            _, g_hrs = yield from read(p.v_read_v, p.n_read, p.rest_s, 1e-3)
            for k, v in (("icc", icc), ("g_lrs", g_lrs), ("g_hrs", g_hrs), ("i_lrs", i_lrs),
                         ("i_set_peak", s.i_peak_a), ("v_set", s.switch_v), ("t", r.t_end_s)):
                rows[k].append(v)
        n = len(ladder)
        cols = {k: np.asarray(v, dtype=np.float64) for k, v in rows.items()}
        cols.update(repeat=np.full(n, rep, np.int32), level=np.arange(n, dtype=np.int32))
        yield Emit("levels", cols)
        return carry

    @classmethod
    def summary(cls, reader) -> dict:
        return icc_fit(reader.stream("levels"))


def icc_fit(levels: dict[str, np.ndarray]) -> dict:
    """Least-squares G = a·Icc + b over all programmed levels, R², and the spread (σ of G) per Icc.

    This is the programming model the reservoir readout uses to turn a target conductance into an Icc.
    """
    icc, g = levels["icc"], levels["g_lrs"]
    if icc.size < 2:
        return {"levels": int(icc.size)}
    a, b = np.polyfit(icc, g, 1)
    pred = a * icc + b
    ss_res, ss_tot = float(np.sum((g - pred) ** 2)), float(np.sum((g - g.mean()) ** 2))
    u = np.unique(icc)
    sd = np.array([g[icc == x].std(ddof=1) if np.sum(icc == x) > 1 else np.nan for x in u])
    return {"levels": int(icc.size), "slope_s_per_a": float(a), "intercept_s": float(b),
            "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
            "g_min_s": float(g.min()), "g_max_s": float(g.max()),
            **({"on_off_median": float(np.median(g / np.maximum(levels["g_hrs"], 1e-15)))}
               if "g_hrs" in levels else {}),
            "icc_levels_a": u.tolist(), "g_mean_s": [float(g[icc == x].mean()) for x in u],
            "g_std_s": sd.tolist()}
