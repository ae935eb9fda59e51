"""The diffusive (volatile) Ag bridge ``gv`` of a :class:`~.device.Memristor`: relaxation below v_th, growth
above it (free growth, compliance creep, leakage-held growth), one segment at a time or in vectorized
stretches between switching events. Equations: :mod:`.kinetics`; physics and sources: the package docstring."""

from __future__ import annotations

import numpy as np

from . import kinetics as kn
from .chain import affine_scan

G_ON_THR_S = 5e-8           # a bridge below 50 nS is OFF (relaxed)
OFF_FRACTION = 0.3          # a relaxing bridge below this fraction of its last ON conductance reads OFF


class BridgeMixin:
    """Methods of :class:`~.device.Memristor` that evolve the bridge (state attributes are the device's)."""

    def _relax(self, dt: np.ndarray) -> np.ndarray:
        """Below v_th: the bridge dissolves exponentially, the drift filament drifts or dissolves by its age."""
        tc = np.cumsum(dt)
        gv = self.gv * np.exp(-tc / (self.p.tau_v_s * self.k_tau))
        gd = np.full(dt.size, self.gd_p) if self.failed == "stuck_on" or self.gd_p <= 0 else \
            kn.drift(self.gd_p, self.age_s + tc, self.stable, self.p.nu_1ms, self.p.t0_drift_s, self.p.t_sub_s)
        self.gv, self.age_s = float(gv[-1]), self.age_s + float(tc[-1])
        if self.gd_p > 0 and not self.stable and gd[-1] <= 0.0:
            self.gd_p, self.age_s = 0.0, 0.0
        self._off_if_dissolved()
        return gv + gd

    def _relax_bridge(self, dt_s: float) -> None:
        """:meth:`_relax` over one segment of a device without a drift filament (gd_p ≤ 0), state only: the same
        float operations (numpy's exp on a one-element array, as there), none of its arrays."""
        e = np.exp(np.array([-dt_s / (self.p.tau_v_s * self.k_tau)]))
        self.gv, self.age_s = float(self.gv * e[0]), self.age_s + dt_s
        self._off_if_dissolved()

    def _off_if_dissolved(self) -> None:
        """The bridge has relaxed below OFF_FRACTION of the last ON conductance: the device reads OFF (a
        stable filament keeps it ON). The one OFF rule of every relaxation path."""
        if self.on and self.gv < OFF_FRACTION * self._g_last and not self.stable:
            self.on = False

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

    def _creep_stretch(self, v, dt, c: float, g_out, goff_out) -> int:
        """Consecutive non-runaway segments (c ≤ i_lat) of an ON device without a switching event, all at once.

        Each segment maps the bridge at its start to the bridge at its end exactly as :meth:`_grow_segment`
        does (free growth, compliance creep, leakage-held growth); the maps are applied in sequence by
        solving the whole chain ``x[s+1] = M_s(x[s])`` with Newton's method: its Jacobian is bidiagonal, so
        each step is an affine recurrence, solved by a prefix scan (:func:`.chain.affine_scan`). Converged to
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
            x[f + 1:] += affine_scan(d[f:], r[f - lo:])
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
