"""One simulated device: parameters, the two filament populations, wear, virtual clock and its own generator."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import kinetics as kn
from .params import FAILURES, DeviceParams, Preset

R_SHORT_OHM = 10.0          # injected "short" fault: a 10 Ω metallic bridge
G_ON_THR_S = 5e-8           # a bridge below 50 nS is OFF (relaxed)


@dataclass
class SegmentResult:
    """Measured values at the end of each segment (read noise applied)."""

    i_a: np.ndarray          # current through the device (A)
    v_dev_v: np.ndarray      # voltage across the device (V); differs from the programmed one in compliance
    compliance: np.ndarray   # bool: the SMU was current-limited


class Memristor:
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
        if self.failed not in ("short", "open"):
            self._relax(np.array([float(dt_s)]))
        self.t_s += float(dt_s)

    # ---------------------------------------------------------------- wear-dependent quantities
    def wear(self, nonvolatile: bool, extra: int = 0):
        """Degradation (n/n_fail)^p of one mode's counter (``extra`` more cycles; may be an array)."""
        n, lim = (self._n_nv, self.p.n_fail_nv) if nonvolatile else (self._n_vol, self.p.n_fail_vol)
        return np.minimum((n + np.asarray(extra)) / lim, 1.0) ** self._pre.wear_p

    @property
    def g_off_eff(self) -> float:
        """HRS leakage: d2d value × c2c factor × wear (rising HRS before failure)."""
        w = max(float(self.wear(False)), float(self.wear(True)))
        return self.p.g_off_s * self.k_hrs * (1.0 + self._pre.wear_hrs * w)

    def growth_factor(self) -> float:
        return self.k_grow * (1.0 - self._pre.wear_grow * float(self.wear(False)))

    def g_cc(self, icc: float) -> float:
        """Compliance-limited drift filament (nominal, before the c2c factor): (Icc − I_off(v_c))/v_c."""
        p = self.p
        if not math.isfinite(icc):
            return p.g_max_s
        g = max(icc - float(kn.i_off(self.g_off_eff, p.v_nl_v, p.v_c_v)), 0.0) / p.v_c_v * p.g_set_factor
        return min(g * (1.0 - self._pre.wear_lrs * float(self.wear(True))), p.g_max_s)

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

        Vectorized over cycles for a read/write/relax pattern (:func:`cycles.fast_cycles`), equal to
        ``apply_segments`` on the tiled pattern up to float rounding; falls back to it otherwise."""
        from .cycles import fast_cycles
        v, dt, icc = validate(v_v, dt_s, icc_a)
        n_cycles = int(n_cycles)
        if n_cycles < 1:
            raise ValueError("n_cycles must be >= 1")
        res = fast_cycles(self, v, dt, icc, n_cycles)
        done, parts = (0, []) if res is None else (res[0], [res[1]])
        if done < n_cycles:
            m = n_cycles - done
            parts.append(self.apply_segments(np.tile(v, m), np.tile(dt, m), np.tile(icc, m)))
        return SegmentResult(*(np.concatenate([getattr(r, f) for r in parts]).reshape(n_cycles, v.size)
                               for f in ("i_a", "v_dev_v", "compliance")))

    # ---------------------------------------------------------------- evolution by runs of one kind
    def _evolve(self, v: np.ndarray, dt: np.ndarray, icc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        kind = np.where(v <= -p.v_reset_v, -1, np.where(v >= p.v_th_v, 1, 0))
        edge = np.flatnonzero((kind[1:] != kind[:-1]) | (icc[1:] != icc[:-1])) + 1
        g_out, goff_out = np.empty(v.size), np.empty(v.size)
        for a, b in zip(np.r_[0, edge].tolist(), np.r_[edge, v.size].tolist()):
            kd, c = int(kind[a]), float(icc[a])
            if kd == 1 and p.has_ag and self.failed != "stuck_off":   # (a failure inside this call stops growth)
                g_out[a:b], goff_out[a:b] = self._run_grow(v[a:b], dt[a:b], c)
                continue
            if kd == -1 and self._can_reset(c):
                g_out[a:b] = self._reset(v[a:b], dt[a:b])
            else:
                g_out[a:b] = self._relax(dt[a:b])
            goff_out[a:b] = self.g_off_eff
        return g_out, goff_out

    def _relax(self, dt: np.ndarray) -> np.ndarray:
        """Below v_th: the bridge dissolves exponentially, the drift filament drifts or dissolves by its age."""
        tc = np.cumsum(dt)
        gv = self.gv * np.exp(-tc / (self.p.tau_v_s * self.k_tau))
        gd = np.full(dt.size, self.gd_p) if self.failed == "stuck_on" or self.gd_p <= 0 else \
            kn.drift(self.gd_p, self.age_s + tc, self.stable, self.p.nu_1ms, self.p.t0_drift_s, self.p.t_sub_s)
        self.gv, self.age_s = float(gv[-1]), self.age_s + float(tc[-1])
        if self.gd_p > 0 and not self.stable and gd[-1] <= 0.0:
            self.gd_p, self.age_s = 0.0, 0.0
        if self.on and self.gv < 0.3 * self._g_last and not self.stable:
            self.on = False
        return gv + gd

    def _can_reset(self, c: float) -> bool:
        """The SMU lets the device reach −v_reset only if the filament current there is below Icc."""
        if self.failed == "stuck_on" or self.gd_p <= 0.0:
            return False
        p = self.p
        return not (math.isfinite(c) and self.g_s * p.v_reset_v + float(kn.i_off(self.g_off_eff, p.v_nl_v, p.v_reset_v)) > c)

    def _reset(self, v: np.ndarray, dt: np.ndarray) -> np.ndarray:
        p = self.p
        gd = self.gd * np.exp(-np.cumsum(dt * kn.reset_rate(v, p.v_reset_v, p.v_rs_v, p.tau_r0_s)))
        gd = np.where(gd < 1e-15, 0.0, gd)
        gv = self.gv * np.exp(-np.cumsum(dt) / (p.tau_v_s * self.k_tau))   # the bridge relaxes meanwhile
        self.gv, self.gd_p, self.age_s = float(gv[-1]), float(gd[-1]), 0.0
        self.stable = self.gd_p >= p.g_crit_s
        return gv + gd

    def _run_grow(self, v: np.ndarray, dt: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
        """V ≥ v_th: free growth in closed form up to the first segment that reaches its current target,
        then segment by segment (compliance creep or runaway)."""
        p = self.p
        gd, goff = self.gd, self.g_off_eff
        ioff = kn.i_off(goff, p.v_nl_v, v)
        target = p.i_lat_a if c > p.i_lat_a else c
        k = kn.rate(v, p.v_k_v, p.tau_g1_s, self.growth_factor())
        gv = p.g_b_s - (p.g_b_s - self.gv) * np.exp(-np.cumsum(k * dt))
        j = int(np.argmax(reached)) if (reached := (gv + gd) * v + ioff >= target).any() else v.size
        g_out, goff_out = np.empty(v.size), np.full(v.size, goff)
        if j:
            self.gv = float(gv[j - 1])
            g_out[:j] = gv[:j] + gd
            self.age_s += float(dt[:j].sum())
        s = j
        while s < v.size:     # the rest in vectorized stretches between switching events
            q = 0
            if self.vectorized:
                if c > p.i_lat_a:
                    q = self._runaway_stretch(v[s:], dt[s:], c, g_out[s:], goff_out[s:])
                elif self.on or self.stable:
                    q = self._creep_stretch(v[s:], dt[s:], c, g_out[s:], goff_out[s:])
            if q == 0:         # a switching event (c2c draw, count) or a case the stretches leave out
                g_out[s] = self._grow_segment(float(v[s]), float(dt[s]), c)
                goff_out[s] = self.g_off_eff
                q = 1
            s += q
        return g_out, goff_out

    # ---------------------------------------------------------------- vectorized stretches of _grow_segment
    def _gd_at(self, ages: np.ndarray) -> np.ndarray:
        """Drift filament at the given ages (as the ``gd`` property, vectorized)."""
        if self.gd_p <= 0.0 or self.failed == "stuck_on":
            return np.full(ages.size, self.gd_p)
        p = self.p
        return kn.drift(self.gd_p, ages, self.stable, p.nu_1ms, p.t0_drift_s, p.t_sub_s)

    def _creep_stretch(self, v, dt, c: float, g_out, goff_out) -> int:
        """Consecutive non-runaway segments (c ≤ i_lat) of an ON device without a switching event, all at once.

        Each segment maps the bridge at its start to the bridge at its end exactly as :meth:`_grow_segment`
        does (free growth, compliance creep, leakage-held growth); the maps are applied in sequence by
        solving the whole chain ``x[s+1] = M_s(x[s])`` with Newton's method: its Jacobian is bidiagonal, so
        each step is an affine recurrence, solved by a prefix scan (:func:`_affine_scan`). Converged to
        ~1e-14 relative, i.e. equal to the segment-by-segment loop up to float rounding. Stops before the
        first segment that reaches its target from below (an event: c2c draw, count) and returns how many
        segments it applied (0: let :meth:`_grow_segment` take the next one)."""
        p = self.p
        n = v.size
        ages = np.cumsum(np.r_[self.age_s, dt])              # sequential sums, as age_s += dt
        gd0, gd1 = self._gd_at(ages[:-1]), self._gd_at(ages[1:])
        goff = self.g_off_eff
        a = self.growth_factor()
        io = kn.i_off(goff, p.v_nl_v, v)
        k = kn.rate(v, p.v_k_v, p.tau_g1_s, a)
        g_hit = np.maximum((c - io) / v - gd0, 0.0)
        creep_ok = self.failed != "stuck_on"
        gb, vth = p.g_b_s, p.v_th_v
        cc, goffv = np.full(n, c), np.full(n, goff)

        g_cr = np.full(n, np.nan)              # last creep result per segment: Newton's next starting point
        leaks = [False]
        # without leakage-held growth the bridge never passes the level where V_dev = v_th in compliance,
        # g·v_th = Icc − I_off(v_th) (creep stops there; a free segment starts below it and stops at the
        # target): iterates are clipped to it, so Newton does not oscillate across that kink
        x_top = (c - float(kn.i_off(goff, p.v_nl_v, vth))) / vth - gd0

        def step(lo, x):
            """The segment maps of segments lo… at their start values x: (end values, hit, free)."""
            sl = slice(lo, lo + x.size)
            vv, dd, gd, ii = v[sl], dt[sl], gd0[sl], io[sl]
            big = x + gd
            free = big * vv + ii < c
            g_f, t_hit = kn.free_growth(x, vv, dd, k[sl], gb, g_hit[sl])
            v0 = np.abs(self._v_at_current(big, goffv[sl], cc[sl], vv))
            i_f = np.maximum(c - kn.i_off(goff, p.v_nl_v, v0), 0.0)
            leak = (i_f < 0.5 * c) & (v0 >= vth)
            x_leak = gb - (gb - x) * np.exp(-kn.rate(v0, p.v_k_v, p.tau_g1_s, a) * dd)
            crp = ~leak & (i_f > 0) & (big * vth < i_f) & creep_ok
            gi = g_cr[sl]
            g_c = kn.creep(big, v0, dd, i_f, a, gb, p.v_k_v, p.tau_g1_s, vth,
                           None if np.isnan(gi[0]) else gi)
            g_cr[sl] = g_c
            x_cr = np.maximum(g_c - gd, x)
            y = np.where(free, g_f, np.where(leak, x_leak, np.where(crp, x_cr, x)))
            leaks[0] = leaks[0] or bool(np.any(leak & ~free))
            return y, free & np.isfinite(t_hit), free

        # Newton on the chain, the Jacobian's sub-diagonal d by secants (exact for the linear free growth);
        # only the part after the converged prefix is recomputed
        x = np.full(n + 1, self.gv)
        big0 = self.gv + gd0[0]
        if big0 * v[0] + io[0] >= c and creep_ok:
            # starting guess: the creep of the first segment continued over the whole stretch (the law
            # integrated with its rate frozen at the start; the chain's Newton then corrects it)
            v00 = float(np.abs(self._v_at_current(np.array([big0]), goffv[:1], cc[:1], v[:1]))[0])
            i_f0 = max(c - float(kn.i_off(goff, p.v_nl_v, v00)), 0.0)
            if i_f0 >= 0.5 * c and big0 * vth < i_f0:
                t_c = ages[1:] - ages[0]
                for _ in range(2):      # then once more with the rate ∝ (g_b − g) along that guess
                    g_c = kn.creep(np.full(n, big0), v00, t_c, i_f0, a, gb, p.v_k_v, p.tau_g1_s, vth)
                    t_c = np.cumsum(dt * np.maximum(gb - np.r_[big0, g_c[:-1]], 0.0)) / max(gb - big0, 1e-30)
                x[1:] = np.maximum(g_c - gd0, self.gv)
        y, hit, free = np.empty(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        ok = np.zeros(n, dtype=bool)
        d = d_free = np.exp(-k * dt)           # free growth is linear: g_b − (g_b − x)·e^{−k·dt}
        d_first = True
        x_old = y_old = None
        lo = 0
        for _ in range(60):
            y[lo:], hit[lo:], free[lo:] = step(lo, x[lo:-1])
            r = y[lo:] - x[lo + 1:]
            ok[lo:] = np.abs(r) <= 1e-13 * np.abs(y[lo:]) + 1e-30     # ~ the rounding noise of one map
            if d_first:                          # one finite difference, then secants
                hx = 1e-7 * x[:-1] + 1e-18
                d = np.where(free, d, (step(0, x[:-1] + hx)[0] - y) / hx)
                d_first = False
            else:
                dx = x[lo:-1] - x_old
                sec = np.abs(dx) > 1e-13 * np.abs(x[lo:-1]) + 1e-30
                d[lo:] = np.where(free[lo:], d_free[lo:],
                                  np.where(sec, (y[lo:] - y_old) / np.where(sec, dx, 1.0), d[lo:]))
            f = int(np.argmin(ok)) if not ok.all() else n
            h = int(np.argmax(hit)) if hit.any() else n
            if f == n or h <= f:
                break
            hi = min(f + 32, n)     # the front: derivatives by finite differences (secants fail at kinks)
            hx = 1e-10 * x[f:hi] + 1e-24
            d[f:hi] = (step(f, x[f:hi] + hx)[0] - y[f:hi]) / hx
            x_old, y_old = x[f:-1].copy(), y[f:].copy()
            x[f + 1:] += _affine_scan(d[f:], r[f - lo:])
            if creep_ok and not leaks[0]:
                np.minimum(x[f + 1:], x_top[f:], out=x[f + 1:])
            lo = f
        x[1:] = y
        bad = ~ok | hit
        q = int(np.argmax(bad)) if bad.any() else n
        if q == 0:
            return 0
        self.gv = float(x[q])
        self.age_s = float(ages[q])
        g_out[:q] = x[1:q + 1] + gd1[:q]
        goff_out[:q] = goff
        self._c = c
        in_c = np.flatnonzero(~free[:q])
        if in_c.size:                     # on and the last SET level are set by the segments in compliance
            self.on = True
            self._g_last = max(float(x[in_c[-1] + 1]), G_ON_THR_S)
        return q

    def _runaway_stretch(self, v, dt, c: float, g_out, goff_out) -> int:
        """Consecutive runaway segments (c > i_lat) in which the filament carries more than i_lat, all at once:
        each one re-draws the compliance-limited filament as :meth:`_drift_set` does (4 normals per segment,
        in the same order). Stops before the first segment that would count a cycle, skip the re-draw (a
        much bigger filament) or fall below i_lat; returns how many segments it applied."""
        p, pre = self.p, self._pre
        if self.failed is not None:
            return 0
        n = v.size
        gv = self.gv
        gd_now = self.gd
        w_hrs = 1.0 + pre.wear_hrs * max(float(self.wear(False)), float(self.wear(True)))
        f_lrs = 1.0 - pre.wear_lrs * float(self.wear(True))
        state = self._rng.bit_generator.state
        z = self._rng.standard_normal((n, 4))
        self._rng.bit_generator.state = state
        k_hrs = np.r_[self.k_hrs, np.exp(pre.cc_hrs * z[:, 3])]           # before / after each segment
        goff_b = p.g_off_s * k_hrs[:-1] * w_hrs
        limit = np.minimum(np.maximum(c - kn.i_off(goff_b, p.v_nl_v, p.v_c_v), 0.0) / p.v_c_v * p.g_set_factor
                           * f_lrs, p.g_max_s) if math.isfinite(c) else np.full(n, p.g_max_s)
        g_new = np.minimum(limit * np.exp(pre.cc_g_set * z[:, 0]), p.g_max_s)
        gd_p = np.maximum(g_new - gv, 0.0)
        stable = gd_p >= p.g_crit_s
        gd_start = np.r_[gd_now, gd_p[:-1]]                               # age 0 after each re-draw
        st_before = np.r_[self.stable, stable[:-1]]
        io = kn.i_off(goff_b, p.v_nl_v, v)
        good = ((gv + gd_start) * v + io >= p.i_lat_a) & (gd_start < 2.0 * limit) & ~(stable & ~st_before)
        q = int(np.argmin(good)) if not good.all() else n
        if q == 0:
            return 0
        self._rng.standard_normal((q, 4))                                 # consume the q draws
        zl = z[q - 1]
        self.k_grow, self.k_tau, self.k_hrs = (math.exp(pre.cc_tau_g * zl[1]), math.exp(pre.cc_tau_v * zl[2]),
                                               math.exp(pre.cc_hrs * zl[3]))
        self.gd_p, self.age_s, self.stable = float(gd_p[q - 1]), 0.0, bool(stable[q - 1])
        self._c, self.on = c, True
        g_out[:q] = gv + gd_p[:q]
        goff_out[:q] = p.g_off_s * k_hrs[1:q + 1] * w_hrs
        return q

    def _grow_segment(self, v: float, dt: float, c: float) -> float:
        p = self.p
        gd, goff = self.gd, self.g_off_eff
        io = float(kn.i_off(goff, p.v_nl_v, v))
        runaway = c > p.i_lat_a
        target = p.i_lat_a if runaway else c
        t_rem, v0, from_below = dt, v, False
        self._c = c
        a = self.growth_factor()                   # of this SET (the event below draws the next one's)
        if (self.gv + gd) * v + io < target:       # free growth, maybe reaching the target inside the segment
            from_below = True
            k = float(kn.rate(v, p.v_k_v, p.tau_g1_s, a))
            g_hit = max((target - io) / v - gd, 0.0)
            g, t_hit = kn.free_growth(self.gv, v, dt, k, p.g_b_s, g_hit)
            self.gv = float(g)
            if not np.isfinite(t_hit):
                self.age_s += dt
                return self.gv + gd
            t_rem = dt - float(t_hit)
        elif not runaway:                          # already in compliance (maybe by leakage): V_dev now
            v0 = float(self._v_at_current(np.array([self.gv + gd]), np.array([goff]), np.array([c]),
                                          np.array([v]))[0])
        self.age_s += dt
        if runaway:
            return self._drift_set(c, from_below)
        i_f = max(c - float(kn.i_off(goff, p.v_nl_v, v0)), 0.0)
        if i_f < 0.5 * c and v0 >= p.v_th_v:      # the leakage holds V_dev (DDAB): the bridge grows there
            g, _ = kn.free_growth(self.gv, v0, t_rem, float(kn.rate(v0, p.v_k_v, p.tau_g1_s, a)), p.g_b_s, np.inf)
            self.gv = float(g)
        elif i_f > 0 and (self.gv + gd) * p.v_th_v < i_f and self.failed != "stuck_on":
            g = float(kn.creep(self.gv + gd, v0, t_rem, i_f, a, p.g_b_s, p.v_k_v,
                               p.tau_g1_s, p.v_th_v))
            self.gv = max(g - gd, self.gv)
        # OFF → ON: one volatile switching cycle (compliance reached from below, or — when the leakage alone
        # holds the SMU in compliance (DDAB) — a write on a relaxed bridge)
        if not self.stable and (from_below or not self.on):
            self._draw()
            self._count(False)
        self.on = True
        self._g_last = max(self.gv, G_ON_THR_S)
        return self.gv + self.gd

    # ---------------------------------------------------------------- switching events, counters, wear
    def _draw(self) -> np.ndarray:
        """c2c factors of one switching event: (LRS level, growth of the next SET, relaxation, HRS)."""
        z = self._rng.standard_normal(4)
        pre = self._pre
        self.k_grow, self.k_tau, self.k_hrs = (math.exp(pre.cc_tau_g * z[1]), math.exp(pre.cc_tau_v * z[2]),
                                               math.exp(pre.cc_hrs * z[3]))
        return z

    def _drift_set(self, c: float, from_below: bool) -> float:
        """Runaway: the bridge thickens to the compliance-limited filament (or the ceiling without one)."""
        p = self.p
        limit = self.g_cc(c)
        gd_now = self.gd
        if gd_now >= 2.0 * limit:                 # a much bigger LRS written again at low Icc is left as it is
            self.on = True
            return self.gv + gd_now
        new = not self.stable
        z = self._draw()
        g_new = min(limit * math.exp(self._pre.cc_g_set * z[0]), p.g_max_s)
        self.gd_p, self.age_s = max(g_new - self.gv, 0.0), 0.0
        self.stable = self.gd_p >= p.g_crit_s
        if self.stable and new:
            self._count(True)
        elif not self.stable and from_below:       # a sub-critical filament: a volatile cycle
            self._count(False)
        self.on = True
        return self.gv + self.gd_p

    def _count(self, nonvolatile: bool) -> None:
        if nonvolatile:
            self._n_nv += 1
            hit, mode = self._n_nv >= self.p.n_fail_nv, self._pre.fail_nv
        else:
            self._n_vol += 1
            hit, mode = self._n_vol >= self.p.n_fail_vol, self._pre.fail_vol
        if hit and self._wear is None:
            self._wear = mode
            if mode == "stuck_on":                # the filament of this cycle no longer dissolves
                self.gd_p = max(self.gd, self.gv, self.g_cc(self._c))
                self.gv, self.age_s, self.stable = 0.0, 0.0, True

    # ---------------------------------------------------------------- measurement
    def measure(self, v: np.ndarray, icc: np.ndarray, g: np.ndarray, goff: np.ndarray,
                i_free: np.ndarray | None = None) -> SegmentResult:
        """SMU compliance and read noise (σ = 1 %·|I| + 5 pA on I; 1e-4 on V where V is computed).
        ``i_free``: g·v + I_off(v) when the caller has it already (the same numbers)."""
        p, pre = self.p, self._pre
        if i_free is None:
            i_free = g * v + kn.i_off(goff, p.v_nl_v, v)
        comp = np.abs(i_free) > icc
        i = np.where(comp, np.sign(v) * np.where(comp, icc, 0.0), i_free)   # no sign(0)·inf
        v_dev = v.copy()
        if comp.any():
            v_dev[comp] = self._v_at_current(g[comp], goff[comp], icc[comp], v[comp])
        z = self._rng.standard_normal(i.size, dtype=np.float32).reshape(i.shape)
        i = i + (pre.noise_i_rel * np.abs(i) + pre.noise_i_abs_a) * z
        n = int(comp.sum())
        if n:
            v_dev[comp] *= 1.0 + pre.noise_v_rel * self._rng.standard_normal(n, dtype=np.float32)
        return SegmentResult(i, v_dev, comp)

    def _v_at_current(self, g, goff, i, v_prog):
        """Device voltage where g·V + I_off(V) = |i| (SMU in compliance); Newton from above (convex, rising)."""
        if self.failed in ("short", "open"):
            return np.sign(v_prog) * np.minimum(np.abs(v_prog), i * R_SHORT_OHM)
        vn = self.p.v_nl_v
        x = np.minimum(np.abs(v_prog), i / (g + goff))
        h = 0.5 * goff
        for it in range(30):
            e = np.exp(x / vn)
            f = g * x + h * vn * (e - 1.0 / e) - i
            x = np.maximum(x - f / (g + h * (e + 1.0 / e)), 0.0)
            if it % 2 and np.all(f <= 1e-9 * i):
                break
        return np.sign(v_prog) * x


def _affine_scan(d: np.ndarray, r: np.ndarray) -> np.ndarray:
    """e[1:] of the recurrence e[0] = 0, e[s+1] = d[s]·e[s] + r[s], by prefix composition of the affine maps
    (log2 n vectorized doubling steps; no division, so no under/overflow of running products)."""
    a, b = d.astype(np.float64, copy=True), r.astype(np.float64, copy=True)
    sh = 1
    while sh < a.size:
        b[sh:] = a[sh:] * b[:-sh] + b[sh:]
        a[sh:] = a[sh:] * a[:-sh]
        sh *= 2
        if sh < a.size and np.max(np.abs(a[sh:])) < 1e-17:   # longer windows add < 1e-17 of a term: done
            break                                          # (a Newton update: its accuracy sets speed only)
    return b


def validate(v_v, dt_s, icc_a) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.asarray(v_v, dtype=np.float64)
    dt = np.asarray(dt_s, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or dt.shape != v.shape:
        raise ValueError(f"v_v and dt_s must be non-empty 1-D arrays of equal length, got {v.shape} and {dt.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("v_v must be finite")
    if not np.all(np.isfinite(dt) & (dt > 0)):
        raise ValueError("dt_s must be finite and > 0")
    icc = np.broadcast_to(np.asarray(icc_a, dtype=np.float64), v.shape) if np.ndim(icc_a) == 0 \
        else np.asarray(icc_a, dtype=np.float64)
    if icc.shape != v.shape:
        raise ValueError(f"icc_a must be a scalar or have shape {v.shape}, got {icc.shape}")
    if np.any(np.isnan(icc) | (icc <= 0)):
        raise ValueError("icc_a must be > 0 (np.inf for no compliance)")
    return v, dt, icc


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(val) for k, val in x.items()}
    if isinstance(x, np.integer):
        return int(x)
    return x
