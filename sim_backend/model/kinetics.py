"""Closed-form kinetics of the two filament populations, vectorized (every argument may be an array).

Diffusive bridge ``g_v`` (volatile): for V ≥ v_th Ag⁺ hops into the NC matrix and the cluster bridge grows
toward saturation, ``dg/dt = k(V)·(g_b − g)``, ``k = a·exp((V − 1 V)/v_k)/τ_g1``; the field holds it (no
back-diffusion while V ≥ v_th, as the hold region of V-VTEAM [R §2.3]); below v_th (0 V, reads, reverse bias)
it dissolves, ``g ← g·exp(−t/τ_v)`` ("exponential decay in the inter-group interval" [B]). In compliance the
device voltage is ``V = I_f/g`` and growth creeps: with ``u = V/v_k`` the law used is
``F(u_end) = F(u_0) + A·v_k·t/I_f``, ``F(u) = e^{−u}/(u(u + 2))`` (the asymptotic form of ∫ e^{−s}/s² ds,
taken as the model's law so every path is exact), ``A = a·(g_b − g_0)·e^{−1/v_k}/τ_g1``, never below v_th.

Drift filament ``g_d`` (non-volatile): once the bridge carries more than ``i_lat`` it runs away (Joule-assisted
reduction, thickening) until the device voltage falls to v_c, ``G = (Icc − I_off(v_c))/v_c`` [R §2.4] — at the
SMU time resolution this is instantaneous. A filament above ``g_crit`` is stable and drifts as a power law,
``G = G_p·(1 + t/t0)^{−ν}``, ``ν = ν_1mS·(1 mS/G_p)^{1/2}`` (thinner filaments drift more); below it, it
dissolves by surface diffusion, ``(g/1 µS)²`` falling linearly at ``1/t_sub`` (Wang 2019: t ∝ φ⁴, G ∝ φ²).
RESET (V ≤ −v_reset): ``g_d ← g_d·exp(−∫dt/τ_r(V))``, ``τ_r = τ_r0·exp(−(|V| − v_reset)/v_rs)``.
"""

from __future__ import annotations

import math

import numpy as np

EXP_CAP = 60.0       # rates beyond e^60 per τ are "instantaneous"
G_REF_S = 1e-6       # reference of the sub-critical lifetime law
NU_MAX = 0.05


def i_off(g_off, v_nl: float, v):
    """Leaky insulator (HRS) current: linear at small V, sinh at large V."""
    return g_off * v_nl * np.sinh(np.asarray(v) / v_nl)


def rate(v, v_k: float, tau_g1: float, a):
    """Bridge growth rate k(V) (1/s) at device voltage v; a = growth multiplier (c2c, wear)."""
    return a * np.exp(np.minimum((np.asarray(v) - 1.0) / v_k, EXP_CAP)) / tau_g1


def _ln_f(u):
    return -u - np.log(u) - np.log(u + 2.0)


def creep(g0, v0, t, i_f, a, g_b: float, v_k: float, tau_g1: float, v_th: float, g_init=None):
    """Total filament conductance after ``t`` in compliance (current ``i_f`` through the filament), starting
    at conductance ``g0`` and device voltage ``v0`` (= i_f/g0); bridge part grows, never below v_th.

    ``g_init``: a guess of the result (e.g. from a previous iteration of a caller's fixed point) to start
    Newton from; the root is the same (ln F is convex and decreasing: Newton converges from either side),
    only fewer steps are needed."""
    g0, v0, t, i_f, a = (np.asarray(x, dtype=np.float64) for x in (g0, v0, t, i_f, a))
    u_min = v_th / v_k
    u0 = np.maximum(v0 / v_k, u_min)
    ln_f0, c1 = creep_setup(g0, u0, i_f, a, g_b, v_k, tau_g1)
    return creep_end(g0, u0, ln_f0, c1 * t, i_f, v_k, u_min, g_init)


def creep_setup(g0, u0, i_f, a, g_b: float, v_k: float, tau_g1: float):
    """The parts of :func:`creep` that do not depend on the time: (ln F(u0), rate c1 of F per second)."""
    amp = a * np.maximum(g_b - g0, 0.0) * np.exp(-1.0 / v_k) / tau_g1
    return _ln_f(u0), amp * v_k / np.maximum(i_f, 1e-30)


def creep_end(g0, u0, ln_f0, c1_t, i_f, v_k: float, u_min: float, g_init=None):
    """:func:`creep` given its time-independent parts and ``c1_t`` = c1·t: solves F(u) = F(u0) + c1·t."""
    target = np.logaddexp(ln_f0, np.log(np.maximum(c1_t, 1e-300)))
    u = u0.copy() if g_init is None else \
        np.clip(np.asarray(i_f, dtype=np.float64) / (v_k * np.maximum(g_init, 1e-30)), u_min, u0)
    neg_target = -target
    for it in range(8):       # Newton on ln F(u) = target (convex, decreasing in u)
        q = u * (u + 2.0)     # ln F = −u − ln(u(u+2)),  −(ln F)' = 1 + (2u + 2)/(u(u+2))
        h = neg_target - u - np.log(q)
        step = h / (1.0 + (2.0 * u + 2.0) / q)
        u_new = np.maximum(u + step, u_min)
        done = it % 2 and np.all(np.abs(u_new - u) <= 1e-12 * u)   # quadratic: the next steps change ≤ 1 ulp
        u = u_new
        if done:
            break
    u = np.minimum(u, u0)
    return np.where(u < u0, i_f / (v_k * u), g0)


