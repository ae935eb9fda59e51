"""The batched runs of ``Memristor.apply_segments`` (sim_backend/model/runs.py) against the run-by-run loop.

The spike-train campaign's lists (protocols/spike_train.py: 0 V rests, 1 V / 20 ms spikes, −0.5 V reads at
1 µA on a 1/600 s grid) go through ``runs.free_runs``; ``batch_runs = False`` is the reference (one
``_relax``/``_run_grow`` per run, the code the batched path replaced). Both must give the same currents,
voltages and compliance flags (≤ 1e-12 relative), the same generator position and the same state.
"""

from __future__ import annotations

import numpy as np
import pytest

from labrc.engine.messages import ListSweep
from protocols import SpikeTrain
from sim_backend.model import Die, runs

N_LISTS = 2      # lists per device (6 patterns each)


def campaign_lists(device: int, spike_v: float) -> list[np.ndarray]:
    """The first source-voltage lists the campaign sends to ``device`` (its block plans, not re-written)."""
    proto = SpikeTrain.from_options(None, {"campaign": "true", "cycles": "12", "devices": "3",
                                           "spike_v": str(spike_v)})
    out = []
    for spec in [b for b in proto.blocks() if b[0] == device][:N_LISTS]:
        plan = proto.block(spec, {})
        msg = next(plan)
        while not isinstance(msg, ListSweep):
            msg = next(plan)
        plan.close()
        out.append(msg.voltages_v)
    return out


def _apply(preset: str, k: int, waves: list[np.ndarray], batch: bool, worn: str | None):
    dev = Die(3, preset, seed=0).device(k)
    dev.batch_runs = batch
    if worn == "97%":
        dev.set_state({**dev.get_state(), "n_vol": int(0.97 * dev.params["n_fail_vol"])})
    elif worn == "failing":           # wears out (stuck OFF) inside the first list
        dev.set_state({**dev.get_state(), "n_vol": dev.params["n_fail_vol"] - 20})
    dt = 1 / 600
    return [dev.apply_segments(w, np.full(w.size, dt), 1e-6) for w in waves], dev


@pytest.mark.parametrize("preset,spike_v,worn", [
    ("OGB-Ag", 1.0, None),        # the campaign: no spike reaches compliance, every list in one batch
    ("OGB-Ag", 1.0, "97%"),       # the same near the end of life (wear: slower growth, leakier HRS)
    ("OGB-Ag", 1.5, None),        # spikes that switch: c2c draws, counts and creep between the batches
    ("OGB-Ag", 1.5, "failing"),   # the volatile wear-out inside a list: spikes stop growing the bridge
    ("DDAB-Ag", 1.0, None),       # falls non-volatile (stuck ON, a drift filament): run by run from there
])
def test_campaign_lists_batched_equal_the_run_by_run_loop(preset, spike_v, worn, monkeypatch):
    calls = []
    free_runs = runs.free_runs
    monkeypatch.setattr("sim_backend.model.device.free_runs", lambda *a: calls.append(1) or free_runs(*a))
    for k in range(3):
        waves = campaign_lists(k, spike_v)
        assert all(w.size == 3960 for w in waves)
        (ra, a), (rb, b) = _apply(preset, k, waves, True, worn), _apply(preset, k, waves, False, worn)
        for x, y in zip(ra, rb):
            for f in ("i_a", "v_dev_v"):
                assert np.allclose(getattr(x, f), getattr(y, f), rtol=1e-12, atol=0), (k, f)
            assert np.array_equal(x.compliance, y.compliance)
        sa, sb = a.get_state(), b.get_state()
        assert sa.pop("rng") == sb.pop("rng")
        for key in sa:
            assert sa[key] == pytest.approx(sb[key], rel=1e-12, abs=0) if isinstance(sa[key], float) \
                else sa[key] == sb[key], (k, key)
        if spike_v > 1.0:
            assert a.cycle_counts["volatile"] > (0 if worn is None else 19)
        if worn == "failing":
            assert a.failed == "stuck_off"
        if preset == "DDAB-Ag":
            assert a.failed == "stuck_on" and a.gd_p > 0
    assert calls                   # the batched path was taken


def test_within_run_sums_are_numpys_own():
    """seg_cumsum and run_sums give np.cumsum / ndarray.sum of each run bit for bit: runs of one value (the
    prefix tables), of other values and of many distinct values (np.cumsum per run)."""
    rng = np.random.default_rng(5)
    ln = rng.integers(1, 40, 300)
    st = np.r_[0, np.cumsum(ln)[:-1]]
    for n_values in (2, 5, 50):
        vals = rng.random(n_values)[rng.integers(0, n_values, ln.size)]
        x = np.repeat(vals, ln)
        x[st[::7]] *= 1.5                     # every seventh run is not of one value
        want = rng.random(ln.size) < 0.5
        cs, sums = runs.seg_cumsum(x, st, ln), runs.run_sums(x, st, ln, want)
        for i, (a, n) in enumerate(zip(st.tolist(), ln.tolist())):
            assert np.array_equal(cs[a:a + n], np.cumsum(x[a:a + n]))
            assert sums[i] == (x[a:a + n].sum() if want[i] else 0.0)


