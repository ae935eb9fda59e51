"""Many runs of one regime of a segment list applied at once: the hot path of ``Memristor.apply_segments``
for lists that alternate short runs of growth and relaxation (the spike-train campaign: 1 V / 20 ms spikes,
0 V rests and −0.5 V reads at 1 µA on a 1/600 s grid, ≈ 200 runs in a 3960-point list).

``Memristor._evolve`` splits a list into runs of one kind (V ≤ −v_reset, below v_th, ≥ v_th) and one
compliance and applies them one by one (``_relax``, ``_run_grow``): ≈ 20 µs of numpy calls per run, ≈ 4.7 ms
per campaign list. Between switching events a device without a drift filament (gd_p = 0) only relaxes
(``g ← g·e^{−t/τ}``) or grows freely (``g ← g_b − (g_b − g)·e^{−∫k dt}``), so the runs of a stretch without
an event are computed together: the per-segment exponents of every run in one vector (k(V), I_off(V), the
wear and c2c factors are fixed until an event), the bridge at each run's start by a scalar loop over the
runs (the same float operations, in the same order, as the run-by-run loop), then every segment at once.
The first run that reaches its current target (an event: c2c draw, count, creep) is left to the caller,
which applies it with ``_run_grow`` and goes on from the next run.

Numbers: the same float operations as ``_relax``/``_run_grow`` on the same operands, run by run — the
within-run cumulative sums of equal values (one dt, one spike amplitude) are taken from one prefix table
per value (a sequential sum of equal values is the same whatever its start), other runs' from their own
``np.cumsum``; per-run sums of dt (``_run_grow``'s age) from ``ndarray.sum`` of the same length and value.
So the results equal the run-by-run loop bit for bit wherever numpy's ``exp`` gives the same value for the
same operand in any position of an array (tests/test_model_fast.py compares both paths on campaign lists,
fresh, worn and switching, to 1e-12; measured: identical, and a 4-device campaign's run file — node_i/v/g,
trace, node_comp, t — identical to the one written before this path, at 1 V and at 1.5 V spikes).

Left run by run: a device with a drift filament (gd_p > 0: its conductance drifts with age inside a run)
and lists of fewer than ``device.BATCH_MIN_RUNS`` runs (sweeps, single pulses). A list with an event every
few runs (a tiled endurance pattern) backs off to run by run (``Memristor._evolve``).

Measured on this 2-core machine (benchmarks/bench_model.py, load average ≈ 3.8 from other jobs): a campaign
list 0.44 ms at best, was 4.6 ms (the campaign's 3,325 lists: ≈ 1.5 s of model, was ≈ 15 s);
benchmarks/bench_spike_campaign.py end to end 43.7 / 46.2 s before, 27.4 / 29.1 s after (load ≈ 0.3–2).
"""

from __future__ import annotations

import numpy as np

from ..memo import BoundedMemo
from . import kinetics as kn
from .bridge import OFF_FRACTION

MAX_PREFIX_VALUES = 8        # distinct values of equal-valued runs served by prefix tables (else np.cumsum per run)


CACHE_MAX = 256
_PREFIX: BoundedMemo[float, np.ndarray] = BoundedMemo(CACHE_MAX)   # value → np.cumsum(np.full(m, value)) (a prefix of a longer one is the same)
_SUMS: BoundedMemo[tuple[int, float], float] = BoundedMemo(CACHE_MAX)   # (m, value) → np.full(m, value).sum()


def _prefix(u: float, m: int) -> np.ndarray:
    t = _PREFIX.get(u)
    if t is None or t.size < m:
        t = _PREFIX.remember(u, np.cumsum(np.full(max(m, 64), u)))
    return t


def _sum(m: int, u: float) -> float:
    s = _SUMS.get((m, u))
    if s is None:
        s = _SUMS.remember((m, u), float(np.full(m, u).sum()))
    return s


