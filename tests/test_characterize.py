"""The characterization report (``labrc sim characterize``), measured through pyvisa and the driver on the
simulated die, checked target by target against the paper (John, Demirağ et al. 2022; DESIGN §5).

One quick report (5 OGB devices, 10 DDAB devices, 2 retention devices, fewer cycles) is measured once
for the module; each test reads its rows. The full report is the same code on the whole die.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labrc.characterize import Row, characterize, format_table
from labrc.config import Config


@pytest.fixture(scope="module")
def report() -> dict[str, Row]:
    rows = characterize(Config(), quick=True)
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


def test_a_1mA_state_is_retained_for_1e5_s(report):
    assert abs(row(report, "retention").measured) <= 30


def test_the_device_reconfigures_back_to_volatile_after_nonvolatile_programming(report):
    r = row(report, "reconfigures back to volatile")
    assert r.measured == 5


def test_device_to_device_spread_is_present_and_bounded(report):
    for label in ("d2d spread: CV of SET voltage", "d2d spread: CV of LRS conductance"):
        assert 1 <= row(report, label).measured <= 30


# ------------------------------------------------------------------ ligands, electrodes, endurance
def test_ogb_endurance_medians_are_2e6_volatile_and_5655_nonvolatile_cycles(report):
    assert row(report, "OGB volatile endurance").measured == pytest.approx(2e6, rel=0.45)
    assert row(report, "OGB non-volatile endurance").measured == pytest.approx(5655, rel=0.45)
    assert "die.describe()" in row(report, "OGB volatile endurance").note


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
    assert [c.strip() for c in lines[0].split(" | ")] == ["target", "paper", "measured", "tolerance", "result"]
    width = {len(line) for line in lines[2:2 + len(report)]}
    assert all(line.count(" | ") == 4 for line in lines[2:2 + len(report)]) and len(width) <= 2
    assert f"{len(report)}/{len(report)} targets pass" in text
    assert all(r.to_dict()["status"] == "PASS" for r in report.values())


# ------------------------------------------------------------------ the command
def test_labrc_sim_characterize_quick_prints_the_table_and_exits_0(tmp_path: Path):
    exe = shutil.which("labrc")
    cmd = [exe] if exe else [sys.executable, "-m", "labrc"]
    env = dict(os.environ)
    env.pop("LABRC_CONFIG", None)
    p = subprocess.run(cmd + ["sim", "characterize", "--quick"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "volatile SET voltage" in p.stdout and "DDAB non-volatile endurance" in p.stdout
    assert "FAIL" not in p.stdout and "targets pass" in p.stdout