def test_triangle_pulses_that_switch_at_their_peak_equal_the_run_by_run_loop():
    """Triangular 0 → 2 → 0 V pulses at 1 µA: inside a growth run V rises and falls, so a run can reach
    compliance at its peak and leave it before its end (the batch must see the hit inside the run), and
    every growth run has its own values (no prefix table)."""
    tri = np.r_[np.linspace(0.0, 2.0, 9), np.linspace(2.0, 0.0, 9)[1:], np.zeros(12)]
    v, dt = np.tile(tri, 30), np.full(tri.size * 30, 1e-3)
    out = []
    for batch in (True, False):
        dev = Die(2, seed=4).device(1)
        dev.batch_runs = batch
        out.append(([dev.apply_segments(v, dt, 1e-6) for _ in range(2)], dev.get_state()))
    (ra, sa), (rb, sb) = out
    assert any(r.compliance.any() for r in ra) and sa["n_vol"] > 0
    for x, y in zip(ra, rb):
        assert np.allclose(x.i_a, y.i_a, rtol=1e-12, atol=0) and np.array_equal(x.compliance, y.compliance)
    assert sa == sb


def test_wear_factors_from_a_chunk_equal_the_per_list_computation():
    """cycles._wear_factors slices factors computed for WEAR_CHUNK counts: bit for bit the numbers the per-list
    wear_next computation gives, at any offset into the chunk, across chunks and after the count moves back."""
    from sim_backend.model import cycles

    dev = Die(1, seed=3).device(0)
    pre = dev._pre
    for n, count in [(0, 409), (409, 409), (4000, 409), (1_000_000, 4096 + 7), (5, 2), (int(0.97 * dev.p.n_fail_vol), 409)]:
        dev._n_vol = n
        hrs, grw = cycles._wear_factors(dev, count)
        wear = dev.wear_next(False, count)
        w_nv = float(dev.wear(True))
        assert np.array_equal(hrs, 1.0 + pre.wear_hrs * np.maximum(wear, w_nv))
        assert np.array_equal(grw, 1.0 - pre.wear_grow * wear)
        assert not hrs.flags.writeable


def test_wear_factors_follow_a_change_of_the_nonvolatile_count_inside_a_chunk():
    """The chunk of factors is keyed by the non-volatile wear too: a SET between two volatile lists (the same
    volatile count range, so the same chunk) must give the factors of the new non-volatile wear, not the
    cached ones."""
    from sim_backend.model import cycles

    dev = Die(1, seed=3).device(0)
    pre = dev._pre
    dev._n_vol = 1000
    first, _ = cycles._wear_factors(dev, 409)
    first = first.copy()
    dev._n_nv = int(0.9 * dev.p.n_fail_nv)         # e.g. a reconfiguration's non-volatile levels
    hrs, grw = cycles._wear_factors(dev, 409)
    w_nv = float(dev.wear(True))
    assert w_nv > 0.0 and not np.array_equal(hrs, first)      # the wear changed what the HRS leakage is
    assert np.array_equal(hrs, 1.0 + pre.wear_hrs * np.maximum(dev.wear_next(False, 409), w_nv))
    assert np.array_equal(grw, 1.0 - pre.wear_grow * dev.wear_next(False, 409))


def test_period_of_a_drive_equals_the_whole_list_definition():
    """drive_period (candidates rejected on samples first) against the definition: the smallest divisor k ≤ k_max
    of the length with v, dt and icc all k-periodic."""
    from sim_backend.drive_period import drive_period

    def reference(v, dt, icc, k_max=64):
        n = v.size
        for k in range(1, min(k_max, n // 2) + 1):
            if n % k == 0 and np.array_equal(v[k:], v[:-k]) and np.array_equal(dt[k:], dt[:-k]) \
                    and np.array_equal(icc[k:], icc[:-k]):
                return k
        return 0

    rng = np.random.default_rng(7)
    for _ in range(3000):
        k, reps = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        v = np.tile(rng.integers(0, 3, k).astype(float), reps)
        dt = np.tile(rng.integers(1, 3, k).astype(float), reps)
        icc = np.ones(v.size)
        for a in (v, dt, icc):
            if rng.random() < 0.2 and a.size > 1:
                a[rng.integers(0, a.size)] += 1.0
        k_max = int(rng.integers(1, 70))
        assert drive_period(v, dt, icc, k_max) == reference(v, dt, icc, k_max)
    for lst in campaign_lists(0, 1.0):
        dt, icc = np.full(lst.size, 1 / 600), np.full(lst.size, 1e-6)
        assert drive_period(lst, dt, icc) == reference(lst, dt, icc)
    endurance = np.tile([0.1, 2.0, 0, 0, 0, 0, 0], 408)
    assert drive_period(endurance, np.full(endurance.size, 0.005), np.full(endurance.size, 1e-6)) == 7


def test_idle_of_a_bridge_only_device_equals_relax_and_turns_off_by_the_same_rule():
    """Memristor.idle takes _relax_bridge (no arrays) for a device without a drift filament: the same state
    as _relax over the same segment — bridge, age and the ON flag, on both sides of the OFF threshold."""
    base = Die(1, seed=2).device(0)
    base.apply_segments(np.array([0.1, 2.0]), np.full(2, 5e-3), 1e-6)       # a volatile write: ON, a bridge
    state = base.get_state()
    assert base.on and base.gd_p <= 0.0
    tau = base.p.tau_v_s * base.k_tau
    seen = set()
    for dt in (0.1 * tau, 1.0 * tau, 1.3 * tau, 5.0 * tau):                 # 0.3 of g_last: 1.2 tau at most
        a, b = Die(1, seed=2).device(0), Die(1, seed=2).device(0)
        a.set_state(state)
        b.set_state(state)
        a.idle(dt)
        b._relax(np.array([dt]))
        assert (a.gv, a.age_s, a.on) == (b.gv, b.age_s, b.on), dt
        seen.add(a.on)
    assert seen == {True, False}                                  # both sides of the OFF rule were reached
