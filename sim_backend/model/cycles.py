"""Periodic read / write / relax patterns (volatile endurance) vectorized over cycles.

Applies when the pattern has one write (V ≥ v_th) at a finite compliance ≤ i_lat (diffusive regime, no
runaway), every other segment relaxes (−v_reset < V < v_th), there is no drift filament, every write
brings the device from below compliance to it (one volatile cycle each) and the leakage does not hold the
device voltage (I_off < Icc/2 at the write). Anything else (and the failing cycle) goes through
``apply_segments``, the segment-by-segment reference. The physics is that of :mod:`.bridge` and
:mod:`.kinetics`, segment for segment: each write grows the bridge freely from what the last one left
until the current reaches Icc (hit time in closed form), then creeps in compliance for the rest of the
write (``F(u) = F(u0) + c1·t``, :func:`kinetics.creep`); every other segment relaxes it. The c2c draws
are taken in the order ``apply_segments`` takes them (4 per event, then the read noise), so both paths
give the same numbers up to rounding (tests/test_model.py::test_fast_cycles_equal_segment_by_segment_
application and ::test_engine_list_is_vectorized_and_equals_segment_by_segment_application, rtol 1e-9;
measured ≤ 1e-14 relative on every device of 3 OGB dies, fresh and at 97 % of their wear-out, with the
same compliance flags, counters and generator positions).

How it is solved (issue 11: the engine's 7-point list, 585 cycles a call, must run at ≥ 10 M segments/s;
a call is a few hundred numpy operations on 585-vectors, so the cost is their number, not arithmetic):

* Everything fixed by the pattern and the device's (immutable) parameters is computed once
  (:class:`Pattern`, remembered per device by ``Memristor._pattern``).
* The only coupling between cycles is the bridge left by write i−1 at the start of write i (≈ 1 % of it
  after 30 ms), ``g_w[i] = W_i(decay_i·g_w[i−1])``: solved as a chain by Newton, the sub-diagonal
  ``d_i = ∂g_w[i]/∂g_w[i−1]`` analytic (a later start → an earlier hit → more creep), each update by an
  affine prefix scan (:mod:`.chain`). It stops when the update's own quadratic remainder, estimated from
  how d changed between the last two passes (½·|Δd_i/Δg_{i−1}|·δ_{i−1}²), is ≤ 1e-14 relative — the update
  is then the solution; no pass is spent only to confirm it. 2 passes at 30 ms relaxation, 3 at 5–10 ms.
* Each pass solves the creep law for all writes by Newton on φ(u) = u + ln(u(u+2)) = −ln(F(u0) + c1·t):
  the first pass from a quadratic Taylor guess about one scalar solution, later passes from the previous
  pass's root moved to first order in the target; 1–2 steps, stopped at |Δu| ≤ 3e-8 (quadratic
  convergence: the root is then exact to ≈ 1e-16).
* The measurement knows that only the write can be in compliance and that 0 V points carry no current;
  V_dev in compliance by Newton from the root of the leakage to third order (2–3 steps, |Δx| ≤ 1e-8·vw).

Measured on this 2-core machine (benchmarks/bench_model.py; other jobs running): a 585-cycle list of the
engine's pattern ≈ 0.29 ms at best (14 M segments/s), was ≈ 0.83 ms; the read noise alone (4,095 float32
normals) and the c2c draws (585 × 4) are ≈ 0.07 ms of it.

Why one module over ~400 lines: it is one algorithm (:func:`fast_cycles`: pattern, chain solve, creep,
measurement) whose parts share the :class:`Pattern` / :class:`Block` layouts and the tolerances below, read
top to bottom; :func:`relaxed_cycles` is its shortcut for a device that cannot switch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..memo import BoundedMemo
from . import kinetics as kn
from .bridge import G_ON_THR_S
from .chain import affine_scan_bounded
from .measure import SegmentResult

_max, _min, _nnz = np.maximum.reduce, np.minimum.reduce, np.count_nonzero   # (ndarray.max/.any go through
#   Python wrappers: ≈ 1 µs each, and a call has ~30 reductions)
WEAR_CHUNK = 4096        # volatile counts whose wear factors are computed at once (≈ 7 lists of 585 cycles)

MAX_PASSES = 16          # chain Newton passes before the block is left to apply_segments
TOL_CHAIN = 1e-14        # relative quadratic remainder of the chain's last Newton update
TOL_U = 3e-8             # |Δu| of the creep's last Newton step (u ≥ u_min ≈ 0.9; remainder ≤ 0.3·Δu²)
TOL_V = 1e-8             # |Δx|/vw of V_dev's last Newton step (remainder ≤ Δx²/(2 v_nl))


@dataclass(frozen=True)
class Pattern:
    """What a periodic pattern fixes for one device: the write, the relaxation times before and after it,
    the leakage's sinh factors and the constant factors of the growth and creep rates."""

    w: int                   # index of the write
    k: int                   # segments per cycle
    c: float                 # the write's compliance
    vw: float
    dtw: float
    icc: np.ndarray          # compliance of every segment
    neg_t_pre: np.ndarray    # −cumsum(dt[:w]): from the cycle start to the end of each segment before the write
    neg_t_post: np.ndarray   # −cumsum(dt[w+1:]): from the end of the write
    t_pre_all: float
    t_post_all: float
    neg_t_gap: float         # −(t_post_all + t_pre_all): from the end of a write to the start of the next
    dt_sum: float
    pre_v: bool              # a segment before / after the write has V ≠ 0 (carries current, can clamp)
    post_v: bool
    s_w: float               # sinh(vw/v_nl): I_off at the write = g_off·v_nl·s_w
    s_row: np.ndarray        # sinh(v/v_nl) of every segment
    kw_per_a: float          # growth rate at vw per unit growth factor, exp((vw − 1)/v_k)/τ_g1
    c1_per: float            # creep rate c1 = a·(g_b − g0)·c1_per/I_f, c1_per = e^{−1/v_k}·v_k/τ_g1
    u0: float                # u = V/v_k at the write (≥ u_min)
    u_min: float             # u at v_th: creep stops there
    f0: float                # F(u0) = e^{−u0}/(u0(u0+2))
    cc: np.ndarray           # (3, 1) c2c σ of growth, relaxation, HRS (the preset's)


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
        w=w, k=k, c=c, vw=vw, dtw=float(dt[w]), icc=icc.copy(),
        neg_t_pre=-np.cumsum(dt[:w]), neg_t_post=-np.cumsum(dt[w + 1:]),
        t_pre_all=float(dt[:w].sum()), t_post_all=float(dt[w + 1:].sum()), dt_sum=float(dt.sum()),
        neg_t_gap=-(float(dt[w + 1:].sum()) + float(dt[:w].sum())),
        pre_v=bool(np.any(v[:w] != 0.0)), post_v=bool(np.any(v[w + 1:] != 0.0)),
        s_w=math.sinh(vw / p.v_nl_v), s_row=np.sinh(v / p.v_nl_v),
        kw_per_a=math.exp(min((vw - 1.0) / p.v_k_v, 60.0)) / p.tau_g1_s,
        c1_per=math.exp(-1.0 / p.v_k_v) * p.v_k_v / p.tau_g1_s,
        u0=u0, u_min=u_min, f0=math.exp(-u0) / (u0 * (u0 + 2.0)),
        cc=np.array([[dev._pre.cc_tau_g], [dev._pre.cc_tau_v], [dev._pre.cc_hrs]]))


