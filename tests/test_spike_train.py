"""Spike-train stimulation: the Methods' pattern statistics, runs on the simulator, campaign, resume."""

from __future__ import annotations

import numpy as np

from labrc.config import Config
from labrc.runner import StopFlag, resume_run, run_protocol
from labrc.store import RunReader
from protocols import get_protocol
from protocols.patterns import CLASSES, generate, spike_mask
from protocols.spike_train import SpikeTrain
from test_cli import labrc, run_file, station  # noqa: F401  (fixture)

W = 0.020


def _trains(cls: str, n: int = 2000, **kw) -> list[np.ndarray]:
    on = generate(cls, np.random.default_rng(1), n, width_s=W, **kw)
    return [r[~np.isnan(r)] for r in on]


def test_bursting_groups_of_4_at_5ms_with_75_to_125ms_between():
    counts = set()
    for t in _trains("bursting"):
        gaps = np.diff(t) - W                          # gap mode: spike end → next onset
        assert t[0] == 0 and len(t) % 4 == 0
        counts.add(len(t) // 4)
        g = gaps.reshape(-1)
        within = np.ones(len(g), bool)
        within[3::4] = False
        assert np.allclose(g[within], 5e-3)
        assert np.all((g[~within] >= 0.075) & (g[~within] <= 0.125))
    assert counts == {4, 5}
    t = generate("bursting", np.random.default_rng(2), 5, width_s=W, isi_mode="onset")[0]
    assert np.allclose(np.diff(t[:4]), 5e-3)           # onset mode: literally 5 ms onset to onset


def test_adapting_starts_at_5ms_and_grows_50_percent_with_5_percent_sd():
    ratios, first = [], []
    for t in _trains("adapting"):
        g = np.diff(t) - W
        first.append(g[0])
        ratios.append(g[1:] / g[:-1])
    r = np.concatenate(ratios)
    assert np.allclose(first, 5e-3)
    assert abs(r.mean() - 1.5) < 0.01 and abs(r.std() / 1.5 - 0.05) < 0.005


def test_tonic_isi_70ms_with_5_percent_sd_and_irregular_on_the_60ms_grid():
    g = np.concatenate([np.diff(t) - W for t in _trains("tonic")])
    assert abs(g.mean() - 0.070) < 0.0005 and abs(g.std() / 0.070 - 0.05) < 0.005
    tr = _trains("irregular")
    on = np.concatenate(tr)
    assert np.allclose(on / 0.06, np.round(on / 0.06)) and on.max() < 1.05
    assert abs(np.mean([len(t) for t in tr]) / 18 - 0.5) < 0.02      # 18 segments, p = 0.5
    assert generate("tonic", np.random.default_rng(3), 4, window_s=1.05).shape == (4, 64)


def test_spike_mask_merges_overlaps_and_clips_at_the_window_end():
    m = spike_mask(np.array([[0.0, 0.005, 1.04, np.nan]]), 630, 1 / 600, 0.02)[0]
    assert m[:15].all() and not m[15] and m[624:].all() and m.sum() == 15 + 6


def test_bad_input_is_refused_naming_the_parameter(station):  # noqa: F811
    for arg, word in (("pattern_class=chirp", "pattern_class"), ("spike_width_s=0.001", "spike_width_s"),
                      ("cycles=0", "cycles"), ("spike_v=9", "spike_v"), ("icc_a=5e-8", "icc_a")):
        p = labrc("run", "spike-train", "--param", arg, "--dry-run", cwd=station)
        assert p.returncode == 2 and word in p.stderr, (arg, p.stderr)


def test_cli_run_has_30_nodes_and_a_full_trace_and_bursting_accumulates(station):  # noqa: F811
    p = labrc("run", "spike-train", "--cycles", "2", "--no-progress", "--plot", cwd=station)
    assert p.returncode == 0, p.stderr
    with RunReader(run_file(station)) as r:
        assert r.status == "completed"
        s, prm, units = r.stream("patterns"), r.metadata["parameters"], r.units("patterns")
    assert (run_file(station).with_suffix(".png")).exists()
    assert prm["isi_mode"] == "gap" and prm["overlap"] == "clip" and prm["spike_width_s"] == 0.02
    assert units["node_g"] == "S" and units["trace"] == "A"
    assert s["node_g"].shape == (8, 30) and s["trace"].shape == (8, 630)
    assert sorted(s["cls"].tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert np.all(s["n_spikes"] == np.sum(~np.isnan(s["onsets"]), axis=1))
    # nodes well above the HRS (≈ 10 nS) after spikes, else OFF; model v2: 1 V spikes grow the bridge gradually,
    # a node reads 0.1–0.4 µS after a burst (model v1 saturated every spike at the 1 µA compliance, ≈ 3 µS)
    assert s["node_g"].max() > 1e-7 and np.median(s["node_g"]) < 5e-8
    dt = prm["dt_s"]

    def onset_currents(j: int) -> np.ndarray:
        k = np.round(s["onsets"][j][~np.isnan(s["onsets"][j])] / dt).astype(int)
        return s["trace"][j][k]                                           # first point of each spike

    for j in np.flatnonzero(s["cls"] == 0):                               # bursting
        i0 = onset_currents(j).reshape(-1, 4)
        assert np.median(i0[:, 1:]) > 1.3 * np.median(i0[:, 0])          # accumulates within a group
        # decays between groups: every node read inside a 75–125 ms pause is back near OFF
        on = s["onsets"][j][~np.isnan(s["onsets"][j])].reshape(-1, 4)
        t_node = s["node_t"][j]
        for a, b in zip(on[:-1, 3] + 0.02 + 0.03, on[1:, 0]):
            m = (t_node - 0.005 > a) & (t_node < b)
            assert np.all(np.abs(s["node_i"][j][m]) < 3e-8)
    for j in np.flatnonzero(s["cls"] == 2):                               # tonic: no accumulation
        i0 = onset_currents(j)
        assert np.median(i0[1:]) < 1.3 * i0[0] + 0.05e-6


def _cfg(tmp_path) -> Config:
    return Config.model_validate({"data": {"dir": str(tmp_path)}})


def _campaign(**kw) -> SpikeTrain:
    return SpikeTrain.from_options(None, dict(campaign=True, cycles=2, devices=2, **kw))


def test_campaign_2_devices_x_2_cycles_x_4_classes_and_exact_resume(tmp_path):
    full = run_protocol(_cfg(tmp_path / "a"), _campaign(), progress=False, echo=lambda m: None)
    with RunReader(full.path) as r:
        ref = r.stream("patterns")
    assert full.status == "completed" and ref["seq"].size == 16
    combos = {(d, c, k) for d, c, k in zip(ref["device"], ref["cycle"], ref["cls"])}
    assert combos == {(d, c, k) for d in (0, 1) for c in (0, 1) for k in range(4)}
    a, b = ref["device"] == 0, ref["device"] == 1
    assert not np.allclose(ref["trace"][a], ref["trace"][b])                # another device, another response
    assert not np.array_equal(ref["onsets"][a], ref["onsets"][b])          # and other trains

    stop = StopFlag()

    class StopAfterFirstBlock(SpikeTrain):
        runs_of_block0 = 0

        def block(self, spec, carry):
            out = yield from super().block(spec, carry)
            if spec == self.blocks()[0]:
                type(self).runs_of_block0 += 1
                if type(self).runs_of_block0 == 2:   # the 1st is the pre-flight (planning station), the 2nd real
                    stop.set("test stop")          # the engine stops before the next block's first message
            return out

    part = run_protocol(_cfg(tmp_path / "b"), StopAfterFirstBlock(_campaign().params), progress=False,
                        stop=stop, echo=lambda m: None)
    assert part.status == "aborted"
    with RunReader(part.path) as r:
        assert r.n_rows("patterns") == 6
    out = resume_run(part.path.parent, progress=False, echo=lambda m: None)
    assert out.status == "completed"
    with RunReader(out.path) as r:
        got = r.stream("patterns")
    for c in ("seq", "device", "cycle", "cls", "node_g", "trace"):
        np.testing.assert_array_equal(np.nan_to_num(got[c]), np.nan_to_num(ref[c]), err_msg=c)


def test_plan_and_registry():
    proto = get_protocol("spike-train").from_options("paper")
    plan = proto.plan()
    assert plan.n_points == 19_900 and proto.per_list == 6 and abs(plan.eta_s - 19_900 * 1.1) < 1
    assert len(CLASSES) == 4


def test_defer_moves_reads_off_spikes():
    proto = SpikeTrain.from_options(None, dict(overlap="defer"))
    on = generate("bursting", np.random.default_rng(0), 3, width_s=0.02)
    v, slots = proto.waveforms(on)
    assert np.all(np.diff(slots, axis=1) >= 3)
    idx = slots[:, :, None] + np.arange(3)
    spikes = spike_mask(on, 630, 1 / 600, 0.02)
    assert not np.take_along_axis(spikes, idx.reshape(3, -1), axis=1).any()
    assert np.all(np.take_along_axis(v, idx.reshape(3, -1), axis=1) == -0.5)


def test_a_deferred_read_run_stores_the_moved_read_times_and_reads_off_the_spikes(tmp_path):
    """overlap="defer" through the engine, the simulator and the store: the stored node times are the moved
    slots (some later than the fixed grid, none earlier, in order), and no stored read slot covers one of
    its pattern's spike points, except a read left no later free slot: the window's last one."""
    import labrc

    r = labrc.run("spike-train", params={"overlap": "defer", "cycles": 3}, data_dir=tmp_path)
    assert r.status == "completed", r.reason
    proto = SpikeTrain.from_options(None, {"overlap": "defer"})
    g, p = proto.grid(), proto.params
    with labrc.open_run(r.path) as run:
        s = run.stream("patterns")
    fixed = ((proto.read_slots() + g.read_points) * p.dt_s).astype(np.float32)
    assert s["node_t"].shape == (12, p.n_nodes)
    assert (s["node_t"] >= fixed).all() and (s["node_t"] > fixed).any()
    assert (np.diff(s["node_t"], axis=1) > 0).all()
    slots = np.rint(s["node_t"] / p.dt_s).astype(int) - g.read_points        # first point of each read slot
    spikes = spike_mask(s["onsets"], g.window, p.dt_s, p.spike_width_s)
    idx = slots[:, :, None] + np.arange(g.read_points)
    on_spike = np.take_along_axis(spikes, idx.reshape(len(slots), -1), axis=1).reshape(idx.shape).any(axis=2)
    assert (slots[on_spike] == g.window - g.read_points).all()                 # measured: 1 of 360 reads


def test_every_class_starts_at_a_random_phase_of_one_read_period_by_default():
    """Default phase (protocols.patterns): each train shifted by U(0, 35 ms), Irregular's grid included; off = t 0."""
    proto = SpikeTrain.from_options(None, {})
    assert proto.params.random_phase and proto.params.phase_span_s == 0.035
    for k, cls in enumerate(CLASSES):
        first = np.array([proto.stimulus(0, c, k)[0] for c in range(400)])
        if cls == "irregular":                                   # first spike on the grid k·60 ms + phase
            first = np.mod(first, 0.060)
        assert 0 <= first.min() < 0.003 and 0.032 < first.max() < 0.035, cls
        assert abs(first.mean() - 0.0175) < 0.003, cls          # uniform: mean half the span
    locked = SpikeTrain.from_options(None, {"random_phase": "false"})
    assert all(locked.stimulus(0, c, 0)[0] == 0.0 for c in range(20))


def test_a_campaign_without_cycles_is_the_papers_19900_patterns():
    assert SpikeTrain.from_options(None, {"campaign": "true"}).plan().n_points == 25 * 199 * 4
    assert SpikeTrain.from_options(None, {"campaign": "true", "cycles": "3"}).plan().n_points == 25 * 3 * 4
    assert SpikeTrain.from_options(None, {}).plan().n_points == 4                      # a single run: 1 cycle


def test_reads_in_compliance_measure_the_conductance_with_the_measured_voltage(tmp_path):
    """The 1 µA write compliance clamps a −0.5 V read of anything above 2 µS; I/V_meas still measures its G.

    Calibration resistors under the probes: 100 kΩ (0.5 V would drive 5 µA: every read clamped) and 1 MΩ
    (0.5 µA: never clamped)."""
    def nodes(load: str, how: str) -> dict:
        cfg = Config.model_validate({"data": {"dir": str(tmp_path / f"{load}-{how}")}, "sim": {"load": load}})
        out = run_protocol(cfg, SpikeTrain.from_options(None, {"node_g_from": how}), progress=False,
                           echo=lambda m: None)
        with RunReader(out.path) as r:
            assert r.metadata["parameters"]["node_g_from"] == how
            return r.stream("patterns")

    s = nodes("resistor:1e5", "measured_v")
    assert s["node_comp"].all() and np.all(np.abs(s["node_i"]) <= 1.02e-6)        # the clamp is real ...
    np.testing.assert_allclose(s["node_v"], -0.1, rtol=0.02)                      # the SMU lowered V to I·R
    np.testing.assert_allclose(s["node_g"], 1e-5, rtol=0.02)                      # ... and G = 1/R is measured
    np.testing.assert_allclose(nodes("resistor:1e5", "programmed_v")["node_g"], 2e-6, rtol=0.02)  # the old ceiling
    s = nodes("resistor:1e6", "measured_v")
    assert not s["node_comp"].any()
    np.testing.assert_allclose(s["node_v"], -0.5, rtol=1e-3)
    np.testing.assert_allclose(s["node_g"], 1e-6, rtol=0.02)


def test_the_campaign_seeding_is_numpys_seedsequence_and_pcg64_bit_for_bit():
    """pcg64_states (SeedSequence + PCG64 seeding vectorized over patterns) against numpy itself, for small,
    32-bit-edge and 63-bit seeds; then a whole chunk of trains against one default_rng per pattern."""
    from protocols.seeding import entropy_words, pcg64_states
    rng = np.random.default_rng(0)
    for seed in (0, 1, 2**32 - 1, 2**32, 2**63 - 1):
        ent = [[seed, dev, int(c), int(k)] for dev, c, k in zip(rng.integers(0, 10_001, 64),
                                                                 rng.integers(0, 1_000_000, 64), rng.integers(0, 4, 64))]
        words = np.array([entropy_words(s) + [d, c, k] for s, d, c, k in ent], np.uint32)
        for (state, inc), e in zip(pcg64_states(words), ent):
            want = np.random.PCG64(np.random.SeedSequence(e)).state
            assert (state, inc) == (want["state"]["state"], want["state"]["inc"]), e
    for values in ({"seed": "12345678901234567"}, {"isi_mode": "onset", "random_phase": "false"}):
        proto = SpikeTrain.from_options(None, {"campaign": "true", "cycles": "7", **values})
        cyc, cls = np.repeat(np.arange(7), 4), np.tile(np.arange(4), 7)
        got = proto.stimuli(3, cyc, cls)
        want = np.stack([proto.stimulus(3, int(c), int(k)) for c, k in zip(cyc, cls)])
        assert np.array_equal(got.view(np.uint64), want.view(np.uint64))
