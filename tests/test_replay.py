"""labrc replay / labrc compare: a run re-run on the simulator from its own provenance, and two runs compared.

A simulated run replayed with its own seed and device is the same run again, bit for bit in every measured
column (each run starts from a fresh die, the simulator's clock is virtual); only host-clock columns
(retention's ``wall``) differ. Another device of the die differs by more than the read noise but stays within
the die's device-to-device spread.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from labrc.compare import compare_runs
from labrc.config import load_config
from labrc.replay import replay_run
from labrc.runner import run_protocol
from labrc.store import RunReader
from protocols import get_protocol

HOST_CLOCK_COLUMNS = {("reads", "wall")}     # retention: host time of each read (provenance, not a measurement)

SMALL = {   # one small run per protocol family (a few seconds in all)
    "iv-sweep": {"repeats": 2, "step_v": 0.05},
    "volatile-endurance": {"cycles": 300},
    "icc-set": {"n_levels": 3, "repeats": 2},
    "spike-train": {"pattern_class": "tonic", "cycles": 2, "n_nodes": 10},
    "retention": {"t_min_s": 1.0, "t_max_s": 100.0, "n_reads": 4},
}


def _cfg(tmp_path: Path, *sets: str):
    return load_config(None, [f'data.dir="{tmp_path}"', *sets])


def _run(tmp_path: Path, name: str, *sets: str, **params):
    cfg = _cfg(tmp_path, *sets)
    proto = get_protocol(name).from_options(None, {k: str(v) for k, v in {**SMALL[name], **params}.items()})
    out = run_protocol(cfg, proto, progress=False, echo=lambda m: None)
    assert out.status == "completed", out.reason
    return out.path


def _columns(path: Path) -> dict[tuple[str, str], np.ndarray]:
    with RunReader(path) as r:
        return {(s, c): a for s in r.schema for c, a in r.stream(s).items()}


@pytest.mark.parametrize("name", list(SMALL))
def test_a_replay_with_the_same_seed_and_device_is_bit_identical(tmp_path, name):
    orig = _run(tmp_path, name)
    out = replay_run(orig, _cfg(tmp_path), echo=lambda m: None)
    assert out.status == "completed", out.reason
    with RunReader(orig) as a, RunReader(out.path) as b:
        assert b.metadata["replay_of"] == a.run_id
        assert b.metadata["parameters"] == a.metadata["parameters"] and b.metadata["protocol"] == name
        assert b.metadata["config"]["sim"] == a.metadata["config"]["sim"]
    ca, cb = _columns(orig), _columns(out.path)
    assert ca.keys() == cb.keys()
    for key in ca:
        if key not in HOST_CLOCK_COLUMNS:
            assert np.array_equal(ca[key], cb[key], equal_nan=True), key
    cmp = compare_runs(orig, out.path, figure=False)
    assert cmp.joint["identical"] == 1.0
    assert all(r.diff in (0.0, None) for r in cmp.rows)


def test_another_device_differs_within_the_die_spread_and_compare_says_how_far(tmp_path):
    orig = _run(tmp_path, "icc-set", n_levels=4, repeats=3)
    other = replay_run(orig, _cfg(tmp_path), device=3, echo=lambda m: None).path
    again = replay_run(orig, _cfg(tmp_path), seed=0, device=0, echo=lambda m: None).path
    with RunReader(other) as r:
        assert r.metadata["config"]["sim"]["device"] == 3 and r.device == "D03"
    cmp = compare_runs(orig, other)
    assert cmp.joint["identical"] == 0.0
    slope = cmp.row("slope")
    # G ≈ Icc / V_c: V_c varies device to device by several per cent: a second device well within 30 %
    assert slope.rel is not None and 0 < abs(slope.rel) < 0.3
    assert cmp.joint["correlation log10 g_lrs"] > 0.95
    assert cmp.figure is not None and len(cmp.figure.axes) == 2
    assert compare_runs(orig, again, figure=False).joint["identical"] == 1.0


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labrc", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def _click(*args: str, cwd: Path):
    """The CLI in-process (click's runner): the same command code, without a 2 s interpreter start."""
    from click.testing import CliRunner

    from labrc.cli import main
    return CliRunner().invoke(main, ["--config", str(cwd / "labrc.toml"), *args], catch_exceptions=True)


def test_replay_show_and_compare_from_the_command_line(tmp_path):
    (tmp_path / "labrc.toml").write_text(f'[data]\ndir = "{tmp_path / "data"}"\n')
    orig = _run(tmp_path / "data", "volatile-endurance", cycles=200)
    r = _cli("replay", str(orig), "--no-progress", cwd=tmp_path)      # the console command itself
    assert r.returncode == 0, r.stderr
    assert "run: " in r.stderr and r.stderr.count("result: completed") == 1
    new = Path(r.stdout.split("completed: ", 1)[1].strip())
    with RunReader(orig) as a:
        rid = a.run_id
    show = _click("show", str(new), "--json", cwd=tmp_path)
    assert show.exit_code == 0 and json.loads(show.output)["replay_of"] == rid
    assert f"replay_of      {rid}" in _click("show", str(new), cwd=tmp_path).output
    png = tmp_path / "cmp.png"
    c = _click("compare", str(orig), "latest", "-o", str(png), cwd=tmp_path)
    assert c.exit_code == 0, c.output
    assert "on_off median" in c.output and "identical" in c.output and png.stat().st_size > 10_000
    other = replay_run(orig, _cfg(tmp_path / "data"), seed=5, device=4, echo=lambda m: None).path
    j = json.loads(_click("compare", str(orig), str(other), "--json", cwd=tmp_path).output)
    rows = {x["name"]: x for x in j["rows"]}
    assert j["joint"]["identical"] == 0.0 and rows["on_off median"]["a"] != rows["on_off median"]["b"]


def _damaged(tmp_path: Path, good: Path) -> dict[str, Path]:
    out = {}
    data = good.read_bytes()
    (tmp_path / "trunc").mkdir()
    out["truncated"] = tmp_path / "trunc" / "run.h5"
    out["truncated"].write_bytes(data[: len(data) // 3])
    (tmp_path / "newer").mkdir()
    out["newer layout"] = tmp_path / "newer" / "run.h5"
    out["newer layout"].write_bytes(data)
    with h5py.File(out["newer layout"], "r+") as f:
        f.attrs["layout"] = "labrc.run/9"
    out["not labrc"] = tmp_path / "foreign.h5"
    with h5py.File(out["not labrc"], "w") as f:
        f["x"] = np.arange(3)
    out["text"] = tmp_path / "notes.txt"
    out["text"].write_text("not a run\n")
    return out


def test_bad_run_files_get_one_line_never_a_traceback(tmp_path):
    (tmp_path / "labrc.toml").write_text(f'[data]\ndir = "{tmp_path / "data"}"\n')
    good = _run(tmp_path / "data", "iv-sweep")
    for what, path in _damaged(tmp_path, good).items():
        for args in (("replay", str(path), "--no-progress"), ("compare", str(good), str(path))):
            r = _click(*args, cwd=tmp_path)
            lines = r.output.strip().splitlines()
            assert isinstance(r.exception, SystemExit) and r.exit_code == 2, (what, args, r.output, r.exception)
            assert len(lines) == 1 and lines[0].startswith("labrc: error: "), (what, r.output)
    other = _run(tmp_path / "data", "icc-set")
    r = _click("compare", str(good), str(other), cwd=tmp_path)
    assert r.exit_code == 2 and "different protocols" in r.output
    r = _cli("replay", str(tmp_path / "trunc" / "run.h5"), cwd=tmp_path)      # and from the console command
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_hardware_run_replays_on_the_simulator_with_its_sim_section(tmp_path):
    """A run made through the visa backend (here against a recorded session: no simulator involved) has no
    simulator state; its replay runs the same plan on the [sim] section its configuration carried."""
    from test_transcript_replay import CASES, replay
    transcript = Path(__file__).parent / "transcripts" / "icc-set.jsonl"
    hw = replay("icc-set", transcript, tmp_path / "hw")
    assert hw.status == "completed", hw.reason
    out = replay_run(hw.path, _cfg(tmp_path / "sim", "sim.device=2"), echo=lambda m: None)
    assert out.status == "completed", out.reason
    with RunReader(hw.path) as a, RunReader(out.path) as b:
        assert a.metadata["backend"]["kind"] == "visa" and b.metadata["backend"]["kind"] == "sim"
        assert b.metadata["replay_of"] == a.run_id and b.metadata["parameters"] == a.metadata["parameters"]
        assert b.metadata["config"]["sim"]["device"] == a.metadata["config"]["sim"]["device"] == 0
        assert b.n_rows("levels") == a.n_rows("levels") == CASES["icc-set"]["n_levels"]
    cmp = compare_runs(hw.path, out.path, figure=False)     # the model against what the recording answered
    assert cmp.row("slope").a is not None and cmp.row("slope").b is not None