@dataclass
class Block:
    """Per-cycle quantities of one block of m cycles (index i = cycle; the (m + 1)-vectors hold [i] before
    write i and [i + 1] after it)."""

    kf: np.ndarray           # (3, m+1) c2c factors: growth of the next write, relaxation, HRS
    goff: np.ndarray         # (m+1) HRS leakage g_off (d2d × c2c × wear)
    goff_v: np.ndarray       # (m+1) goff·v_nl: I_off(V) = goff_v·sinh(V/v_nl)
    tau: np.ndarray          # (m+1) relaxation time constant
    grow: np.ndarray         # (m) growth factor of write i (c2c × wear)
    g_hit: np.ndarray        # (m) bridge at which write i reaches Icc
    i_f: np.ndarray          # (m) Icc − I_off(vw): the filament's current in compliance
    io_w: np.ndarray         # (m) I_off(vw) before write i


def fast_cycles(dev, pat: Pattern, v: np.ndarray, n: int):
    """(cycles done, SegmentResult of those cycles, shape (m, k)) or None when this block is not of the kind."""
    p = dev.p
    if dev.failed is not None or not p.has_ag or dev.gd_p > 0.0 or dev.stable:
        return None
    m = min(n, p.n_fail_vol - dev._n_vol - 1)          # the failing cycle itself goes through apply_segments
    if m < 1:
        return None
    rng = dev._rng
    state = rng.bit_generator.state
    z = rng.standard_normal((m, 4))
    out = _solve(dev, pat, z, m)
    res = None if out is None else _measure(dev, pat, v, *out)
    if res is None:                              # not this path: the draws are given back
        rng.bit_generator.state = state
        return None
    return m, res