def seg_cumsum(x: np.ndarray, st: np.ndarray, ln: np.ndarray) -> np.ndarray:
    """``np.cumsum(x[st[i]:st[i] + ln[i]])`` for every run i, concatenated (runs contiguous, in order, ln ≥ 1):
    the same sequential sums, bit for bit. A run of equal values reads them from its value's prefix table."""
    first_r = x[st]
    const = np.logical_and.reduceat(x == np.repeat(first_r, ln), st)
    vals = np.where(const, first_r, first_r[0])
    srt = np.sort(vals)                        # np.unique(vals), without its Python-level overhead
    new = np.empty(srt.size, dtype=bool)
    new[0] = True
    np.not_equal(srt[1:], srt[:-1], out=new[1:])
    uniq = srt[new]
    if uniq.size > MAX_PREFIX_VALUES:
        const[:] = False
        uniq, inv = uniq[:1], np.zeros(st.size, dtype=np.intp)
    else:
        inv = np.searchsorted(uniq, vals)      # (np.unique's return_inverse, without its argsort)
    m = int(np.maximum.reduce(ln))
    table = np.concatenate([_prefix(u, m)[:m] for u in uniq.tolist()])
    out = table[np.repeat(inv * m - st, ln) + np.arange(x.size)]
    for r in np.flatnonzero(~const).tolist():
        a = int(st[r])
        out[a:a + int(ln[r])] = np.cumsum(x[a:a + int(ln[r])])
    return out


def run_sums(x: np.ndarray, st: np.ndarray, ln: np.ndarray, want: np.ndarray) -> np.ndarray:
    """``x[st[i]:st[i] + ln[i]].sum()`` for the runs i where ``want`` (runs contiguous, in order, covering x;
    0 elsewhere): numpy's pairwise sums, one per length for the runs of one equal value."""
    first_r = x[st]
    if np.minimum.reduce(x) == np.maximum.reduce(x):   # one value (a list on one time grid): every run is
        const, rest = want, ()                         # constant and equal to the first
    else:
        const = np.logical_and.reduceat(x == np.repeat(first_r, ln), st) & (first_r == first_r[0]) & want
        rest = np.flatnonzero(want & ~const).tolist()
    out = np.zeros(st.size)
    if np.count_nonzero(const):
        lc = ln[const]
        out[const] = _sum_table(float(first_r[0]), lc)[lc]
    for r in rest:
        out[r] = x[st[r]:st[r] + ln[r]].sum()
    return out


_SUM_TABLES: BoundedMemo[float, np.ndarray] = BoundedMemo(CACHE_MAX)   # value → [np.full(m, value).sum() for m], NaN where not yet needed


def _sum_table(d: float, lengths: np.ndarray) -> np.ndarray:
    """A table t with t[m] = ``_sum(m, d)`` for every m in ``lengths`` (filled as lengths are asked for)."""
    t = _SUM_TABLES.get(d)
    top = int(np.maximum.reduce(lengths))
    if t is None or t.size <= top:
        old = t
        t = _SUM_TABLES.remember(d, np.full(max(top + 1, 64, 0 if old is None else 2 * old.size), np.nan))
        if old is not None:
            t[:old.size] = old
    miss = np.isnan(t[lengths])
    if np.count_nonzero(miss):
        for m in np.unique(lengths[miss]).tolist():
            t[m] = _sum(m, d)
    return t


