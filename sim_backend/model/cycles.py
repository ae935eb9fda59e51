"""Periodic read / write / relax patterns (volatile endurance) vectorized over cycles.

Applies when the pattern has one write (V ≥ v_th) at a finite compliance ≤ i_lat (diffusive regime, no
runaway), every other segment relaxes (−v_reset < V < v_th), there is no drift filament, every write
brings the device from below compliance to it (one volatile cycle each) and the leakage does not hold the
device voltage (I_off < Icc/2 at the write). The only coupling between cycles is the bridge left over from
the previous write (≈ 1 % after 30 ms): the chain over the cycle vector is solved by Newton (an affine prefix
scan per pass) to ~1e-14. The c2c draws are taken in the order ``apply_segments`` takes them (4 per event,
then the read noise), so both paths give the same numbers up to rounding
(tests/test_model.py::test_fast_cycles_equal_segment_by_segment_application, rtol 1e-9).

Speed (issue 11: 2×10⁶ cycles of the 7-point endurance list in ≤ 5 s end to end, so ≥ 10 M segments/s
here): a 585-cycle list is a few hundred numpy calls on 585-element vectors, so the cost is the number of
calls, not the arithmetic. Everything that depends only on the pattern and the device's parameters is
computed once per pattern (:class:`Pattern`, cached on the device); the per-cycle quantities of
"before"/"after" each write share one (m + 1)-vector; the creep and V_dev Newton loops work in place;
the measurement knows that only the write can be in compliance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import kinetics as kn
from .bridge import G_ON_THR_S
from .chain import affine_scan_inplace
from .measure import SegmentResult


@dataclass(frozen=True)
class Pattern:
    """What a periodic pattern fixes for one device (its parameters are immutable): the write, the
    relaxation times before and after it, the leakage's sinh factors and the growth rate's exponential."""

    w: int                   # index of the write
    k: int                   # segments per cycle
    c: float                 # the write's compliance
    vw: float
    dtw: float
    others: np.ndarray       # bool (k,): the segments that are not the write
    neg_t_pre: np.ndarray    # −cumsum(dt[:w]): relaxation time from the cycle start to each pre-write segment end
    neg_t_post: np.ndarray   # −cumsum(dt[w+1:])
    t_pre_all: float
    t_post_all: float
    dt_sum: float
    s_w: np.float64          # sinh(vw/v_nl) (the I_off factor at the write)
    s_row: np.ndarray        # sinh(v/v_nl) of every segment
    e_w: np.float64          # exp(min((vw − 1)/v_k, EXP_CAP)): the growth rate at vw without its factor
    e_amp: np.float64        # exp(−1/v_k): the creep amplitude factor
    u0: float                # u = V/v_k at the write (not below u_min)
    u_min: float
    ln_f0: np.float64        # ln F(u0)


def pattern(dev, v: np.ndarray, dt: np.ndarray, icc: np.ndarray) -> Pattern | None:
    """The pattern's :class:`Pattern` for this device, or None when it is not a one-write diffusive pattern."""
    p = dev.p
    wr = np.flatnonzero(v >= p.v_th_v)
    if wr.size != 1:
        return None
    w, k = int(wr[0]), v.size
    c = float(icc[w])
    others = np.ones(k, dtype=bool)
    others[w] = False
    if not (math.isfinite(c) and c <= p.i_lat_a) or bool((v[others] <= -p.v_reset_v).any()):
        return None
    vw = float(v[w])
    u_min = p.v_th_v / p.v_k_v
    u0 = max(vw / p.v_k_v, u_min)
    return Pattern(
        w=w, k=k, c=c, vw=vw, dtw=float(dt[w]), others=others,
        neg_t_pre=-np.cumsum(dt[:w]), neg_t_post=-np.cumsum(dt[w + 1:]),
        t_pre_all=float(dt[:w].sum()), t_post_all=float(dt[w + 1:].sum()), dt_sum=float(dt.sum()),
        s_w=np.sinh(np.asarray(vw) / p.v_nl_v), s_row=np.sinh(v / p.v_nl_v),
        e_w=np.exp(np.minimum((np.asarray(vw) - 1.0) / p.v_k_v, kn.EXP_CAP)),
        e_amp=np.exp(-1.0 / p.v_k_v), u0=u0, u_min=u_min,
        ln_f0=kn._ln_f(np.full(1, u0))[0])


