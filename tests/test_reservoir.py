"""Reservoir readout trained on acquired spike-train runs (float64 delta rule and Icc-programmed pairs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from labrc.config import Config
from labrc.reservoir import DEFAULT_ICC_MODEL, reservoir_command, train_readout
from labrc.runner import run_protocol
from protocols import get_protocol


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("reservoir")
    cfg = Config.model_validate({"data": {"dir": str(d)}})

    def run(name: str, **values) -> Path:
        out = run_protocol(cfg, get_protocol(name).from_options(None, values), progress=False, echo=lambda m: None)
        assert out.status == "completed", out.reason
        return out.path

    return {"spike": run("spike-train", campaign=True, cycles=10, devices=4, random_phase=True),
            "icc": run("icc-set", n_levels=4, repeats=2)}


def test_both_readouts_classify_well_above_chance(runs):
    r = train_readout([runs["spike"]], seed=0)
    assert r.n_patterns == 160 and r.n_test == 16 and r.n_nodes == 30
    for m in (r.float_, r.icc):
        assert len(m.train_acc) == len(m.test_acc) == 5
        assert m.train_acc[-1] > 0.6 and m.test_acc[-1] > 0.5          # chance is 25 %
        cm = np.asarray(m.confusion)
        assert cm.shape == (4, 4) and cm.sum() == r.n_test
    assert r.icc_model["source"] == "default" and r.icc.updates > 0


def test_icc_mode_uses_the_fit_of_an_icc_set_run(runs):
    r = train_readout(runs["spike"], icc_run=runs["icc"], seed=1)
    assert r.icc_model["source"] == str(runs["icc"])
    assert 0.5 < r.icc_model["a_s_per_a"] / DEFAULT_ICC_MODEL.a_s_per_a < 2    # G ≈ Icc / 0.29 V on the simulator
    assert r.icc.train_acc[-1] > 0.6


def test_cli_command_prints_accuracy_and_refuses_a_non_spike_run(runs):
    res = CliRunner().invoke(reservoir_command, [str(runs["spike"]), "--json", "--epochs", "2"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert len(d["float_"]["test_acc"]) == 2 and len(d["icc"]["confusion"]) == 4
    bad = CliRunner().invoke(reservoir_command, [str(runs["icc"])])
    assert bad.exit_code == 2 and "not a spike-train run" in bad.output
