"""Reservoir readouts trained on acquired spike-train runs, beside device-free baselines (labrc.reservoir)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_cli import labrc

from labrc.config import Config
from labrc.reservoir import (
    BASELINES,
    DEFAULT_ICC_MODEL,
    linear_ceiling,
    load_campaign,
    read_results,
    stratified_split,
    train_readout,
)
from labrc.runner import run_protocol
from labrc.store import RunReader
from protocols import get_protocol
from protocols.patterns import spike_mask


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("reservoir")
    cfg = Config.model_validate({"data": {"dir": str(d / "runs")}})

    def run(name: str, **values) -> Path:
        out = run_protocol(cfg, get_protocol(name).from_options(None, values), progress=False, echo=lambda m: None)
        assert out.status == "completed", out.reason
        return out.path

    (d / "labrc.toml").write_text('[data]\ndir = "runs"\n')
    return {"spike": run("spike-train", campaign=True, cycles=10, devices=4),
            "icc": run("icc-set", n_levels=4, repeats=2), "dir": d}


def test_the_split_takes_a_tenth_of_every_device_and_class():
    y = np.repeat(np.arange(4), 50).astype(np.int64)
    group = np.tile(np.repeat([1, 2], 25), 4).astype(np.int64)
    tr, te = stratified_split(y, group, 0.1, np.random.default_rng(0))
    assert np.intersect1d(tr, te).size == 0 and tr.size + te.size == 200
    for k in range(4):
        for gr in (1, 2):
            m = (y == k) & (group == gr)
            assert np.sum(m[te]) == 2 and np.sum(m[tr]) == 23        # round(0.1 × 25) of each stratum
    _, te2 = stratified_split(y, group, 0.1, np.random.default_rng(1))
    assert not np.array_equal(te, te2)                                # another seed, another split


def test_the_memoryless_input_is_the_stimulus_at_the_read_slots(runs):
    c = load_campaign([runs["spike"]])
    with RunReader(runs["spike"]) as r:
        s, prm = r.stream("patterns"), r.metadata["parameters"]
    mask = spike_mask(s["onsets"], 630, prm["dt_s"], prm["spike_width_s"])
    j = 5
    slot_end = np.round(s["node_t"][j] / prm["dt_s"]).astype(int)        # a read slot is the 3 points before
    expect = np.array([mask[j, e - 3:e].mean() for e in slot_end])
    np.testing.assert_allclose(c.baselines["memoryless"][j], expect)
    np.testing.assert_allclose(c.baselines["stimulus"][j], mask[j].reshape(30, 21).mean(axis=1))
    assert c.baselines["stimulus_waveform"].shape == (160, 630)
    assert set(np.unique(c.group)) == {1, 2, 3, 4}                       # run 0, devices 0..3


def test_device_readouts_and_baselines_over_three_seeds(runs):
    r = train_readout([runs["spike"]], seed=0)
    assert r.seeds == [0, 1, 2] and r.n_patterns == 160 and r.n_test == 16 and r.n_nodes == 30
    for name, m in r.readouts().items():
        assert len(m.train_acc) == len(m.test_acc) == 5 and len(m.test_acc_per_seed) == 3, name
        assert np.asarray(m.confusion).sum() == 3 * r.n_test, name
        np.testing.assert_allclose(np.asarray(m.confusion_normalised).sum(axis=1), 1.0)
        assert m.test_acc_mean > 0.5, name                                # chance is 25 %
    assert r.memoryless.n_inputs == 31 and r.stimulus_waveform.n_inputs == 631
    assert r.icc_model["source"] == "default"
    d = r.to_dict()
    assert set(d["device_vs_baselines"]) == set(BASELINES)
    assert all(c["verdict"] in ("adds", "loses", "no difference resolved") for c in r.comparisons)
    p = r.icc.programming                                                # every programming counted per device
    assert p["devices"] == 31 * 4 * 2 and p["events_per_device_max"] >= p["events_per_device_median"] > 0
    assert p["nv_endurance_cycles"] == 5655 and p["within_endurance"] == (p["events_per_device_max"] <= 5655)
    assert r.icc.updates == round(p["events_total_mean"] * 3)


def test_linear_ceiling_separates_separable_classes_and_not_shuffled_labels():
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(4), 200)
    x = rng.normal(0.0, 1.0, (800, 5)) + 3.0 * np.eye(4, 5)[y]          # four well-separated clusters
    tr, te = np.arange(800)[::2], np.arange(800)[1::2]
    assert linear_ceiling(x, y, tr, te)["test"] > 0.9
    assert linear_ceiling(x, rng.permutation(y), tr, te)["test"] < 0.4    # chance is 25 %


def test_results_carry_feature_diagnostics_and_the_choices_the_methods_leave_open(runs):
    r = train_readout([runs["spike"]], seed=0, n_seeds=1)
    d = r.diagnostics
    with RunReader(runs["spike"]) as rr:
        s = rr.stream("patterns")
    assert d["reads_in_compliance"] == float(s["node_comp"].mean())
    assert d["reads_relaxed_below_50nS"] == float(np.mean(s["node_g"] < 50e-9))
    assert d["node_g_quantiles_s"]["max"] == float(s["node_g"].max())
    assert set(d["linear_ceiling_first_seed"]) == {"device", "memoryless", "stimulus"}
    for k in ("node_normalisation", "eta_float", "eta_icc", "icc_g_line", "split"):
        assert "Methods" in r.decisions[k], k


def test_icc_mode_uses_the_fit_of_an_icc_set_run(runs):
    r = train_readout(runs["spike"], icc_run=runs["icc"], seed=1, n_seeds=1, baselines=False)
    assert r.icc_model["source"] == str(runs["icc"]) and r.memoryless is None
    assert 0.5 < r.icc_model["a_s_per_a"] / DEFAULT_ICC_MODEL.a_s_per_a < 2    # G ≈ Icc / 0.29 V on the simulator
    assert r.icc.train_acc[-1] > 0.5


def test_cli_writes_results_with_the_run_ids_and_figures_and_refuses_a_non_spike_run(runs):
    d = runs["dir"]
    p = labrc("reservoir", str(runs["spike"]), "--json", "--epochs", "2", "--seeds", "2", "-o", str(d / "res.h5"),
              "--figures", str(d / "figs"), cwd=d)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("float_", "icc", "memoryless", "stimulus", "stimulus_waveform", "device_vs_baselines"):
        assert key in out, key
    assert "memoryless" in out["device_vs_baselines"]["memoryless"]
    assert len(out["memoryless"]["test_acc"]) == 2 and out["seeds"] == [0, 1]
    with RunReader(runs["spike"]) as r:
        run_id = r.run_id
    with h5py.File(d / "res.h5", "r") as f:
        assert json.loads(f.attrs["input_run_ids"]) == [run_id]
        assert f["memoryless/test_acc"].shape == (2, 2) and f["icc/confusion"].shape == (4, 4)
        assert "eta_float" in json.loads(f.attrs["decisions"]) and "reads_in_compliance" in json.loads(f.attrs["diagnostics"])
    assert read_results(d / "res.h5")["memoryless"]["test_acc_mean"] == out["memoryless"]["test_acc_mean"]
    for png in out["figures"]:
        assert Path(png).read_bytes()[:4] == b"\x89PNG" and Path(png).stat().st_size > 10_000
    bad = labrc("reservoir", str(runs["icc"]), cwd=d)
    assert bad.returncode == 2 and "not a spike-train run" in bad.stderr