def fast_cycles(dev, pat: Pattern, v: np.ndarray, icc: np.ndarray, n: int):
    """(cycles done, SegmentResult of those cycles, shape (m, k)) or None when this block is not of the kind."""
    p, pre = dev.p, dev._pre
    if dev.failed is not None or not p.has_ag or dev.gd_p > 0.0 or dev.stable:
        return None
    m = min(n, p.n_fail_vol - dev._n_vol - 1)          # the failing cycle itself goes through apply_segments
    if m < 1:
        return None
    w, k, c, vw, dtw = pat.w, pat.k, pat.c, pat.vw, pat.dtw
    rng = dev._rng
    state = rng.bit_generator.state
    z = rng.standard_normal((m, 4))
    # per event i (0 … m): row 0 = the factors before the first write, row i+1 = drawn at write i
    # (growth of the next write, relaxation after write i, HRS after write i)
    kf = np.empty((3, m + 1))
    kf[:, 0] = dev.k_grow, dev.k_tau, dev.k_hrs
    np.multiply(z[:, 1:].T, np.array([[pre.cc_tau_g], [pre.cc_tau_v], [pre.cc_hrs]]), out=kf[:, 1:])
    np.exp(kf[:, 1:], out=kf[:, 1:])
    wear = dev.wear(False, np.arange(m + 1))           # wear at write i before its count = wear[i]
    w_nv = float(dev.wear(True))
    grow = kf[0, :-1] * (1.0 - pre.wear_grow * wear[:-1])
    goff_all = p.g_off_s * kf[2] * (1.0 + pre.wear_hrs * np.maximum(wear, w_nv))  # before write i: [i], after: [i+1]
    goff_v = goff_all * p.v_nl_v
    tau_all = p.tau_v_s * kf[1]                          # relaxation before write i: [i], after: [i+1]
    io_w = goff_v[:-1] * pat.s_w
    kw = grow * pat.e_w / p.tau_g1_s                     # = kinetics.rate(vw, …, grow)
    ci = c - io_w
    g_hit = np.maximum(ci / vw, 0.0)
    i_f = np.maximum(ci, 0.0)
    if (i_f < 0.5 * c).any():     # the leakage holds V_dev (worn or DDAB HRS): apply_segments grows the
        rng.bit_generator.state = state     # bridge there instead of creeping (_grow_segment)
        return None

    # each write: free growth from its start to the hit of g_hit, then creep in compliance for the rest.
    # On the accepted path every write hits from below (checked after the loop), so the creep starts at
    # g_hit, V = vw in every pass and only its time changes: the time-independent parts are taken once
    # (kinetics.creep_setup).
    gb = p.g_b_s
    gap_hit = gb - g_hit
    below_gb = g_hit < gb
    c1 = grow * np.maximum(gb - g_hit, 0.0) * pat.e_amp / p.tau_g1_s * p.v_k_v / np.maximum(i_f, 1e-30)
    grows_w = g_hit * p.v_th_v < i_f
    free_w = np.exp(-kw * dtw)
    creep = _Creep(pat, i_f, g_hit, p.v_k_v)

    def write(g_start, g_init):
        with np.errstate(invalid="ignore", divide="ignore"):
            t_hit = np.where(g_hit <= g_start, 0.0, np.log((gb - g_start) / gap_hit) / kw)   # as free_growth
        hit = (t_hit < dtw) & below_gb
        if hit.all():
            g = np.maximum(g_hit, g_start)
            g_c = creep.end(c1 * (dtw - t_hit), g_init)
            return np.where(grows_w, np.maximum(g_c, g), g), hit, g_c
        g = np.where(hit, np.maximum(g_hit, g_start), gb - (gb - g_start) * free_w)
        g_c = creep.end(c1 * np.where(hit, dtw - np.where(hit, t_hit, 0.0), 0.0), g_init)
        return np.where(hit & grows_w, np.maximum(g_c, g), g), hit, g_c

    tau_b, tau_a = tau_all[:-1], tau_all[1:]
    g_c = None
    start = np.empty(m)
    start[0] = dev.gv * math.exp(-pat.t_pre_all / tau_all[0])
    decay = np.exp(-pat.t_post_all / tau_a[:-1] - pat.t_pre_all / tau_b[1:])
    dec0 = np.empty(m)
    dec0[0] = 0.0
    dec0[1:] = decay
    # fixed point: the bridge left by write i-1 at the start of write i, g_w[i] = W_i(decay_i·g_w[i-1]).
    # Plain iteration converges by only ≈ 0.007 a pass (30 ms relaxation), so it is solved as a chain by
    # Newton: sub-diagonal d_i = ∂g_w[i]/∂g_w[i-1] analytic (below), the update by an affine prefix scan
    # (chain.affine_scan_inplace). Stops when a pass changes g_w by ≤ 1e-11 relative (the result is then
    # exact to ≈ d·1e-11): the segment-by-segment result to ≤ 1e-14 in 3 passes at 30 ms, 4 at 5–10 ms
    # (4 plain passes left 4e-9 at 30 ms and 1e-4 at 5 ms).
    g_w = g_hit.copy()            # first guess: each write ends near its hit conductance
    for _ in range(16):
        np.multiply(g_w[:-1], decay, out=start[1:])
        y, hit, g_c = write(start, g_c)          # the creep's Newton starts from the previous iterate
        r = y - g_w
        if (np.abs(r) <= 1e-11 * np.abs(y)).all():   # y is then exact to ≈ d·1e-11 ≤ 1e-13
            g_w = y
            break
        # d_i = ∂g_w[i]/∂start_i · decay_i: a later start → an earlier hit (∂t_rem/∂s = 1/(k·(g_b − s)))
        # → more creep, dg/dt = g·c1·e^{−ln F(u)} / (u·(1 + (2u+2)/(u(u+2)))) at its end point u
        u = i_f / (p.v_k_v * np.maximum(g_c, 1e-300))
        q = u * (u + 2.0)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            dgdt = g_c * c1 * np.exp(u + np.log(q)) / (u * (1.0 + (2.0 * u + 2.0) / q))
            d = dgdt / (kw * (gb - start)) * dec0
            ok = hit & grows_w & (g_c > g_hit) & (u > pat.u_min) & np.isfinite(d)
        g_w = g_w + affine_scan_inplace(np.where(ok, d, 0.0), r)
    # every write must bring the device from below its compliance to it (one volatile cycle each)
    if not hit.all() or (start * vw + io_w >= c).any():
        rng.bit_generator.state = state
        return None
    g_mat = np.empty((m, k))
    if w:
        src = np.empty(m)
        src[0] = dev.gv
        np.multiply(g_w[:-1], np.exp(-pat.t_post_all / tau_a[:-1]), out=src[1:])   # bridge at each cycle start
        np.multiply(src[:, None], np.exp(pat.neg_t_pre[None, :] / tau_b[:, None]), out=g_mat[:, :w])
    g_mat[:, w] = g_w
    if w < k - 1:
        np.multiply(g_w[:, None], np.exp(pat.neg_t_post[None, :] / tau_a[:, None]), out=g_mat[:, w + 1:])
    # the write is measured after its switching event's HRS draw, as apply_segments does (V_dev in
    # compliance differed by ≈ 1.5 %): before the write goff_all[i], from the write on goff_all[i+1]
    i_free = np.empty((m, k))
    np.multiply(goff_v[:-1, None], pat.s_row[None, :w], out=i_free[:, :w])
    np.multiply(goff_v[1:, None], pat.s_row[None, w:], out=i_free[:, w:])
    i_free += g_mat * v
    comp = np.abs(i_free) > icc
    if comp.any(axis=0)[pat.others].any():                           # a read in compliance: not this path
        rng.bit_generator.state = state
        return None
    # commit: m volatile events, state after the last cycle
    dev._n_vol += m
    dev.k_grow, dev.k_tau, dev.k_hrs = float(kf[0, -1]), float(kf[1, -1]), float(kf[2, -1])
    dev.gv = float(g_mat[-1, -1])
    dev._g_last, dev._c = max(float(g_w[-1]), G_ON_THR_S), c
    dev.on = bool(dev.gv >= 0.1 * dev._g_last) if w < k - 1 else True
    dev.age_s += pat.dt_sum * m
    dev.t_s += pat.dt_sum * m
    return m, _measure(dev, pat, v, i_free, comp, g_w, goff_all[1:])