def free_runs(dev, v: np.ndarray, dt: np.ndarray, icc: np.ndarray, grow: np.ndarray, starts: np.ndarray,
              ends: np.ndarray, g_out: np.ndarray, goff_out: np.ndarray) -> int:
    """Apply the runs ``starts[i]:ends[i]`` of ``dev`` (no drift filament: gd_p = 0) in order while none of
    them switches: relaxation where ``grow[i]`` is False, free growth where it is True. Writes the bridge and
    the leakage of each applied segment to g_out/goff_out and the device's gv/age_s/on; returns how many runs
    it applied. The run after them (if any) reaches its current target inside it: the caller's."""
    p = dev.p
    lo, hi = int(starts[0]), int(ends[-1])
    st, ln = starts - lo, ends - starts
    vv, dd = v[lo:hi], dt[lo:hi]
    gseg = np.repeat(grow, ln)
    goff = dev.g_off_eff                       # fixed until an event (c2c factor, wear counts)
    gb = p.g_b_s
    w = dd.copy()                              # per-segment exponent before the sum: dt (relax) or k·dt (growth)
    gi = np.flatnonzero(gseg)
    vg = vv[gi]
    if gi.size:
        w[gi] = kn.rate(vg, p.v_k_v, p.tau_g1_s, dev.growth_factor()) * dd[gi]
    cs = seg_cumsum(w, st, ln)
    arg = -cs
    rl = np.flatnonzero(~gseg)
    arg[rl] /= p.tau_v_s * dev.k_tau          # _relax: exp(−tc/(τ_v·k_τ)); _run_grow: exp(−cumsum(k·dt))
    e = np.exp(arg)
    last = ends - 1 - lo
    e_end = e[last].tolist()
    grow_l = grow.tolist()
    r_grow = np.flatnonzero(grow)
    ioff = kn.i_off(goff, p.v_nl_v, vg) if gi.size else np.empty(0)
    v_end, io_end = np.zeros(grow.size), np.zeros(grow.size)
    target = np.zeros(grow.size)
    if r_grow.size:
        v_end[r_grow] = vv[last[r_grow]]
        io_end[r_grow] = kn.i_off(goff, p.v_nl_v, v_end[r_grow])
        c = icc[starts[r_grow]]
        target[r_grow] = np.where(c > p.i_lat_a, p.i_lat_a, c)
    t_seg = np.repeat(target[r_grow], ln[r_grow])            # = np.repeat(target, ln)[gi]
    # the age after each run: _run_grow's + dt[:n].sum(), _relax's + tc[-1]
    inc = np.where(grow, run_sums(dd, st, ln, grow), cs[last]).tolist()
    v_end_l, io_end_l, target_l = v_end.tolist(), io_end.tolist(), target.tolist()

    x, age, on0 = dev.gv, dev.age_s, dev.on
    on = on0
    lim, stable = OFF_FRACTION * dev._g_last, dev.stable
    n_runs = grow.size
    x0, a0 = [0.0] * n_runs, [0.0] * n_runs    # bridge and age at each run's start (= the last one's end)
    stop = off = n_runs                        # off: the run that turned the device OFF
    for r, (gr, ee, dd_r, ve, io, tg) in enumerate(zip(grow_l, e_end, inc, v_end_l, io_end_l, target_l)):
        x0[r], a0[r] = x, age                  # the bridge at each run's start: the run-by-run loop's floats
        if gr:
            y = gb - (gb - x) * ee
            if (y + 0.0) * ve + io >= tg:
                stop = r                       # reaches its target at its end (free growth is monotone)
                break
            x, age = y, age + dd_r
        else:
            x, age = x * ee, age + dd_r
            if on and x < lim and not stable:
                on, off = False, r
    if stop == 0:
        return 0
    m = int(ends[stop - 1]) - lo
    xs = np.repeat(np.array(x0[:stop]), ln[:stop])
    g = xs * e[:m]
    if gi.size:
        ng = int(np.searchsorted(gi, m))       # gi[:ng] = gi[gi < m] (gi ascending)
        gg = gi[:ng]
        g_gr = gb - (gb - xs[gg]) * e[gg]
        g[gg] = g_gr
        # a segment inside a run that reaches its target before the run's end (a non-monotone V): that run is
        # the caller's, the runs before it are applied
        hit = (g_gr + 0.0) * vg[:ng] + ioff[:ng] >= t_seg[:ng]
        if np.count_nonzero(hit):
            r_hit = int(np.searchsorted(st, gg[int(np.argmax(hit))], side="right")) - 1
            if r_hit == 0:
                return 0
            stop, m = r_hit, int(st[r_hit])
    g_out[lo:lo + m] = g[:m]
    goff_out[lo:lo + m] = goff
    if stop < n_runs:                          # the end of run stop − 1 is the start of run stop
        dev.gv, dev.age_s, dev.on = x0[stop], a0[stop], on0 and stop - 1 < off
    else:
        dev.gv, dev.age_s, dev.on = x, age, on
    return stop
