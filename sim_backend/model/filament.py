"""The drift (non-volatile) filament ``gd`` of a :class:`~.device.Memristor`: its drift or dissolution with age,
the runaway SET to the compliance-limited filament (one event, or a vectorized stretch of re-draws) and the
RESET at negative bias. Equations: :mod:`.kinetics`; physics and sources: the package docstring."""

from __future__ import annotations

import math

import numpy as np

from . import kinetics as kn


class FilamentMixin:
    """Methods of :class:`~.device.Memristor` that evolve the drift filament."""

    def _gd_at(self, ages: np.ndarray) -> np.ndarray:
        """Drift filament at the given ages (as the ``gd`` property, vectorized)."""
        if self.gd_p <= 0.0 or self.failed == "stuck_on":
            return np.full(ages.size, self.gd_p)
        p = self.p
        return kn.drift(self.gd_p, ages, self.stable, p.nu_1ms, p.t0_drift_s, p.t_sub_s)

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