class CreepRoots:
    """Roots of the creep law (:func:`creep_end`: ln F(u) = target) for a vector of writes whose targets are
    solved again and again as a caller's fixed point moves (cycles.fast_cycles): φ(u) = u + ln(u(u+2)) =
    −ln F, kept in [u_min, u0], by Newton stopped at |Δu| ≤ tol_u (quadratic convergence: the root is then
    exact to ≈ |φ''/2φ'|·tol_u² ≤ 0.3·tol_u²). First call: a quadratic Taylor guess about the root of the mean
    target (1–2 steps); later calls: the previous roots moved to first order in the change of the target
    (the passes change it by ~1e-3: 1 step)."""

    def __init__(self, u_min: float, u0: float, tol_u: float):
        self.u_min, self.u0, self.tol_u = u_min, u0, tol_u
        self.u = self.ln_f = self.dphi = None

    def solve(self, ln_f: np.ndarray, coarse: bool = False):
        """(u, φ'(u)) with φ(u) = −ln_f, or (None, None) when Newton does not converge. ``coarse``: one Newton
        step and no test (≈ 1e-8 from the guess; for a caller's pass that a later pass corrects)."""
        if self.u is None:
            u = self._guess(ln_f)
        else:
            u = self.u - (ln_f - self.ln_f) / self.dphi
        np.maximum(u, self.u_min, out=u)
        np.minimum(u, self.u0, out=u)
        a, q, f, dphi, step = np.empty((5, u.size))
        for _ in range(12):
            np.add(u, 2.0, out=a)
            np.multiply(a, u, out=q)
            np.log(q, out=f)
            f += u
            f += ln_f
            a += u                                  # φ'(u) = 1 + (2u + 2)/(u(u+2))
            np.divide(a, q, out=dphi)
            dphi += 1.0
            np.divide(f, dphi, out=step)
            np.subtract(u, step, out=f)          # φ rises and is concave: from below the root a step stays
            np.maximum(f, self.u_min, out=f)     # below it, from above it lands below it, so never above u0
            np.subtract(f, u, out=step)
            u, f = f, u
            if coarse or np.maximum.reduce(np.abs(step, out=a)) <= self.tol_u:   # (a: free until the next step)
                break
        else:
            return None, None
        self.u, self.ln_f, self.dphi = u, ln_f, dphi
        return u, dphi

    def _guess(self, ln_f: np.ndarray) -> np.ndarray:
        s_ref = -float(np.add.reduce(ln_f)) / ln_f.size
        u = min(max(2.0, self.u_min), self.u0)
        for _ in range(50):                         # scalar Newton: φ(u) = s_ref
            q = u * (u + 2.0)
            du = (u + math.log(q) - s_ref) / (1.0 + (2.0 * u + 2.0) / q)
            u = min(max(u - du, 1e-6), 1e6)
            if abs(du) <= 1e-12 * u:
                break
        q = u * (u + 2.0)
        d1 = 1.0 + (2.0 * u + 2.0) / q              # φ', φ'' at the reference root
        d2 = -(u * u + (u + 2.0) ** 2) / (q * q)
        c2 = -0.5 * d2 / d1 ** 3                    # u(s) ≈ u + (s − s_ref)/φ' − φ''/(2φ'³)·(s − s_ref)²
        ds = np.negative(ln_f)
        ds -= s_ref
        g = ds * c2
        g += 1.0 / d1
        g *= ds
        g += u
        return g


def free_growth(g0, v, dt, k, g_b: float, g_hit):
    """Bridge growth over ``dt`` at rate ``k`` toward g_b; returns (g at the end or at the hit, time of the
    hit or inf) where the hit is the conductance ``g_hit`` (the current target reached)."""
    g0, dt, k, g_hit = (np.asarray(x, dtype=np.float64) for x in (g0, dt, k, g_hit))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hit = np.where(g_hit <= g0, 0.0,
                         np.where(g_hit < g_b, np.log((g_b - g0) / (g_b - g_hit)) / k, np.inf))
    hit = t_hit < dt
    g_end = g_b - (g_b - g0) * np.exp(-k * dt)
    return np.where(hit, np.maximum(g_hit, g0), g_end), np.where(hit, t_hit, np.inf)


def nu_of(g_p, nu_1ms: float):
    return np.minimum(nu_1ms * np.sqrt(1e-3 / np.maximum(g_p, 1e-12)), NU_MAX)


def drift(g_p, age, stable, nu_1ms: float, t0: float, t_sub: float):
    """Drift filament at ``age`` after programming to ``g_p``: power-law drift if stable, else dissolution."""
    g_p, age = np.asarray(g_p, dtype=np.float64), np.asarray(age, dtype=np.float64)
    if stable:
        return g_p * (1.0 + age / t0) ** -nu_of(g_p, nu_1ms)
    x = (g_p / G_REF_S) ** 2 - age / t_sub
    return G_REF_S * np.sqrt(np.maximum(x, 0.0))


def reset_rate(v, v_reset: float, v_rs: float, tau_r0: float):
    return np.exp(np.minimum((-np.asarray(v) - v_reset) / v_rs, EXP_CAP)) / tau_r0