class _Creep:
    """kinetics.creep_end for the writes of one block (start g_hit, u0 = vw/v_k for all), in place."""

    def __init__(self, pat: Pattern, i_f: np.ndarray, g_hit: np.ndarray, v_k: float):
        self.pat, self.i_f, self.g_hit, self.v_k = pat, i_f, g_hit, v_k
        m = i_f.size
        self.q, self.h, self.den, self.u_new = (np.empty(m) for _ in range(4))

    def end(self, c1_t: np.ndarray, g_init: np.ndarray | None) -> np.ndarray:
        pat, v_k = self.pat, self.v_k
        u0, u_min = pat.u0, pat.u_min
        neg_target = np.logaddexp(pat.ln_f0, np.log(np.maximum(c1_t, 1e-300)))
        np.negative(neg_target, out=neg_target)
        if g_init is None:
            u = np.full(c1_t.size, u0)
        else:
            u = np.clip(self.i_f / (v_k * np.maximum(g_init, 1e-30)), u_min, u0)
        q, h, den, u_new = self.q, self.h, self.den, self.u_new
        for it in range(8):       # Newton on ln F(u) = target (convex, decreasing in u)
            np.add(u, 2.0, out=q)  # ln F = −u − ln(u(u+2)),  −(ln F)' = 1 + (2u + 2)/(u(u+2))
            q *= u
            np.subtract(neg_target, u, out=h)
            h -= np.log(q)
            np.multiply(u, 2.0, out=den)
            den += 2.0
            den /= q
            den += 1.0
            h /= den
            np.add(u, h, out=u_new)
            np.maximum(u_new, u_min, out=u_new)
            done = it % 2 and (np.abs(u_new - u) <= 1e-12 * u).all()   # quadratic: the next steps change ≤ 1 ulp
            u, u_new = u_new, u
            if done:
                break
        self.u_new = u_new
        np.minimum(u, u0, out=u)
        return np.where(u < u0, self.i_f / (v_k * u), self.g_hit)


