"""Retention: program a state with a compliance-limited SET, then read it at log-spaced times.

Paper: non-volatile states (Icc = 1 mA) are retained for 10⁵ s. Waiting uses the run loop's
``wait``: host time on hardware (the run is resumable, and a resumed run keeps the original
schedule measured from the programming time), virtual time on the simulator. One read = one block.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from instruments.limits import SMU_COMPLIANCE_MIN_A
from labrc.store import Column, Stream

from .base import ParameterError, Plan, Protocol, RunContext, check_smu_source, param
from .smu_ops import ramp, read, sweep


@dataclass
class RetentionParams:
    icc_a: float = param(1e-3, "A", SMU_COMPLIANCE_MIN_A, 0.105, "programming compliance (1 mA: non-volatile)")
    v_set_v: float = param(2.0, "V", 0.0, 21.0, "SET sweep apex")
    step_v: float = param(0.05, "V", 1e-3, 1.0, "SET sweep step")
    delay_s: float = param(1e-3, "s", 0.0, 6.553, "delay per sweep step")
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
        check_smu_source(limits, "icc_a", p.icc_a, {"v_set_v": p.v_set_v, "v_read_v": p.v_read_v},
                         ramp(p.v_set_v, p.step_v).size)

    def schema(self) -> dict[str, Stream]:
        return {"reads": Stream(columns=(
            Column("seq", "i8"), Column("t", "f8", "s"), Column("i_read", "f8", "A"), Column("g", "f8", "S"),
            Column("wall", "f8", "s")), chunk_rows=1024, signal="g", axes=("t",))}

    def plan(self) -> Plan:
        p = self.params
        return Plan(n_blocks=p.n_reads + 1, n_points=p.n_reads + 1, n_commands=24 * (p.n_reads + 2),
                    eta_s=p.t_max_s, engine="SMU list sweeps (SET at Icc, reads at 0.1 V)",
                    notes=[f"reads at {p.t_min_s:g} … {p.t_max_s:g} s after programming (log-spaced)"])

    def resume_point(self, n_rows, last) -> dict:
        row = last.get("reads", {})
        return {"start_block": n_rows.get("reads", 0), "t_last": float(row.get("t", 0.0)),
                "wall_program": float(row.get("wall", 0.0)) - float(row.get("t", 0.0)) if row else None}

    def execute(self, ctx: RunContext) -> Iterator[dict[str, dict]]:
        p = self.params
        times = np.concatenate([[0.0], self.read_times_s])   # row 0: right after programming
        k0 = ctx.start_block
        t_last = float(ctx.resume.get("t_last", 0.0))
        wall_program = ctx.resume.get("wall_program")
        if k0 == 0:
            sweep(ctx, ramp(p.v_set_v, p.step_v), p.icc_a, p.delay_s)
            wall_program = time.time()
        for k in range(k0, times.size):
            if ctx.should_stop():
                return
            ctx.wait(max(times[k] - t_last, 0.0))
            t_last = float(times[k])
            i, g = read(ctx, p.v_read_v, p.n_read, 0.0, 1e-3)
            yield {"reads": {"seq": np.array([k], np.int64), "t": np.array([t_last]), "i_read": np.array([i]),
                             "g": np.array([g]), "wall": np.array([(wall_program or time.time()) + t_last])}}

    @classmethod
    def summary(cls, reader) -> dict:
        r = reader.stream("reads")
        if r["g"].size < 2:
            return {"reads": int(r["g"].size)}
        return {"reads": int(r["g"].size), "g_initial_s": float(r["g"][0]), "g_final_s": float(r["g"][-1]),
                "t_final_s": float(r["t"][-1]), "retained_fraction": float(r["g"][-1] / r["g"][0])}
