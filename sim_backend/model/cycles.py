"""Periodic read / write / relax patterns (volatile endurance) vectorized over cycles.

Applies when the pattern has one write (V ≥ v_th) at a finite compliance ≤ i_lat (diffusive regime, no
runaway), every other segment relaxes (−v_reset < V < v_th), there is no drift filament, every write
brings the device from below compliance to it (one volatile cycle each) and the leakage does not hold the
device voltage (I_off < Icc/2 at the write). The only coupling between cycles is the bridge left over from
the previous write (≈ 1 % after 30 ms): the chain over the cycle vector is solved by Newton (an affine prefix
scan per pass) to ~1e-14. The c2c draws are taken in the order ``apply_segments`` takes them (4 per event,
then the read noise), so both paths give the same numbers up to rounding
(tests/test_model.py::test_fast_cycles_equal_segment_by_segment_application, rtol 1e-9).
"""

from __future__ import annotations

import math

import numpy as np

from . import kinetics as kn
from .device import G_ON_THR_S, Memristor, _affine_scan


def fast_cycles(dev: Memristor, v: np.ndarray, dt: np.ndarray, icc: np.ndarray, n: int):
    """(cycles done, SegmentResult of those cycles) or None when the pattern is not of this kind."""
    p, pre = dev.p, dev._pre
    if dev.failed is not None or not p.has_ag or dev.gd_p > 0.0 or dev.stable:
        return None
    wr = np.flatnonzero(v >= p.v_th_v)
    if wr.size != 1:
        return None
    w, k = int(wr[0]), v.size
    c = float(icc[w])
    others = np.delete(np.arange(k), w)
    if not (math.isfinite(c) and c <= p.i_lat_a) or np.any(v[others] <= -p.v_reset_v):
        return None
    m = min(n, p.n_fail_vol - dev._n_vol - 1)          # the failing cycle itself goes through apply_segments
    if m < 1:
        return None
    state = dev._rng.bit_generator.state
    z = dev._rng.standard_normal((m, 4))
    k_grow = np.r_[dev.k_grow, np.exp(pre.cc_tau_g * z[:-1, 1])]      # growth of write i: drawn at event i-1
    k_tau = np.exp(pre.cc_tau_v * z[:, 2])                             # relaxation after write i
    k_hrs = np.exp(pre.cc_hrs * z[:, 3])                               # HRS after write i
    idx = np.arange(m)
    w_vol_before = dev.wear(False, idx)                                # wear at write i (before its count)
    w_nv = float(dev.wear(True))
    grow = k_grow * (1.0 - pre.wear_grow * w_vol_before)
    goff_before = p.g_off_s * np.r_[dev.k_hrs, k_hrs[:-1]] * (1.0 + pre.wear_hrs * np.maximum(w_vol_before, w_nv))
    goff_after = p.g_off_s * k_hrs * (1.0 + pre.wear_hrs * np.maximum(dev.wear(False, idx + 1), w_nv))
    tau_before = p.tau_v_s * np.r_[dev.k_tau, k_tau[:-1]]
    tau_after = p.tau_v_s * k_tau
    t_pre, t_post = np.cumsum(dt[:w]), np.cumsum(dt[w + 1:])
    t_pre_all, t_post_all = float(dt[:w].sum()), float(dt[w + 1:].sum())
    vw, dtw = float(v[w]), float(dt[w])
    io_w = kn.i_off(goff_before, p.v_nl_v, vw)
    kw = kn.rate(vw, p.v_k_v, p.tau_g1_s, grow)
    g_hit = np.maximum((c - io_w) / vw, 0.0)

    i_f = np.maximum(c - io_w, 0.0)
    if np.any(i_f < 0.5 * c):     # the leakage holds V_dev (worn or DDAB HRS): apply_segments grows the
        dev._rng.bit_generator.state = state     # bridge there instead of creeping (_grow_segment)
        return None

    # each write: free growth from its start to the hit of g_hit, then creep in compliance for the rest.
    # On the accepted path every write hits from below (checked after the loop), so the creep starts at
    # g_hit, V = vw in every pass and only its time changes: the time-independent parts are taken once.
    gb = p.g_b_s
    gap_hit = gb - g_hit
    u_min = p.v_th_v / p.v_k_v
    u0_w = np.full(m, max(vw / p.v_k_v, u_min))
    ln_f0, c1 = kn.creep_setup(g_hit, u0_w, i_f, grow, gb, p.v_k_v, p.tau_g1_s)
    grows_w = g_hit * p.v_th_v < i_f

    def write(g_start, g_init):
        with np.errstate(invalid="ignore", divide="ignore"):
            t_hit = np.where(g_hit <= g_start, 0.0, np.log((gb - g_start) / gap_hit) / kw)   # as free_growth
        hit = (t_hit < dtw) & (g_hit < gb)
        g = np.where(hit, np.maximum(g_hit, g_start), gb - (gb - g_start) * np.exp(-kw * dtw))
        g_c = kn.creep_end(g_hit, u0_w, ln_f0, c1 * np.where(hit, dtw - np.where(hit, t_hit, 0.0), 0.0), i_f,
                           p.v_k_v, u_min, g_init)
        return np.where(hit & grows_w, np.maximum(g_c, g), g), hit, g_c

    g_c = None
    start0 = np.array([dev.gv * math.exp(-t_pre_all / tau_before[0])])
    decay = np.exp(-t_post_all / tau_after[:-1] - t_pre_all / tau_before[1:])
    # fixed point: the bridge left by write i-1 at the start of write i, g_w[i] = W_i(decay_i·g_w[i-1]).
    # Plain iteration converges by only ≈ 0.007 a pass (30 ms relaxation), so it is solved as a chain by
    # Newton: sub-diagonal d_i = ∂g_w[i]/∂g_w[i-1] analytic (below), the update by an affine prefix scan
    # (device._affine_scan). Stops when a pass changes g_w by ≤ 1e-11 relative (the result is then exact to
    # ≈ d·1e-11): the segment-by-segment result to ≤ 1e-14 in 3 passes at 30 ms, 4 at 5–10 ms (4 plain
    # passes left 4e-9 at 30 ms and 1e-4 at 5 ms).
    g_w = np.array(g_hit, dtype=np.float64)   # first guess: each write ends near its hit conductance
    for _ in range(16):
        start = np.concatenate([start0, g_w[:-1] * decay])
        y, hit, g_c = write(start, g_c)          # the creep's Newton starts from the previous iterate
        r = y - g_w
        if np.all(np.abs(r) <= 1e-11 * np.abs(y)):   # y is then exact to ≈ d·1e-11 ≤ 1e-13
            g_w = y
            break
        # d_i = ∂g_w[i]/∂start_i · decay_i: a later start → an earlier hit (∂t_rem/∂s = 1/(k·(g_b − s)))
        # → more creep, dg/dt = g·c1·e^{−ln F(u)} / (u·(1 + (2u+2)/(u(u+2)))) at its end point u
        u = i_f / (p.v_k_v * np.maximum(g_c, 1e-300))
        q = u * (u + 2.0)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            dgdt = g_c * c1 * np.exp(u + np.log(q)) / (u * (1.0 + (2.0 * u + 2.0) / q))
            d = np.where(hit & grows_w & (g_c > g_hit) & (u > u_min),
                         dgdt / (kw * (gb - start)) * np.r_[0.0, decay], 0.0)
        g_w = g_w + _affine_scan(np.where(np.isfinite(d), d, 0.0), r)
    src = np.r_[dev.gv, g_w[:-1] * np.exp(-t_post_all / tau_after[:-1])]   # bridge at the start of each cycle
    # every write must bring the device from below its compliance to it (one volatile cycle each)
    if not hit.all() or np.any(start * vw + io_w >= c):
        dev._rng.bit_generator.state = state
        return None
    g_mat = np.empty((m, k))
    g_mat[:, :w] = src[:, None] * np.exp(-t_pre[None, :] / tau_before[:, None])
    g_mat[:, w] = g_w
    g_mat[:, w + 1:] = g_w[:, None] * np.exp(-t_post[None, :] / tau_after[:, None])
    goff = np.empty((m, k))
    goff[:, :w] = goff_before[:, None]
    goff[:, w:] = goff_after[:, None]      # the write is measured after its switching event's HRS draw, as
    #                                        apply_segments does (V_dev in compliance differed by ≈ 1.5 %)
    ioff = kn.i_off(goff, p.v_nl_v, v[None, :])
    i_free = g_mat * v + ioff
    comp = np.abs(i_free) > icc
    if comp[:, others].any():                                        # a read in compliance: not this path
        dev._rng.bit_generator.state = state
        return None
    # commit: m volatile events, state after the last cycle
    dev._n_vol += m
    dev.k_grow, dev.k_tau, dev.k_hrs = float(np.exp(pre.cc_tau_g * z[-1, 1])), float(k_tau[-1]), float(k_hrs[-1])
    dev.gv = float(g_mat[-1, -1])
    dev._g_last, dev._c = max(float(g_w[-1]), G_ON_THR_S), c
    dev.on = bool(dev.gv >= 0.1 * dev._g_last) if w < k - 1 else True
    dev.age_s += float(dt.sum()) * m
    dev.t_s += float(dt.sum()) * m
    res = dev.measure(np.tile(v, m), np.tile(icc, m), g_mat.ravel(), goff.ravel(), i_free.ravel())
    return m, res
