"""labrc sim fit: parameters planted in a simulated device are recovered from its runs, and the fitted device
re-run through labrc replay reproduces the runs it was fitted on.

The planted device is device 3 of a die whose preset carries the planted values (sim.params) with the
model's own device-to-device spreads, so the truth is that device's sampled parameters, which the run file
records (metadata backend.model.devices[3]); the c2c spreads are the preset's. Tolerances (seeded, so the
measured errors are fixed; each also within 3 σ of the fit's own uncertainty):

==========  ===============================  =========
parameter   truth                            tolerance
==========  ===============================  =========
v_c_v       v_c_v / g_set_factor of device   ± 3 %
g_off_s     g_off_s of device                ± 30 %
cc_g_set    planted 0.12                     ± 0.04
cc_hrs      planted 0.40                     ± 0.10
nu_1ms      nu_1ms of device                 ± 35 %
==========  ===============================  =========
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from labrc.cli import main
from labrc.config import load_config
from labrc.fit import FitError, check_replays, fit_runs, write_preset
from labrc.runner import run_protocol
from labrc.store import RunReader
from protocols import get_protocol

PLANT = {"v_c_v": 0.4, "g_off_s": 3e-8, "cc_g_set": 0.12, "cc_hrs": 0.4, "nu_1ms": 0.01}
DEVICE = 3
RUNS = {   # (protocol, parameters): one joint fit over four protocols
    "icc": ("icc-set", {"n_levels": 4, "repeats": 6, "step_v": 0.1}),
    "nv": ("nonvolatile-endurance", {"cycles": 40}),
    "ret": ("retention", {"t_min_s": 1, "t_max_s": 1e4, "n_reads": 8}),
    "iv": ("iv-sweep", {"v_max_v": 5, "v_min_v": -7, "icc_a": 1e-3, "step_v": 0.05, "repeats": 4}),
}
TOL = {"v_c_v": ("rel", 0.03), "g_off_s": ("rel", 0.30), "cc_g_set": ("abs", 0.04), "cc_hrs": ("abs", 0.10),
       "nu_1ms": ("rel", 0.35)}


def _run(cfg, name: str, params: dict) -> Path:
    out = run_protocol(cfg, get_protocol(name).from_options(None, {k: str(v) for k, v in params.items()}),
                       progress=False, echo=lambda m: None)
    assert out.status == "completed", out.reason
    return out.path


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[dict[str, Path], dict[str, float], Path]:
    d = tmp_path_factory.mktemp("planted")
    cfg = load_config(None, [f'data.dir="{d / "data"}"', f"sim.device={DEVICE}",
                             *[f"sim.params.{k}={v}" for k, v in PLANT.items()]])
    paths = {k: _run(cfg, name, prm) for k, (name, prm) in RUNS.items()}
    with RunReader(paths["icc"]) as r:
        dev = r.metadata["backend"]["model"]["devices"][DEVICE]
        assert r.metadata["backend"]["model"]["replaced"] == PLANT
    truth = {"v_c_v": dev["v_c_v"] / dev["g_set_factor"], "g_off_s": dev["g_off_s"], "cc_g_set": PLANT["cc_g_set"],
             "cc_hrs": PLANT["cc_hrs"], "nu_1ms": dev["nu_1ms"]}
    return paths, truth, d


def test_the_fit_recovers_the_planted_device_within_the_stated_tolerances(planted):
    paths, truth, _ = planted
    res = fit_runs(list(paths.values()))
    assert set(res.params) == set(TOL) and not res.fixed
    for k, (kind, tol) in TOL.items():
        err = res.params[k] - truth[k]
        assert abs(err) <= (tol * truth[k] if kind == "rel" else tol), (k, res.params[k], truth[k])
        assert abs(err) <= 3 * res.sigma[k], (k, err, res.sigma[k])
    assert res.chi2 / res.dof < 4
    assert set(res.per_run) == {p.parent.name.rsplit("_", 1)[1] for p in paths.values()}


def test_the_fitted_device_replayed_reproduces_every_run_it_was_fitted_on(planted, tmp_path):
    paths, _, _ = planted
    res = fit_runs(list(paths.values()))
    rows = check_replays(list(paths.values()), res, tmp_path)
    assert len(rows) >= 12 and all(r["status"] == "completed" for r in rows)
    assert max(abs(r["z"]) for r in rows) < 3, [(r["name"], round(r["z"], 2)) for r in rows]


def test_sim_fit_from_the_command_line_writes_a_preset_that_sim_preset_file_loads(planted, tmp_path):
    paths, _, _ = planted
    (tmp_path / "labrc.toml").write_text(f'[data]\ndir = "{tmp_path / "data"}"\n')
    out = tmp_path / "device.toml"
    runner = CliRunner()
    r = runner.invoke(main, ["--config", str(tmp_path / "labrc.toml"), "sim", "fit", *map(str, paths.values()),
                             "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["preset_file"] == str(out)
    preset = tomllib.loads(out.read_text())
    assert preset["preset"]["base"] == "OGB-Ag" and preset["params"]["sd_g_set"] == 0.0
    assert math.isclose(preset["params"]["v_c_v"], doc["params"]["v_c_v"])
    # the fitted device under the probes: [sim] preset_file, relative to the labrc.toml
    (tmp_path / "twin.toml").write_text(f'[data]\ndir = "{tmp_path / "twin"}"\n[sim]\npreset_file = "device.toml"\n')
    cfg = load_config(tmp_path / "twin.toml")
    twin = _run(cfg, "icc-set", {"n_levels": 3, "repeats": 2, "step_v": 0.1})
    with RunReader(twin) as t:
        assert t.metadata["backend"]["sim"]["preset_params"] == preset["params"]
        assert t.metadata["backend"]["model"]["preset_params"]["v_c_v"] == preset["params"]["v_c_v"]
        assert t.metadata["config"]["sim"]["preset_file"] == "device.toml"
    # labrc replay --preset-file puts it under any recorded run
    r = runner.invoke(main, ["--config", str(tmp_path / "labrc.toml"), "replay", str(paths["nv"]), "--preset-file",
                             str(out), "--no-progress"])
    assert r.exit_code == 0, r.output


def test_bad_input_is_one_line(planted, tmp_path):
    paths, _, d = planted
    cfg = load_config(None, [f'data.dir="{d / "vol"}"'])
    vol = _run(cfg, "volatile-endurance", {"cycles": 50})
    with pytest.raises(FitError, match="none of the runs carries a statistic"):
        fit_runs([vol])
    (tmp_path / "labrc.toml").write_text(f'[data]\ndir = "{tmp_path / "data"}"\n[sim]\npreset_file = "nope.toml"\n')
    (tmp_path / "bad.toml").write_text('[preset]\nbase = "OGB-Ag"\n[params]\nv_cc_v = 0.3\n')
    runner = CliRunner()
    for args in (["run", "icc-set", "--no-progress"], ["replay", str(paths["icc"]), "--preset-file", str(tmp_path / "bad.toml")],
                 ["sim", "fit", str(vol)], ["sim", "fit", str(tmp_path / "bad.toml")]):
        r = runner.invoke(main, ["--config", str(tmp_path / "labrc.toml"), *args])
        lines = r.output.strip().splitlines()
        assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (args, r.output, r.exception)
        assert len(lines) == 1 and lines[0].startswith("labrc: error: "), (args, r.output)
    with pytest.raises(ValueError, match="v_cc_v"):
        load_config(None, ['sim.params.v_cc_v=0.3'])
    res = fit_runs([paths["icc"]])                 # one protocol alone: what it cannot tell is said
    assert "nu_1ms" in res.fixed and "not identifiable" in res.table()
    write_preset(res, tmp_path / "icc-only.toml")
    assert "nu_1ms" not in tomllib.loads((tmp_path / "icc-only.toml").read_text())["params"]
