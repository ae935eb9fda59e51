"""The characterization report (``labrc sim characterize``): runs of the real protocols through the engine on
the simulated die, checked target by target against the paper (John, Demirağ et al. 2022; DESIGN §5).

One quick report (5 OGB devices, 10 DDAB devices, retention at every ladder level on one device, fewer
cycles) is measured once for the module; each test reads its rows and the run files it kept. The full
report is the same code on the whole die. Every row says whether it was measured through the instrument
or is a model parameter, and every measured row names the stored runs it was read from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labrc.characterize import Row, format_table


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("characterize")


@pytest.fixture(scope="module")
def report(runs_dir) -> dict[str, Row]:
    """The quick report through the command (``labrc sim characterize --quick --json``), once for the module."""
    exe = shutil.which("labrc")
    cmd = [exe] if exe else [sys.executable, "-m", "labrc"]
    env = dict(os.environ)
    env.pop("LABRC_CONFIG", None)
    p = subprocess.run(cmd + ["sim", "characterize", "--quick", "--out", str(runs_dir), "--json"], cwd=runs_dir,
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    fields = set(Row.__dataclass_fields__)
    rows = [Row(**{k: v for k, v in d.items() if k in fields}) for d in json.loads(p.stdout)]
    return {r.target: r for r in rows}


def row(report: dict[str, Row], prefix: str) -> Row:
    hits = [r for name, r in report.items() if name.startswith(prefix)]
    assert len(hits) == 1, (prefix, list(report))
    r = hits[0]
    assert r.passed, f"{r.target}: measured {r.measured_text}, tolerance {r.tolerance} ({r.note})"
    return r


# ------------------------------------------------------------------ volatile (diffusive) mode, Icc = 1 µA
def test_an_ogb_device_switches_volatile_below_1V_at_1uA(report):
    assert row(report, "volatile SET voltage").measured < 1.0


def test_volatile_on_off_between_write_at_2V_and_read_at_0_1V_is_near_1e3(report):
    assert 1e2 <= row(report, "volatile ON/OFF").measured <= 1e4


def test_volatile_state_relaxes_in_5_to_20_ms_after_a_1V_20ms_spike(report):
    assert 5 <= row(report, "volatile relaxation time").measured <= 20


def test_the_device_state_reflects_only_the_last_23_ms(report):
    assert row(report, "state reflects the last < 23 ms").measured <= 10


def test_no_switching_occurs_under_reverse_bias_in_the_volatile_mode(report):
    assert row(report, "no switching under reverse bias").measured == 0


# ------------------------------------------------------------------ non-volatile (drift) mode, Icc = 1 mA
def test_nonvolatile_set_is_below_1V_and_reset_is_at_negative_bias(report):
    assert row(report, "non-volatile SET voltage").measured < 1.0
    assert -7.0 < row(report, "non-volatile RESET voltage").measured < 0.0


def test_nonvolatile_on_off_at_0_1V_is_at_least_1e3(report):
    assert row(report, "non-volatile ON/OFF").measured >= 1e3


def test_lrs_conductance_is_linear_in_the_programming_icc_over_0_1_to_3_5_mS(report):
    assert 2.8 <= row(report, "Icc → G slope").measured <= 4.2
    assert abs(row(report, "Icc → G intercept").measured) <= 0.1
    assert row(report, "Icc → G linearity").measured >= 0.95
    assert 2.45 <= row(report, "readout range").measured <= 4.55


def test_every_programmed_level_from_29uA_to_1mA_is_retained_to_1e5_s_in_its_own_run(report, runs_dir):
    from labrc.store import RunReader
    levels = {name: r for name, r in report.items() if name.startswith("retention at Icc")}
    assert [n.split(":")[0] for n in levels] == [f"retention at Icc {x} µA" for x in ("29", "100", "300", "1000")]
    for r in levels.values():
        assert r.source == "measured through the instrument" and r.paper == "retained to 1e5 s"
        assert r.passed and abs(r.measured) <= 30 and "at 1e5 s" in r.target, (r.target, r.note)
        with RunReader(runs_dir / r.note.split("run: ")[1].split(" ")[0]) as rd:
            assert rd.metadata["protocol"] == "retention" and rd.status == "completed"
            icc = rd.metadata["parameters"]["icc_a"]
            assert r.target.startswith(f"retention at Icc {icc * 1e6:g} µA")
            assert rd.stream("reads")["t"][-1] == pytest.approx(1e5)


def test_the_device_reconfigures_back_to_volatile_after_nonvolatile_programming(report):
    r = row(report, "reconfigures back to volatile")
    assert r.measured == 5


def test_device_to_device_spread_is_present_and_bounded(report):
    for label in ("d2d spread: CV of SET voltage", "d2d spread: CV of LRS conductance"):
        assert 1 <= row(report, label).measured <= 30


# ------------------------------------------------------------------ ligands, electrodes, endurance
def test_ogb_endurance_medians_are_model_parameters_in_a_quick_report(report):
    for name, target in (("OGB volatile endurance", 2e6), ("OGB non-volatile endurance", 5655)):
        r = row(report, name)
        assert r.source == "model parameter" and r.measured == target and "--full" in r.note


def test_every_row_says_measured_or_model_parameter_and_where_its_tolerance_comes_from(report):
    for r in report.values():
        assert r.source in ("measured through the instrument", "model parameter"), r.target
        assert r.tolerance_source.split(" ")[0] in ("paper", "chosen", "model", "none"), r.target
    assert sum(r.source == "model parameter" for r in report.values()) == 2


def test_ddab_endurance_rows_come_from_stored_endurance_runs(report, runs_dir):
    from labrc.store import RunReader
    note = row(report, "DDAB volatile endurance").note
    first = note.split("runs: ")[1].split(" ")[0]
    with RunReader(runs_dir / first) as r:
        assert r.metadata["protocol"] == "volatile-endurance" and r.status == "device_failure"
        assert r.metadata["config"]["sim"]["preset"] == "DDAB-Ag"


def test_a_ddab_device_has_a_volatile_on_off_near_10(report):
    assert 3 <= row(report, "DDAB volatile ON/OFF").measured <= 30


def test_a_ddab_device_falls_into_a_nonvolatile_state_near_10_volatile_cycles(report):
    assert 5 <= row(report, "DDAB volatile endurance").measured <= 20


def test_a_ddab_device_becomes_stuck_non_erasable_near_50_nonvolatile_cycles(report):
    assert 25 <= row(report, "DDAB non-volatile endurance").measured <= 100


def test_an_au_top_electrode_never_reaches_1mA_at_5V(report):
    assert row(report, "OGB-Au: no switching").measured < 1e3      # µA


def test_the_report_table_lists_every_target_with_its_verdict(report):
    text = format_table(list(report.values()))
    lines = text.splitlines()
    assert [c.strip() for c in lines[0].split(" | ")] == ["target", "paper", "measured", "tolerance", "source",
                                                           "result"]
    width = {len(line) for line in lines[2:2 + len(report)]}
    assert all(line.count(" | ") == 5 for line in lines[2:2 + len(report)]) and len(width) <= 2
    assert f"{len(report)}/{len(report)} targets pass" in text
    assert all(r.to_dict()["status"] == "PASS" for r in report.values())


# ------------------------------------------------------------------ the command
def test_the_relaxation_rows_come_from_a_stored_relaxation_run_whose_trace_gives_its_decay(report, runs_dir):
    from labrc.store import RunReader
    from protocols import get_protocol
    from protocols.relaxation import decay_of
    r = row(report, "volatile relaxation time")
    assert row(report, "state reflects the last < 23 ms").note.endswith(r.note.split("; ")[-1])
    with RunReader(runs_dir / r.note.split("run: ")[1].split(" ")[0]) as rd:
        assert rd.metadata["protocol"] == "volatile-relaxation" and rd.status == "completed"
        proto = get_protocol("volatile-relaxation")(get_protocol("volatile-relaxation").Params(**rd.metadata["parameters"]))
        tr, dec = rd.stream("trace"), rd.stream("decays")
    assert dec["device"].tolist() == [0, 1, 2, 3, 4]                 # one list per device of the quick die
    n_rest, n_off, n_spike, n_decay = proto.counts
    for d in range(5):
        m = tr["device"] == d
        assert m.sum() == n_rest + n_off + n_spike + n_decay
        t = tr["t"][m]
        # every point on the list grid (60 Hz die; timestamps come back with 7 significant digits)
        assert np.allclose(np.diff(t), proto.params.dt_s, rtol=0, atol=1e-6)
        again = decay_of(t, tr["v_meas"][m], tr["i_meas"][m], n_rest, n_off, n_spike, proto.params.v_read_v,
                         proto.params.t_memory_s)
        assert again["tau"] == dec["tau"][d] and again["left"] == dec["left"][d]   # the row is the stored trace
        assert again["spike_s"] == pytest.approx(0.02, abs=1e-6)
    assert r.measured == pytest.approx(1e3 * float(np.median(dec["tau"])))


def test_every_measured_row_names_stored_runs_that_exist(report, runs_dir):
    from labrc.store import RunReader
    for r in report.values():
        if r.source != "measured through the instrument":
            continue
        assert "run: " in r.note or "runs: " in r.note, r.target
        first = r.note.split("run: " if "run: " in r.note else "runs: ")[1].split(" ")[0].rstrip(";")
        with RunReader(runs_dir / first) as rd:
            assert rd.status in ("completed", "device_failure"), (r.target, rd.status)
        assert "NOT COMPLETED" not in r.note, r.target


def test_labrc_sim_characterize_stores_every_run_it_made(report, runs_dir):
    from labrc.store import RunReader
    # per OGB device (5): reverse-bias, volatile and non-volatile I-V, both endurances, icc-set, reconfigure;
    # one relaxation run over the 5 devices; retention at 4 levels; DDAB endurance in both modes (10 devices);
    # the Au I-V (5 devices)
    files = sorted(runs_dir.rglob("run.h5"))
    assert len(files) == 5 * 7 + 1 + 4 + 2 * 10 + 5
    protocols = {}
    for f in files:
        with RunReader(f.parent) as rd:
            protocols[rd.metadata["protocol"]] = protocols.get(rd.metadata["protocol"], 0) + 1
    assert protocols == {"iv-sweep": 20, "volatile-endurance": 15, "nonvolatile-endurance": 15, "icc-set": 5,
                         "reconfigure": 5, "volatile-relaxation": 1, "retention": 4}
    assert all(r.passed for r in report.values())


def test_a_run_outside_the_operator_limits_is_refused_in_one_line_before_any_run(tmp_path):
    (tmp_path / "labrc.toml").write_text("[limits]\nv_min_v = -5.0\n")
    exe = shutil.which("labrc")
    cmd = [exe] if exe else [sys.executable, "-m", "labrc"]
    env = {**os.environ, "LABRC_CONFIG": str(tmp_path / "labrc.toml")}
    p = subprocess.run(cmd + ["sim", "characterize", "--quick", "--out", str(tmp_path / "runs")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.strip().count("\n") == 0 and "v_min_v=-7 V" in p.stderr and "iv-sweep" in p.stderr
    assert not (tmp_path / "runs").exists()


def test_full_plans_every_device_of_the_die_to_failure_in_both_modes(tmp_path):
    from labrc.characterize.jobs import validate
    from labrc.characterize.plan import QUICK, plan_jobs
    from labrc.config import load_config
    cfg = load_config(None, [])
    quick = plan_jobs(cfg, "OGB-Ag", 0, QUICK, 25, tmp_path, full=False)
    full = plan_jobs(cfg, "OGB-Ag", 0, QUICK, 25, tmp_path, full=True)
    extra = full[len(quick):]
    assert full[:len(quick)] == quick
    for tag, name, cap in (("ogb_vol", "volatile-endurance", 10_000_000), ("ogb_nv", "nonvolatile-endurance", 100_000)):
        runs = [j for j in extra if j["tag"] == tag]
        assert sorted(j["device"] for j in runs) == list(range(25))
        assert all(j["protocol"] == name and j["params"]["cycles"] == cap and j["params"]["stop_on_failure"]
                   and j["config"]["sim"]["device"] == j["device"] for j in runs)
    validate(full, cfg.limits)            # every run of --full is within the default operator limits
