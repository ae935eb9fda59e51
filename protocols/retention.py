"""Retention: program a state with a compliance-limited SET, then read it at log-spaced times.

Paper: non-volatile states (Icc = 1 mA) are retained for 10⁵ s. Waiting is a :class:`Wait` message:
host time on hardware, virtual time on the simulator (labrc.stations). One read = one block; block 0
programs and reads at t = 0. ``wall`` is the host time of the programming sweep + ``t`` (the carry
keeps the programming time, so a resumed run keeps the original schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instruments.limits import (
    DELAY_MAX_S,
    SMU_COMPLIANCE_MIN_A,
    SMU_ICC_MAX_A,
    SMU_PULSE_V_MAX_V,
)
from labrc.engine.messages import BlockPlan, Emit, Wait
from labrc.store import Column, Stream

from .base import ParameterError, Plan, Protocol, check_smu_source, param
from .smu_ops import ramp, read, sweep


@dataclass
class RetentionParams:
    icc_a: float = param(1e-3, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "programming compliance (1 mA: non-volatile)")
    v_set_v: float = param(2.0, "V", 0.0, SMU_PULSE_V_MAX_V, "SET sweep apex")
    step_v: float = param(0.05, "V", 1e-3, 1.0, "SET sweep step")
    delay_s: float = param(1e-3, "s", 0.0, DELAY_MAX_S, "delay per sweep step")
    t_min_s: float = param(1.0, "s", 1e-3, 1e6, "first read after programming")
    t_max_s: float = param(1e5, "s", 1e-3, 1e7, "last read after programming")
    n_reads: int = param(26, "", 2, 10_000, "log-spaced read times from t_min_s to t_max_s")
    v_read_v: float = param(0.1, "V", -1.0, 1.0, "read voltage")
    n_read: int = param(5, "", 1, 1000, "points averaged per read")


class Retention(Protocol):
    name = "retention"
    run_type = "retention"
    progress_unit = "reads"

    def live_figure(self, block: dict[str, dict]) -> str:
        """The conductance just read and when."""
        r = block["reads"]
        return f"G {float(r['g'][-1]):.3g} S at t = {float(r['t'][-1]):.3g} s"
    Params = RetentionParams
    description = "program a level, read it at log-spaced times up to 1e5 s (paper: non-volatile retention)"

    @property
    def read_times_s(self) -> np.ndarray:
        p = self.params
        return np.geomspace(p.t_min_s, p.t_max_s, p.n_reads)

    def validate(self, limits) -> None:
        super().validate(limits)
        p = self.params
        if p.t_min_s >= p.t_max_s:
            raise ParameterError(f"t_min_s={p.t_min_s:g} s must be below t_max_s={p.t_max_s:g} s")
        check_smu_source(limits, self.card, "icc_a", p.icc_a, {"v_set_v": p.v_set_v, "v_read_v": p.v_read_v},
                         ramp(p.v_set_v, p.step_v).size)

    def schema(self) -> dict[str, Stream]:
        return {"reads": Stream(columns=(
            Column("seq", "i8"), Column("t", "f8", "s"), Column("i_read", "f8", "A"), Column("g", "f8", "S"),
            Column("wall", "f8", "s")), chunk_rows=1024, signal="g", axes=("t",))}

    def plan(self) -> Plan:
        p = self.params
        return Plan(n_blocks=p.n_reads + 1, n_points=p.n_reads + 1, eta_s=p.t_max_s, engine="SMU list sweeps (SET at Icc, reads at 0.1 V)",
                    notes=[f"reads at {p.t_min_s:g} … {p.t_max_s:g} s after programming (log-spaced)"])

    def blocks(self) -> list[tuple[float, float]]:
        """(time since programming of this read, of the previous one) per read; row 0 right after programming."""
        times = np.concatenate([[0.0], self.read_times_s])
        return [(float(t), float(times[k - 1]) if k else 0.0) for k, t in enumerate(times)]

    def block(self, spec: tuple[float, float], carry: dict) -> BlockPlan:
        p = self.params
        t, t_prev = spec
        if "wall_program" not in carry:        # block 0: program the level
            r = yield from sweep(ramp(p.v_set_v, p.step_v), p.icc_a, p.delay_s)
            carry = {"wall_program": r.wall_s}
        yield Wait(max(t - t_prev, 0.0))
        i, g = yield from read(p.v_read_v, p.n_read, 0.0, 1e-3)
        yield Emit("reads", {"t": np.array([t]), "i_read": np.array([i]), "g": np.array([g]),
                             "wall": np.array([carry["wall_program"] + t])})
        return carry

    @classmethod
    def summary(cls, reader) -> dict:
        r = reader.stream("reads")
        if r["g"].size < 2:
            return {"reads": int(r["g"].size)}
        return {"reads": int(r["g"].size), "g_initial_s": float(r["g"][0]), "g_final_s": float(r["g"][-1]),
                "t_final_s": float(r["t"][-1]), "retained_fraction": float(r["g"][-1] / r["g"][0])}