def _measure(dev, pat: Pattern, v: np.ndarray, i: np.ndarray, comp: np.ndarray, g_w: np.ndarray,
             goff_w: np.ndarray) -> SegmentResult:
    """``Memristor.measure`` of the block, knowing that only the write (column w) can be in compliance:
    the same numbers and the same draws (read noise on every point, then V noise on those in compliance)."""
    pre, rng = dev._pre, dev._rng
    m, k = i.shape
    w, c = pat.w, pat.c
    cw = np.ascontiguousarray(comp[:, w])
    n = int(np.count_nonzero(cw))
    v_dev = np.empty((m, k))
    v_dev[...] = v
    if n:
        allc = n == m
        g, goff = (g_w, goff_w) if allc else (g_w[cw], goff_w[cw])
        x = _v_at_current(g, goff, c, pat.vw, dev.p.v_nl_v)
        if allc:
            i[:, w] = c            # sign(vw)·Icc, vw > 0
        else:
            i[cw, w] = c
    z = rng.standard_normal(m * k, dtype=np.float32).reshape(m, k)
    t = np.abs(i)
    t *= pre.noise_i_rel
    t += pre.noise_i_abs_a
    t *= z
    i += t
    if n:
        x = x * (1.0 + pre.noise_v_rel * rng.standard_normal(n, dtype=np.float32))
        if n == m:
            v_dev[:, w] = x
        else:
            v_dev[cw, w] = x
    return SegmentResult(i, v_dev, comp)


def _v_at_current(g: np.ndarray, goff: np.ndarray, c: float, vw: float, vn: float) -> np.ndarray:
    """``Memristor._v_at_current`` for writes at vw > 0 with one compliance c (the same iterations)."""
    x = np.minimum(abs(vw), c / (g + goff))
    h = 0.5 * goff
    hv = h * vn
    lim = 1e-9 * c
    e, inv, f, den = (np.empty(x.size) for _ in range(4))
    for it in range(30):
        np.divide(x, vn, out=e)
        np.exp(e, out=e)
        np.divide(1.0, e, out=inv)
        np.multiply(g, x, out=f)
        np.subtract(e, inv, out=den)
        den *= hv
        f += den
        f -= c
        np.add(e, inv, out=den)
        den *= h
        den += g
        np.divide(f, den, out=den)
        np.subtract(x, den, out=x)
        np.maximum(x, 0.0, out=x)
        if it % 2 and (f <= lim).all():
            break
    return x
