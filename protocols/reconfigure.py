"""Reconfiguration: volatile cycles → several non-volatile levels → volatile cycles again.

Paper (Results): the same device is a volatile diffusive memristor at Icc = 1 µA and a non-volatile
drift memristor at 1 mA, and returns to volatile operation after non-volatile states were programmed
and erased. Every step is an SMU list sweep (the mode is the compliance); one step = one block.
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

PHASES = ("volatile-before", "nonvolatile", "volatile-after")


@dataclass
class ReconfigureParams:
    n_volatile: int = param(10, "", 1, 100_000, "volatile cycles before and after the non-volatile levels")
    icc_volatile_a: float = param(1e-6, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "volatile-mode compliance")
    v_volatile_v: float = param(2.0, "V", 0.0, SMU_PULSE_V_MAX_V, "volatile sweep apex")
    nv_icc_min_a: float = param(200e-6, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "lowest non-volatile level compliance")
    nv_icc_max_a: float = param(1e-3, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "highest non-volatile level compliance")
    n_levels: int = param(3, "", 1, 100, "non-volatile levels (each SET, read, RESET, read)")
    v_set_v: float = param(2.0, "V", 0.0, SMU_PULSE_V_MAX_V, "non-volatile SET sweep apex")
    v_reset_v: float = param(-3.0, "V", -SMU_PULSE_V_MAX_V, 0.0, "RESET sweep apex")
    icc_reset_a: float = param(10e-3, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "RESET compliance")
    step_v: float = param(0.05, "V", 1e-3, 1.0, "sweep step")
    delay_s: float = param(1e-3, "s", 0.0, DELAY_MAX_S, "delay per sweep step")
    rest_s: float = param(0.03, "s", 0.0, 10.0, "time at 0 V before each read")
    v_read_v: float = param(0.1, "V", -1.0, 1.0, "read voltage")
    g_volatile_max_s: float = param(1e-6, "S", 0.0, 1.0, "a read below this after the rest counts as relaxed (volatile)")


class Reconfigure(Protocol):
    name = "reconfigure"
    run_type = "reconfig"
    progress_unit = "steps"

    def live_figure(self, block: dict[str, dict]) -> str:
        """The phase of the step and whether the device read volatile."""
        s = block["steps"]
        return f"{PHASES[int(s['phase'][-1])]}, {'volatile' if s['volatile'][-1] else 'non-volatile'}"
    Params = ReconfigureParams
    description = "volatile cycles -> non-volatile levels -> volatile cycles again (paper: reconfigurability)"

    def steps(self) -> list[tuple[int, float]]:
        p = self.params
        levels = np.linspace(p.nv_icc_min_a, p.nv_icc_max_a, p.n_levels)
        return ([(0, p.icc_volatile_a)] * p.n_volatile + [(1, float(x)) for x in levels]
                + [(2, p.icc_volatile_a)] * p.n_volatile)

    def validate(self, limits) -> None:
        super().validate(limits)
        p = self.params
        if p.nv_icc_min_a > p.nv_icc_max_a:
            raise ParameterError(f"nv_icc_min_a={p.nv_icc_min_a:g} A must not exceed nv_icc_max_a={p.nv_icc_max_a:g} A")
        check_smu_source(limits, self.card, "icc_volatile_a", p.icc_volatile_a, {"v_volatile_v": p.v_volatile_v},
                         ramp(p.v_volatile_v, p.step_v).size)
        check_smu_source(limits, self.card, "nv_icc_max_a", p.nv_icc_max_a, {"v_set_v": p.v_set_v}, ramp(p.v_set_v, p.step_v).size)
        check_smu_source(limits, self.card, "icc_reset_a", p.icc_reset_a, {"v_reset_v": p.v_reset_v},
                         ramp(p.v_reset_v, p.step_v).size)

    def schema(self) -> dict[str, Stream]:
        return {"steps": Stream(columns=(
            Column("seq", "i8"), Column("phase", "i1"), Column("icc", "f8", "A"), Column("i_peak", "f8", "A"),
            Column("v_switch", "f8", "V"), Column("g_read", "f8", "S"), Column("g_after_reset", "f8", "S"),
            Column("volatile", "u1")), chunk_rows=1024, signal="g_read", axes=("seq",))}

    def plan(self) -> Plan:
        n = len(self.steps())
        p = self.params
        pts = 2 * max(p.v_set_v, p.v_volatile_v) / p.step_v + 1
        return Plan(n_blocks=n, n_points=n, eta_s=n * 2 * pts * (p.delay_s + integration_time_s(1)),
                    engine="SMU list sweeps", notes=[f"phases: {', '.join(PHASES)}"])

    def blocks(self) -> list[tuple[int, float]]:
        """One block per step: (phase, compliance)."""
        return self.steps()

    def block(self, step: tuple[int, float], carry: dict) -> BlockPlan:
        p = self.params
        phase, icc = step
        s = yield from sweep(ramp(p.v_volatile_v if phase != 1 else p.v_set_v, p.step_v), icc, p.delay_s)
        _, g = yield from read(p.v_read_v, 5, p.rest_s, 1e-3)
        g_after = np.nan
        if phase == 1:
            yield from sweep(ramp(p.v_reset_v, p.step_v), p.icc_reset_a, p.delay_s)
            _, g_after = yield from read(p.v_read_v, 5, p.rest_s, 1e-3)
        yield Emit("steps", {"phase": np.array([phase], np.int8), "icc": np.array([icc]),
                             "i_peak": np.array([s.i_peak_a]), "v_switch": np.array([s.switch_v]),
                             "g_read": np.array([g]), "g_after_reset": np.array([g_after]),
                             "volatile": np.array([g < p.g_volatile_max_s], np.uint8)})
        return carry

    @classmethod
    def summary(cls, reader) -> dict:
        s = reader.stream("steps")
        out: dict = {}
        for code, name in enumerate(PHASES):
            m = s["phase"] == code
            if not m.any():
                continue
            if code == 1:
                out["nonvolatile_g_s"] = s["g_read"][m].tolist()
                out["nonvolatile_g_after_reset_s"] = s["g_after_reset"][m].tolist()
            else:
                out[f"{name}_volatile_fraction"] = float(s["volatile"][m].mean())
                out[f"{name}_switched_fraction"] = float(np.isfinite(s["v_switch"][m]).mean())
        out["returned_to_volatile"] = bool(out.get("volatile-after_volatile_fraction", 0) >= 0.9
                                           and out.get("volatile-after_switched_fraction", 0) >= 0.9)
        return out
