"""One simulated device: its state (both filament populations, c2c factors, counters, wear, virtual clock, own
generator), the bit-exact snapshot of that state, and the entry points that drive it.

The physics is split by job: :mod:`.bridge` (diffusive bridge), :mod:`.filament` (drift filament),
:mod:`.wear` (switching events, counters, degradation), :mod:`.measure` (compliance clamp, read noise),
:mod:`.cycles` (periodic patterns vectorized over cycles), :mod:`.runs` (a list's runs between switching
events at once), :mod:`.chain` (the chain solver)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from . import kinetics as kn
from .bridge import G_ON_THR_S, BridgeMixin
from .cycles import Pattern, fast_cycles, pattern, relaxed_cycles
from .filament import FilamentMixin
from .measure import R_SHORT_OHM, MeasureMixin, SegmentResult, validate
from .params import FAILURES, DeviceParams, Preset
from .runs import free_runs
from .wear import WearMixin

PATTERN_CACHE_MAX = 8       # periodic patterns remembered per device (a run uses one or two)
BATCH_MIN_RUNS = 8          # fewer runs than this (a sweep, a pulse, right after an event): run by run


class Memristor(BridgeMixin, FilamentMixin, WearMixin, MeasureMixin):
    """Device state: bridge ``gv``; drift filament programmed to ``gd_p`` ``age`` seconds ago (``stable`` above
    g_crit); c2c factors drawn at the last switching event; cycle counters per mode; wear/injected faults."""

    def __init__(self, preset: Preset, params: DeviceParams, rng: np.random.Generator):
        self._pre, self.p, self._rng = preset, params, rng
        self.gv = 0.0
        self.gd_p, self.age_s, self.stable = 0.0, 0.0, False
        self.on = False
        self.t_s = 0.0
        self.k_grow = self.k_tau = self.k_hrs = 1.0
        self._n_vol = self._n_nv = 0
        self._wear: str | None = None
        self._forced: str | None = None
        self._c = 1e-6              # compliance of the segment being applied (sizes a stuck-ON filament)
        self._g_last = G_ON_THR_S   # bridge at the end of the last SET: OFF again below 30 % of it
        self.vectorized = True      # False: segment by segment (the reference the fast paths are tested against)
        self.batch_runs = True      # False: apply_segments run by run (the reference of runs.free_runs)
        self._patterns: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray, Pattern | None]] = {}
        self._wear_chunk: tuple | None = None        # cycles._wear_factors: wear factors of a range of counts
        self._w_nv: tuple[int, float] | None = None  # WearMixin._wear_nv: (n_nv, its wear)

    # ---------------------------------------------------------------- public helpers
    @property
    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    @property
    def failed(self) -> str | None:
        return self._forced or self._wear

    @property
    def cycle_counts(self) -> dict[str, int]:
        return {"volatile": self._n_vol, "nonvolatile": self._n_nv}

    @property
    def gd(self) -> float:
        """Drift filament conductance now."""
        if self.gd_p <= 0.0 or self.failed == "stuck_on":
            return self.gd_p
        p = self.p
        return float(kn.drift(self.gd_p, self.age_s, self.stable, p.nu_1ms, p.t0_drift_s, p.t_sub_s))

    @property
    def g_s(self) -> float:
        """Total filament conductance (bridge + drift filament)."""
        return self.gv + self.gd

    def force_fault(self, kind: str | None) -> None:
        """Inject "short"/"open"/"stuck_on"/"stuck_off" (simulator drills); None clears the injected fault."""
        if kind is not None and kind not in FAILURES:
            raise ValueError(f"fault must be one of {FAILURES} or None, got {kind!r}")
        self._forced = kind

    def conductance_s(self, v_read: float = 0.1) -> float:
        """Noiseless chord conductance I(v_read)/v_read now (no compliance, no state change)."""
        if v_read == 0:
            raise ValueError("v_read must be non-zero")
        if self.failed in ("short", "open"):
            return 1.0 / R_SHORT_OHM if self.failed == "short" else 0.0
        return float(self.g_s + kn.i_off(self.g_off_eff, self.p.v_nl_v, v_read) / v_read)

    def get_state(self) -> dict[str, Any]:
        """JSON-able full mutable state, including the generator, for a bit-exact resume."""
        return {"gv": self.gv, "gd_p": self.gd_p, "age_s": self.age_s, "stable": self.stable, "on": self.on,
                "t_s": self.t_s, "k_grow": self.k_grow, "k_tau": self.k_tau, "k_hrs": self.k_hrs,
                "n_vol": self._n_vol, "n_nv": self._n_nv, "wear": self._wear, "forced": self._forced,
                "c": self._c, "g_last": self._g_last,
                "rng": _jsonable(self._rng.bit_generator.state)}

    def set_state(self, d: dict[str, Any]) -> None:
        self.gv, self.gd_p, self.age_s = float(d["gv"]), float(d["gd_p"]), float(d["age_s"])
        self.stable, self.on, self.t_s = bool(d["stable"]), bool(d["on"]), float(d["t_s"])
        self.k_grow, self.k_tau, self.k_hrs = float(d["k_grow"]), float(d["k_tau"]), float(d["k_hrs"])
        self._n_vol, self._n_nv = int(d["n_vol"]), int(d["n_nv"])
        self._wear, self._forced = d["wear"], d["forced"]
        self._c, self._g_last = float(d["c"]), float(d["g_last"])
        self._rng.bit_generator.state = d["rng"]

    def idle(self, dt_s: float) -> None:
        """The device sits at 0 V for dt_s: both populations relax; nothing is measured, no noise is drawn."""
        if not dt_s > 0 or not math.isfinite(dt_s):
            raise ValueError(f"dt_s must be finite and > 0, got {dt_s}")
        if self.failed in ("short", "open"):
            pass
        elif self.gd_p <= 0.0:     # only the bridge: _relax's numbers without its arrays (the simulator idles
            self._relax_bridge(float(dt_s))      # the device before every test)
        else:
            self._relax(np.array([float(dt_s)]))
        self.t_s += float(dt_s)
    # ---------------------------------------------------------------- main entry points
    def apply_segments(self, v_v, dt_s, icc_a=np.inf) -> SegmentResult:
        """Apply piecewise-constant source-voltage segments one after another; measure at each segment end."""
        v, dt, icc = validate(v_v, dt_s, icc_a)
        if self.failed in ("short", "open"):
            g = np.full(v.size, 1.0 / R_SHORT_OHM if self.failed == "short" else 0.0)
            goff = np.zeros(v.size)
        else:
            g, goff = self._evolve(v, dt, icc)
        self.t_s += float(dt.sum())
        return self.measure(v, icc, g, goff)

    def apply_cycles(self, v_v, dt_s, icc_a, n_cycles: int) -> SegmentResult:
        """Apply a periodic pattern (k segments) n_cycles times; results have shape (n_cycles, k).

        Vectorized over cycles for a read/write/relax pattern (:func:`cycles.fast_cycles`) and for a device
        that cannot switch (:func:`cycles.relaxed_cycles`), equal to ``apply_segments`` on the tiled pattern
        up to float rounding; falls back to it otherwise (and for the rest of a call from the failing cycle
        on, so the draws of that call stay in ``apply_segments``' order)."""
        v, dt, icc, pat = self._pattern(v_v, dt_s, icc_a)
        n_cycles = int(n_cycles)
        if n_cycles < 1:
            raise ValueError("n_cycles must be >= 1")
        res = None if pat is None else fast_cycles(self, pat, v, n_cycles)
        if res is not None and res[0] == n_cycles:
            return res[1]
        if res is None and (relaxed := relaxed_cycles(self, v, dt, icc, n_cycles)) is not None:
            return relaxed
        done, parts = (0, []) if res is None else (res[0], [res[1]])
        m = n_cycles - done
        parts.append(self.apply_segments(np.tile(v, m), np.tile(dt, m), np.tile(icc, m)))
        return SegmentResult(*(np.concatenate([getattr(r, f).ravel() for r in parts]).reshape(n_cycles, v.size)
                               for f in ("i_a", "v_dev_v", "compliance")))

    def _pattern(self, v_v, dt_s, icc_a) -> tuple[np.ndarray, np.ndarray, np.ndarray, Pattern | None]:
        """Validated copies of a periodic drive and its :class:`cycles.Pattern`, remembered per device: the
        SMU engine sends the same pattern list after list, and checking it costs more than a list of it."""
        v, dt = np.asarray(v_v, dtype=np.float64), np.asarray(dt_s, dtype=np.float64)
        ic = np.asarray(icc_a, dtype=np.float64)
        key = (v.shape, dt.shape, ic.shape, v.tobytes(), dt.tobytes(), ic.tobytes())
        hit = self._patterns.get(key)
        if hit is not None:
            return hit
        v, dt, icc = (np.array(x) for x in validate(v, dt, ic))      # copies: the cache outlives the caller's arrays
        entry = (v, dt, icc, pattern(self, v, dt, icc))
        if len(self._patterns) >= PATTERN_CACHE_MAX:
            self._patterns.clear()
        self._patterns[key] = entry
        return entry

    # ---------------------------------------------------------------- evolution by runs of one kind
    def _evolve(self, v: np.ndarray, dt: np.ndarray, icc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bridge + filament and leakage at each segment end, run by run (a run: one kind — V ≤ −v_reset,
        below v_th, ≥ v_th — and one compliance). Stretches of runs without a switching event on a device
        without a drift filament go through :func:`runs.free_runs` (``batch_runs``), the rest run by run."""
        p = self.p
        kind = (v >= p.v_th_v).view(np.int8) - (v <= -p.v_reset_v).view(np.int8)   # 1 / 0 / −1 (v_th > 0 > −v_reset)
        edge = np.flatnonzero((kind[1:] != kind[:-1]) | (icc[1:] != icc[:-1])) + 1
        starts, ends = np.concatenate(([0], edge)), np.concatenate((edge, [v.size]))
        g_out, goff_out = np.empty(v.size), np.empty(v.size)
        n_runs = starts.size
        if not (self.batch_runs and self.vectorized) or n_runs < BATCH_MIN_RUNS:
            for a, b in zip(starts.tolist(), ends.tolist()):
                self._one_run(int(kind[a]), v, dt, float(icc[a]), a, b, g_out, goff_out)
            return g_out, goff_out
        # windows of runs for free_runs: twice as long after a window without an event, about as long as the
        # last stretch after one; a stretch shorter than BATCH_MIN_RUNS (an event every few runs, as in a
        # tiled endurance list) costs more batched than run by run: the next try waits twice as long
        r, window, wait, skip = 0, n_runs, 0, 0
        while r < n_runs:
            if skip == 0 and self.gd_p <= 0.0:
                e = min(r + window, n_runs)
                grow = (kind[starts[r:e]] == 1) & (p.has_ag and self.failed != "stuck_off")
                m = free_runs(self, v, dt, icc, grow, starts[r:e], ends[r:e], g_out, goff_out)
                r += m
                if r == e:
                    window *= 2
                    continue
                window = max(2 * m, BATCH_MIN_RUNS)
                wait = skip = 0 if m >= BATCH_MIN_RUNS else max(2 * wait, BATCH_MIN_RUNS)
            elif skip:
                skip -= 1
            a, b = int(starts[r]), int(ends[r])
            self._one_run(int(kind[a]), v, dt, float(icc[a]), a, b, g_out, goff_out)
            r += 1
        return g_out, goff_out

    def _one_run(self, kd: int, v: np.ndarray, dt: np.ndarray, c: float, a: int, b: int,
                 g_out: np.ndarray, goff_out: np.ndarray) -> None:
        """Segments a…b−1, one run of kind ``kd`` at compliance ``c`` (the reference of :func:`runs.free_runs`)."""
        if kd == 1 and self.p.has_ag and self.failed != "stuck_off":   # (a failure inside this call stops growth)
            g_out[a:b], goff_out[a:b] = self._run_grow(v[a:b], dt[a:b], c)
            return
        if kd == -1 and self._can_reset(c):
            g_out[a:b] = self._reset(v[a:b], dt[a:b])
        else:
            g_out[a:b] = self._relax(dt[a:b])
        goff_out[a:b] = self.g_off_eff

def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(val) for k, val in x.items()}
    if isinstance(x, np.integer):
        return int(x)
    return x