def _block(dev, pat: Pattern, z: np.ndarray, m: int) -> Block:
    p = dev.p
    kf = np.empty((3, m + 1))
    kf[0, 0], kf[1, 0], kf[2, 0] = dev.k_grow, dev.k_tau, dev.k_hrs
    np.multiply(z[:, 1:].T, pat.cc, out=kf[:, 1:])
    np.exp(kf[:, 1:], out=kf[:, 1:])
    hrs, grw = _wear_factors(dev, m + 1)               # wear at write i before its count: index i
    goff = p.g_off_s * kf[2]
    goff *= hrs
    goff_v = goff * p.v_nl_v
    io_w = goff_v[:-1] * pat.s_w
    ci = pat.c - io_w
    g_hit = ci / pat.vw
    np.maximum(g_hit, 0.0, out=g_hit)
    grow = kf[0, :-1] * grw[:-1]
    return Block(kf=kf, goff=goff, goff_v=goff_v, tau=p.tau_v_s * kf[1], grow=grow, g_hit=g_hit,
                 i_f=np.maximum(ci, 0.0), io_w=io_w)


def _wear_factors(dev, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The wear factors of the next ``count`` volatile counts: HRS leakage 1 + wear_hrs·max(w, w_nv) and growth
    1 − wear_grow·w, w = ``dev.wear_next(False, ·)``, computed for WEAR_CHUNK counts at once and sliced (the
    same numbers: the counts are exact integers, every factor is elementwise; read-only views)."""
    n = dev._n_vol
    w_nv = dev._wear_nv()
    ch = dev._wear_chunk
    if ch is None or not ch[0] <= n <= ch[1] - count or ch[2] != w_nv:
        pre = dev._pre
        wear = dev.wear_next(False, max(count, WEAR_CHUNK))
        hrs = 1.0 + pre.wear_hrs * np.maximum(wear, w_nv)
        grw = 1.0 - pre.wear_grow * wear
        hrs.setflags(write=False)
        grw.setflags(write=False)
        ch = dev._wear_chunk = (n, n + wear.size, w_nv, hrs, grw)
    o = n - ch[0]
    return ch[3][o:o + count], ch[4][o:o + count]


def _solve(dev, pat: Pattern, z: np.ndarray, m: int):
    """(block, bridge after each write g_w, bridge at the start of each write) on the accepted path, else None."""
    p = dev.p
    b = _block(dev, pat, z, m)
    g_hit, i_f = b.g_hit, b.i_f
    gb = p.g_b_s
    # the leakage holds V_dev (worn or DDAB HRS): apply_segments grows the bridge there instead of creeping
    # (_grow_segment); a write that cannot reach Icc below the saturated bridge never hits
    # ((i_f < ½c).any() or not (g_hit < g_b).all(), by the extremes: a NaN of ci is in both, max keeps it)
    if _min(i_f) < 0.5 * pat.c or not _max(g_hit) < gb:
        return None
    grow = b.grow
    inv_kw = grow * pat.kw_per_a
    np.divide(1.0, inv_kw, out=inv_kw)
    gap = gb - g_hit
    inv_gap = 1.0 / gap
    c1 = grow * gap
    c1 *= pat.c1_per
    c1 /= i_f
    grows = g_hit * p.v_th_v < i_f                # the creep can raise the bridge (V_dev above v_th at the hit)
    grows_all = _nnz(grows) == m
    i_f_vk = i_f / p.v_k_v
    tau = b.tau
    start = np.empty(m)
    start[0] = dev.gv * math.exp(-pat.t_pre_all / tau[0])
    decay = np.divide(pat.neg_t_gap, tau[1:-1])    # write i-1's end → write i's start
    np.exp(decay, out=decay)
    a_d = c1 * inv_kw
    a_d[0] = 0.0
    a_d[1:] *= decay
    dtw, u_min, f0 = pat.dtw, pat.u_min, pat.f0
    creep = kn.CreepRoots(u_min, pat.u0, TOL_U)
    gs, t_rem, ft = np.empty((3, m))
    g_w = g_hit.copy()                            # first guess: each write ends at its hit conductance
    d_prev = delta_prev = None
    for _ in range(MAX_PASSES):
        np.multiply(g_w[:-1], decay, out=start[1:])
        np.subtract(gb, start, out=gs)
        np.multiply(gs, inv_gap, out=t_rem)       # hit time × k (free growth), then the rest of the write
        np.log(t_rem, out=t_rem)
        t_rem *= inv_kw
        np.subtract(dtw, t_rem, out=t_rem)
        if not _min(t_rem) > 0.0:                 # a write that does not reach Icc: not this path
            return None
        np.multiply(c1, t_rem, out=ft)            # F at the end of the creep
        ft += f0
        u, dphi = creep.solve(np.log(ft), coarse=d_prev is None)   # the first pass only starts Newton
        if u is None:
            return None
        g_c = i_f_vk / u
        y = g_c if grows_all else np.where(grows, g_c, g_hit)
        r = y - g_w
        # d_i = ∂g_w[i]/∂g_w[i-1]: ∂t_rem/∂start = 1/(k·(g_b − start)), ∂g_c/∂t = g_c·c1/(u·F·φ'(u))
        den = u * ft
        den *= dphi
        den *= gs
        d = g_c * a_d
        d /= den
        d *= (u > u_min) if grows_all else grows & (u > u_min)   # creep stopped at v_th: no dependence on the start
        # the first update only has to start the quadratic convergence (the next pass corrects it)
        delta = affine_scan_bounded(d.copy(), r, 1e-9 if d_prev is None else 1e-17)
        g_w += delta
        if d_prev is not None and _converged(d, d_prev, delta, delta_prev, g_w):
            break
        d_prev, delta_prev = d, delta
    else:
        return None
    # every write must bring the device from below its compliance to it (one volatile cycle each)
    np.multiply(g_w[:-1], decay, out=start[1:])
    hit = start * pat.vw
    hit += b.io_w
    if _max(hit) >= pat.c:                        # (start·vw + io_w ≥ c).any(); NaN: see above
        return None
    return b, g_w, start


def _converged(d, d_prev, delta, delta_prev, g_w) -> bool:
    """The last update δ is exact to its quadratic remainder ½·|∂d_i/∂g_{i-1}|·δ_{i-1}², ∂d by the change of d
    between the last two passes over the update between them; accept it at ≤ TOL_CHAIN relative."""
    dl = np.abs(delta[:-1])
    rem = np.subtract(d[1:], d_prev[1:])
    np.abs(rem, out=rem)
    rem *= dl * dl
    den = np.abs(delta_prev[:-1])
    np.maximum(den, dl, out=den)
    den += 1e-300
    rem /= den
    lim = np.abs(g_w[1:])
    lim *= 2.0 * TOL_CHAIN
    return _nnz(rem <= lim) == rem.size


def _measure(dev, pat: Pattern, v: np.ndarray, b: Block, g_w: np.ndarray, start: np.ndarray) -> SegmentResult | None:
    """Conductances of every segment and what the SMU reads (``Memristor.measure`` with the same draws: read
    noise on every point, then V noise on those in compliance); None if a non-write point is in compliance."""
    p, pre, rng = dev.p, dev._pre, dev._rng
    m, k, w, c = g_w.size, pat.k, pat.w, pat.c
    tau = b.tau
    i = np.zeros((m, k))
    if pat.pre_v and w == 1:                       # one segment before the write: its end is the write's start
        i0 = start * v[0]
        i0 += b.goff_v[:-1] * pat.s_row[0]
        i[:, 0] = i0
        np.abs(i0, out=i0)
        if _max(i0) > pat.icc[0]:                  # (|i[:, 0]| > icc[0]).any()
            return None
    elif pat.pre_v:                                # bridge before the write: relaxing from the last cycle's
        src = np.empty(m)
        src[0] = dev.gv
        np.multiply(g_w[:-1], np.exp(-pat.t_post_all / tau[1:-1]), out=src[1:])
        g_pre = src[:, None] * np.exp(pat.neg_t_pre[None, :] / tau[:-1, None])
        i[:, :w] = g_pre * v[:w] + b.goff_v[:-1, None] * pat.s_row[None, :w]
        if (np.abs(i[:, :w]) > pat.icc[:w]).any():
            return None
    i_w = g_w * pat.vw                             # the write, measured after its event's HRS draw
    i_w += b.goff_v[1:] * pat.s_w
    if pat.post_v:
        g_post = g_w[:, None] * np.exp(pat.neg_t_post[None, :] / tau[1:, None])
        i[:, w + 1:] = g_post * v[w + 1:] + b.goff_v[1:, None] * pat.s_row[None, w + 1:]
        if (np.abs(i[:, w + 1:]) > pat.icc[w + 1:]).any():
            return None
    cw = i_w > c
    n = int(_nnz(cw))
    i[:, w] = c if n == m else i_w if n == 0 else np.where(cw, c, i_w)
    if n:
        g, goff = (g_w, b.goff[1:]) if n == m else (g_w[cw], b.goff[1:][cw])
        x = _v_at_current(g, goff, c, pat.vw, p.v_nl_v)
    # commit: m volatile events, state after the last cycle
    dev._n_vol += m
    kf = b.kf
    dev.k_grow, dev.k_tau, dev.k_hrs = float(kf[0, -1]), float(kf[1, -1]), float(kf[2, -1])
    dev.gv = float(g_w[-1]) * math.exp(float(pat.neg_t_post[-1]) / float(tau[-1])) if w < k - 1 else \
        float(g_w[-1])
    dev._g_last, dev._c = max(float(g_w[-1]), G_ON_THR_S), c
    dev.on = bool(dev.gv >= 0.1 * dev._g_last) if w < k - 1 else True
    dev.age_s += pat.dt_sum * m
    dev.t_s += pat.dt_sum * m
    z = rng.standard_normal(m * k, dtype=np.float32).reshape(m, k)
    t = np.abs(i)
    t *= pre.noise_i_rel
    t += pre.noise_i_abs_a
    t *= z
    i += t
    v_dev = _v_template(v, m).copy()
    comp = np.zeros((m, k), dtype=bool)
    comp[:, w] = cw
    if n:
        x *= 1.0 + pre.noise_v_rel * rng.standard_normal(n, dtype=np.float32)
        if n == m:
            v_dev[:, w] = x
        else:
            v_dev[cw, w] = x
    return SegmentResult(i, v_dev, comp)


_V_TEMPLATES: BoundedMemo[tuple[bytes, int], np.ndarray] = BoundedMemo(64)


def _v_template(v: np.ndarray, m: int) -> np.ndarray:
    """The (m, k) array of m rows of the pattern's voltages v (read-only; a list's V_dev starts as a copy)."""
    key = (v.tobytes(), m)
    t = _V_TEMPLATES.get(key)
    if t is None:
        t = np.empty((m, v.size))
        t[...] = v
        t.setflags(write=False)
        _V_TEMPLATES.remember(key, t)
    return t


def _v_at_current(g: np.ndarray, goff: np.ndarray, c: float, vw: float, vn: float) -> np.ndarray:
    """Device voltage where g·V + I_off(V) = c for writes at vw > 0 (``Memristor._v_at_current``): Newton from
    above (convex, rising), started at the root of the leakage to third order, g·x + g_off·(x + x³/(6v_nl²))
    = c, one Newton step from the linear value; stopped at |Δx| ≤ TOL_V·vw."""
    gg = g + goff
    x0 = np.divide(c, gg)
    np.minimum(vw, x0, out=x0)
    x2 = x0 * x0
    cub = goff / (6.0 * vn * vn)
    num = x2 * x0
    num *= cub
    den = x2 * (3.0 * cub)
    den += gg
    num /= den
    x = np.subtract(x0, num, out=x0)               # the cubic is below the sinh: x stays above the root
    h = 0.5 * goff
    hv = h * vn
    e, inv, f = np.empty((3, x.size))
    tol = TOL_V * vw
    for _ in range(30):
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
        f /= den
        x -= f
        np.maximum(x, 0.0, out=x)
        if _max(np.abs(f, out=inv)) <= tol:        # (inv is free until the next step)
            break
    return x


def relaxed_cycles(dev, v: np.ndarray, dt: np.ndarray, icc: np.ndarray, n: int) -> SegmentResult | None:
    """A device that cannot switch — stuck OFF after its volatile wear-out (OGB) or without an Ag source
    (Au top electrode) — and has no drift filament: every segment relaxes the bridge (``_evolve`` takes
    ``_relax`` for each run, as no growth and no RESET apply), so the whole block is one exponential and
    one measurement: ``apply_segments`` on the tiled pattern up to rounding, the same draws. None when the
    device can switch. (After a 1.8×10⁶-cycle wear-out a 2×10⁶-cycle run spends 160 k cycles here.)"""
    p = dev.p
    if dev.failed not in ("stuck_off", None) or (dev.failed is None and p.has_ag) or dev.gd_p > 0.0 \
            or dev.stable:
        return None
    vv, dd, ic = np.tile(v, n), np.tile(dt, n), np.tile(icc, n)
    tc = np.cumsum(dd)
    g = dev.gv * np.exp(-tc / (p.tau_v_s * dev.k_tau))
    goff = np.full(vv.size, dev.g_off_eff)
    dev.gv, dev.age_s = float(g[-1]), dev.age_s + float(tc[-1])
    dev._off_if_dissolved()                      # (not stable: checked above)
    dev.t_s += float(dd.sum())
    r = dev.measure(vv, ic, g, goff)
    return SegmentResult(*(a.reshape(n, v.size) for a in (r.i_a, r.v_dev_v, r.compliance)))
