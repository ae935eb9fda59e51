"""Volatile relaxation: one spike, then 0.1 V reads on the list grid; the decay time from the trace.

Paper (Results, Fig. 2; Methods): at Icc = 1 µA the Ag filament is volatile — it dissolves once the bias
is removed, "short-term memory between 5 and 20 ms", and in the reservoir "the state reflects the last
< 23 ms" of input; the reservoir's spike is 1 V / 20 ms. This protocol measures exactly that: per device
one SMU list (no command latency between the spike and the reads, which a second list would add):
``rest_s`` at 0 V (the device is OFF), ``off_s`` of reads (the OFF conductance), the spike, then
``decay_s`` of reads at ``v_read_v``, every point ``dt_s`` long and measured (``DT = dt_s − 0.1 PLC``,
as :mod:`protocols.spike_train` sets its grid).

What is computed from the stored trace (:func:`decay_of`): the filament's conductance after the spike,
``G(t) − G_off`` with G = I / V_meas (the SMU's measured voltage, so a read that clamps at the compliance
still measures the state: :mod:`protocols.spike_train`), relative to I / V_meas at the spike's last point;
``tau`` = the first time it falls to 1/e (linear interpolation between reads), ``left`` = the fraction
left at ``t_memory_s``. One device = one block; ``devices`` > 1 selects devices 0 … n−1 of the die.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from instruments.limits import (
    SMU_COMPLIANCE_MIN_A,
    SMU_ICC_MAX_A,
    SMU_PULSE_V_MAX_V,
    integration_time_s,
)
from labrc.engine.messages import BlockPlan, Emit, ListSweep, SelectDevice
from labrc.store import Column, Stream

from .base import ParameterError, Plan, Protocol, check_point_time, check_smu_source, param


@dataclass
class RelaxationParams:
    v_spike_v: float = param(1.0, "V", -SMU_PULSE_V_MAX_V, SMU_PULSE_V_MAX_V, "spike amplitude (paper: 1 V)")
    spike_width_s: float = param(0.02, "s", 1e-4, 1.0, "spike width (paper: 20 ms)")
    icc_a: float = param(1e-6, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "compliance: 1 µA = volatile mode")
    v_read_v: float = param(0.1, "V", -1.0, 1.0, "read voltage (before and after the spike)")
    rest_s: float = param(0.05, "s", 0.0, 10.0, "0 V before the OFF reads (the device starts relaxed)")
    off_s: float = param(0.005, "s", 1e-4, 1.0, "reads of the OFF state before the spike")
    decay_s: float = param(0.08, "s", 1e-3, 6.0, "reads after the spike")
    t_memory_s: float = param(0.023, "s", 0.0, 6.0, "report the fraction left at this time after the spike "
                              "(paper: the state reflects the last < 23 ms)")
    dt_s: float = param(1 / 600, "s", 1e-4, 1.0, "time step of the list (≥ 0.1 PLC; every point measured)")
    line_frequency_hz: int = param(60, "Hz", help="mains frequency of the instrument (sets 0.1 PLC)",
                                   choices=(50, 60))
    devices: int = param(1, "", 1, 10_000, "devices 0 … n−1 of the die, one list each (hardware: 1)")


def _points(t_s: float, dt_s: float) -> int:
    """Grid points of a duration (at least one)."""
    return max(round(t_s / dt_s), 1)


def cross_time(t: np.ndarray, y: np.ndarray, level: float) -> float:
    """First time ``y`` falls to ``level`` (linear interpolation between samples); NaN if it never does."""
    idx = np.flatnonzero(y <= level)
    if not idx.size:
        return math.nan
    j = int(idx[0])
    if j == 0:
        return float(t[0])
    t0, t1, y0, y1 = t[j - 1], t[j], y[j - 1], y[j]
    return float(t0 + (y0 - level) / (y0 - y1) * (t1 - t0)) if y0 != y1 else float(t1)


def decay_of(t_s: np.ndarray, v_meas_v: np.ndarray, i_a: np.ndarray, n_rest: int, n_off: int, n_spike: int,
             v_read_v: float, t_memory_s: float) -> dict[str, float]:
    """The decay after the spike of one list (module doc): G_off, G at the spike's end, tau, the fraction
    left at ``t_memory_s`` and the spike's duration on the instrument's clock."""
    v = np.where(np.abs(v_meas_v) >= 1e-3, v_meas_v, v_read_v)
    g = i_a / v
    off = slice(n_rest, n_rest + n_off)
    k_end = n_rest + n_off + n_spike - 1
    g_off = float(np.median(g[off]))
    g_spike = float(g[k_end]) - g_off
    t = t_s[k_end + 1:] - t_s[k_end]
    frac = (g[k_end + 1:] - g_off) / g_spike if g_spike > 0 else np.full(t.size, np.nan)
    return {"g_off": g_off, "g_spike": g_spike, "tau": cross_time(t, frac, 1 / math.e),
            "left": float(np.interp(t_memory_s, t, frac)) if t.size else math.nan,
            "spike_s": float(t_s[k_end] - t_s[k_end - n_spike])}


class Relaxation(Protocol):
    name = "volatile-relaxation"
    run_type = "relaxation"
    progress_unit = "points"      # the largest stream (trace) counts the progress and the end-of-run report
    Params = RelaxationParams
    description = "1 V / 20 ms spike at 1 µA, then 0.1 V reads in the same list: the volatile decay time (paper: 5-20 ms)"

    def live_figure(self, block: dict[str, dict]) -> str:
        """The decay time just measured."""
        d = block["decays"]
        return f"tau {float(d['tau'][-1]) * 1e3:.3g} ms, left at t_memory {float(d['left'][-1]):.2f}"

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """Points of the rest, the OFF reads, the spike and the decay reads."""
        p = self.params
        return (_points(p.rest_s, p.dt_s) if p.rest_s > 0 else 0, _points(p.off_s, p.dt_s),
                _points(p.spike_width_s, p.dt_s), _points(p.decay_s, p.dt_s))

    def waveform(self) -> np.ndarray:
        p = self.params
        n_rest, n_off, n_spike, n_decay = self.counts
        return np.concatenate([np.zeros(n_rest), np.full(n_off, p.v_read_v), np.full(n_spike, p.v_spike_v),
                               np.full(n_decay, p.v_read_v)])

    def validate(self, limits) -> None:
        super().validate(limits)
        p = self.params
        check_point_time(p.dt_s, p.line_frequency_hz)
        if p.v_read_v == 0:
            raise ParameterError("v_read_v=0 V reads no conductance; use e.g. 0.1 V")
        if p.t_memory_s > p.decay_s:
            raise ParameterError(f"t_memory_s={p.t_memory_s:g} s is after the last read (decay_s={p.decay_s:g} s)")
        check_smu_source(limits, self.card, "icc_a", p.icc_a, {"v_spike_v": p.v_spike_v, "v_read_v": p.v_read_v},
                         sum(self.counts))

    def schema(self) -> dict[str, Stream]:
        return {
            "trace": Stream(columns=(
                Column("seq", "i8"), Column("device", "i4"), Column("t", "f8", "s"), Column("t_spike", "f8", "s"),
                Column("v_set", "f8", "V"), Column("v_meas", "f8", "V"), Column("i_meas", "f8", "A"),
                Column("compliance", "u1")), chunk_rows=4096, signal="i_meas", axes=("t_spike",)),
            "decays": Stream(columns=(
                Column("seq", "i8"), Column("device", "i4"), Column("g_off", "f8", "S"), Column("g_spike", "f8", "S"),
                Column("tau", "f8", "s"), Column("left", "f8"), Column("spike_s", "f8", "s")),
                chunk_rows=1024, signal="tau", axes=("device",)),
        }

    def plan(self) -> Plan:
        p = self.params
        n = sum(self.counts)
        return Plan(n_blocks=p.devices, n_points=p.devices * n, eta_s=p.devices * n * p.dt_s,
                    engine="SMU list sweep with compliance (spike and reads in one list)",
                    notes=[f"{n} points per device on a {p.dt_s * 1e3:.3g} ms grid"])

    def blocks(self) -> range:
        """One block per device."""
        return range(self.params.devices)

    def devices_needed(self) -> int:
        return self.params.devices

    def block(self, d: int, carry: dict) -> BlockPlan:
        p = self.params
        n_rest, n_off, n_spike, _ = self.counts
        if p.devices > 1:
            yield SelectDevice(d)
        delay_s = max(p.dt_s - integration_time_s(1, p.line_frequency_hz), 0.0)
        r = yield ListSweep(self.waveform(), p.icc_a, delay_s, 0.0, 1)
        k_end = n_rest + n_off + n_spike - 1
        n = len(r)
        yield Emit("trace", {"device": np.full(n, d, np.int32), "t": r.t_s, "t_spike": r.t_s - r.t_s[k_end],
                             "v_set": r.v_set_v, "v_meas": r.v_meas_v, "i_meas": r.i_meas_a,
                             "compliance": r.compliance.astype(np.uint8)})
        dec = decay_of(r.t_s, r.v_meas_v, r.i_meas_a, n_rest, n_off, n_spike, p.v_read_v, p.t_memory_s)
        yield Emit("decays", {"device": np.array([d], np.int32), **{k: np.array([v]) for k, v in dec.items()}})
        return carry

    @classmethod
    def summary(cls, reader) -> dict:
        d = reader.stream("decays")
        tau, left = d["tau"], d["left"]
        if not tau.size:
            return {"devices": 0}
        ok = np.isfinite(tau)
        out = {"devices": int(tau.size), "relaxed": int(ok.sum()), "tau_s": tau.tolist(), "left": left.tolist(),
               "spike_s_median": float(np.median(d["spike_s"]))}
        if ok.any():
            out.update(tau_median_s=float(np.median(tau[ok])), tau_p10_s=float(np.percentile(tau[ok], 10)),
                       tau_p90_s=float(np.percentile(tau[ok], 90)), left_median=float(np.nanmedian(left)))
        return out
