"""Switching events and wear of a :class:`~.device.Memristor`: the c2c draws of each event, the cycle counters
per mode, the degradation w = (n/n_fail)^p that narrows the window before the Weibull failure cycle, and
the failure itself (package docstring, "Wear-out")."""

from __future__ import annotations

import math

import numpy as np

from . import kinetics as kn


class WearMixin:
    """Methods of :class:`~.device.Memristor` for events, counters and wear-dependent quantities."""

    def wear(self, nonvolatile: bool, extra: int = 0):
        """Degradation (n/n_fail)^p of one mode's counter (``extra`` more cycles; may be an array)."""
        n, lim = (self._n_nv, self.p.n_fail_nv) if nonvolatile else (self._n_vol, self.p.n_fail_vol)
        return self._wear_law((n + np.asarray(extra)) / lim)

    def wear_next(self, nonvolatile: bool, count: int) -> np.ndarray:
        """``wear(nonvolatile, extra)`` for extra = 0 … count − 1: the same numbers (exact float counts)."""
        n, lim = (self._n_nv, self.p.n_fail_nv) if nonvolatile else (self._n_vol, self.p.n_fail_vol)
        return self._wear_law(np.arange(n, n + count, dtype=np.float64) / lim)

    def _wear_nv(self) -> float:
        """``float(self.wear(True))``, remembered for the present non-volatile count (a volatile run asks for it
        on every list and never changes it)."""
        c = self._w_nv
        if c is None or c[0] != self._n_nv:
            c = self._w_nv = (self._n_nv, float(self.wear(True)))
        return c[1]

    def _wear_law(self, frac):
        return np.minimum(frac, 1.0) ** self._pre.wear_p

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

    def _draw(self) -> np.ndarray:
        """c2c factors of one switching event: (LRS level, growth of the next SET, relaxation, HRS)."""
        z = self._rng.standard_normal(4)
        pre = self._pre
        self.k_grow, self.k_tau, self.k_hrs = (math.exp(pre.cc_tau_g * z[1]), math.exp(pre.cc_tau_v * z[2]),
                                               math.exp(pre.cc_hrs * z[3]))
        return z

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
