"""The `labrc` command through its console entry point, on the embedded simulator, with real run files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labrc.store import RunReader


def labrc(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("labrc")
    cmd = [exe] if exe else [sys.executable, "-m", "labrc"]
    e = dict(os.environ, **(env or {}))
    e.pop("LABRC_CONFIG", None)
    return subprocess.run(cmd + list(args), cwd=cwd, capture_output=True, text=True, timeout=120, env=e)


@pytest.fixture
def station(tmp_path: Path) -> Path:
    (tmp_path / "labrc.toml").write_text('[data]\ndir = "runs"\n[limits]\nv_max_v = 8.0\nv_min_v = -8.0\n')
    return tmp_path


def run_file(station: Path) -> Path:
    files = list((station / "runs").rglob("run.h5"))
    assert len(files) == 1, files
    return files[0]


def test_volatile_sweep_clamps_at_1uA_with_the_compliance_flag_and_relaxes_to_off(station):
    p = labrc("run", "iv-sweep", "--preset", "volatile", "--no-progress", cwd=station)
    assert p.returncode == 0, p.stderr
    with RunReader(run_file(station)) as r:
        assert r.status == "completed" and r.safe_state["ok"]
        assert r.metadata["instrument"]["idn"].startswith("KEITHLEY INSTRUMENTS")
        assert r.metadata["backend"]["kind"] == "sim" and r.units("points")["i_meas"] == "A"
        pts = r.stream("points")
    v, i, c = pts["v_set"], pts["i_meas"], pts["compliance"].astype(bool)
    assert c.any() and np.allclose(i[c], 1e-6, rtol=0.05)           # clamped at Icc, flagged C
    assert np.all(i <= 1.05e-6)
    apex = int(np.argmax(v))
    first_c = int(np.flatnonzero(c)[0])
    assert v[first_c] < 1.0                                           # threshold switching below 1 V
    i_read_up = i[:apex][np.isclose(v[:apex], 0.1)][0]
    i_read_down = i[apex:][np.isclose(v[apex:], 0.1)][0]
    assert i_read_up < 1e-8 and i_read_down < 1e-8                    # back to OFF: volatile
    assert 1e-6 / i_read_up > 100


def test_nonvolatile_sweep_sets_below_1V_resets_at_negative_bias_with_on_off_above_1e3(station):
    p = labrc("run", "iv-sweep", "--preset", "nonvolatile", "--no-progress", cwd=station)
    assert p.returncode == 0, p.stderr
    with RunReader(run_file(station)) as r:
        pts = r.stream("points")
    v, i, c = pts["v_set"], pts["i_meas"], pts["compliance"].astype(bool)
    k_max, k_min = int(np.argmax(v)), int(np.argmin(v))
    assert v[np.flatnonzero(c[:k_max])[0]] < 1.0                       # SET < 1 V at Icc = 1 mA
    up_read = i[:k_max][np.isclose(v[:k_max], 0.1)][0]
    down_read = i[k_max:k_min][np.isclose(v[k_max:k_min], 0.1)][0]
    assert down_read / up_read >= 1e3                                   # LRS retained at 0.1 V
    back = slice(k_min, None)
    last_read = i[back][np.isclose(v[back], 0.1)] if np.any(np.isclose(v[back], 0.1)) else None
    neg = v < 0
    assert np.abs(i[neg]).min() < 0.1 * np.abs(i[neg]).max()             # RESET happened at negative bias
    if last_read is not None and last_read.size:
        assert abs(last_read[0]) < down_read / 100


def test_ls_show_and_plot_read_the_run(station):
    assert labrc("run", "iv-sweep", "--preset", "volatile", "--no-progress", cwd=station).returncode == 0
    ls = labrc("ls", cwd=station)
    assert ls.returncode == 0 and "completed" in ls.stdout and "_iv_" in ls.stdout
    run_id = run_file(station).parent.name
    show = labrc("show", run_id, "--json", cwd=station)
    info = json.loads(show.stdout)
    assert info["status"] == "completed" and info["protocol"] == "iv-sweep"
    # 0 → 2 → 0 V in 0.02 V steps = 100 + 100 steps + the starting 0 V point
    assert info["summary"]["set_v"] < 1.0 and info["rows"]["points"] == 201
    png = station / "iv.png"
    pl = labrc("plot", run_id, "-o", str(png), cwd=station)
    assert pl.returncode == 0, pl.stderr
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"   # a drawn figure, not a blank one


BAD_INPUTS = [
    (["--param", "v_max_v=300"], "v_max_v=300 V is outside the allowed range [0, 210] V"),
    (["--param", "v_max_v=9"], "v_max_v=9 V is outside the operator limits limits.v_min_v..v_max_v = [-8, 8] V"),
    (["--param", "icc_a=5e-8"], "icc_a=5e-08 A is outside the allowed range [1e-07, 0.105] A"),
    (["--param", "step_v=nan"], "step_v must be a finite number"),
    (["--preset", "nonvolatile", "--param", "step_v=0.001"], "a list sweep holds at most 4096"),
    (["--preset", "fast"], "unknown preset 'fast' for iv-sweep; presets are: volatile, nonvolatile"),
    (["--param", "voltage=1"], "unknown parameter 'voltage'"),
    (["--set", "limits.vmax=3"], "limits.vmax: unknown key"),
    (["--set", "limits.icc_max_a=1"], "limits.icc_max_a: Input should be less than or equal to 0.105"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS)
def test_bad_input_is_refused_before_any_instrument_command_and_no_file_is_created(station, args, message):
    # The instrument is set to a VISA library that does not exist: reaching it would fail with
    # "Wrapper not found", so the parameter message proves nothing was sent.
    p = labrc("run", "iv-sweep", *(["--preset", "volatile"] if "--preset" not in args else []), *args,
              "--set", 'instrument.backend="visa"', "--set", 'instrument.visa_library="@nonexistent"',
              cwd=station)
    assert p.returncode == 2
    assert message in p.stderr, p.stderr
    assert "Wrapper" not in p.stderr
    assert not (station / "runs").exists() or not list((station / "runs").rglob("*.h5"))


def test_dry_run_prints_the_plan_without_touching_the_instrument(station):
    """An instrument that cannot be opened still gets its plan (on the simulator's cards), and says so."""
    p = labrc("run", "iv-sweep", "--preset", "nonvolatile", "--param", "repeats=3", "--dry-run",
              "--set", 'instrument.backend="visa"', "--set", 'instrument.visa_library="@nonexistent"', cwd=station)
    assert p.returncode == 0, p.stderr
    assert "points     3603" in p.stdout and "ETA" in p.stdout   # 3 sweeps × 1201 points (0→5→0→−7→0 V, 20 mV)
    assert "instrument not opened" in p.stdout and "the installed card is checked when the run starts" in p.stdout
    assert not (station / "runs").exists()


def test_protocols_lists_parameters_with_units_and_limits(station):
    p = labrc("protocols", cwd=station)
    assert "iv-sweep" in p.stdout and "icc_a" in p.stdout and "[100 nA, 105 mA]" in p.stdout   # SI units
