"""A week-long run must survive kill -9 and Ctrl-C: real `labrc` subprocesses on the simulator."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import h5py
import numpy as np
import pytest

from labrc.store import RunReader

from helpers_proc import labrc, start
from helpers_proc import wait_for_rows as _wait_for_rows

N_SWEEPS, STEP_V = 150, 0.001          # 150 sweeps × 4001 points: a few seconds of run time
PER_SWEEP = 4001
RUN_ARGS = ["run", "iv-sweep", "--preset", "volatile", "--param", f"repeats={N_SWEEPS}",
            "--param", f"step_v={STEP_V}", "--no-progress"]


def wait_for_rows(run_root: Path, min_rows: int, proc=None) -> Path:
    return _wait_for_rows(run_root, "points", min_rows, proc)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, np.ndarray]:
    """The same run, never interrupted."""
    d = tmp_path_factory.mktemp("reference")
    (d / "labrc.toml").write_text('[data]\ndir = "runs"\n')
    p = labrc(*RUN_ARGS, cwd=d)
    assert p.returncode == 0, p.stderr
    with RunReader(next((d / "runs").rglob("run.h5"))) as r:
        return r.stream("points")


@pytest.mark.parametrize("trial", range(3))
def test_kill_9_at_a_random_moment_leaves_a_readable_contiguous_file_and_resume_completes_it_exactly(
        tmp_path, reference, trial):
    (tmp_path / "labrc.toml").write_text('[data]\ndir = "runs"\nflush_interval_s = 0.2\n')
    proc = start(tmp_path, *RUN_ARGS)
    # kill at a random moment chosen by a condition: once a seeded random number of rows is on disk
    # (between the first sweep and half the run), never after a sleep that assumes this machine's speed
    target = random.Random(trial).randint(PER_SWEEP, N_SWEEPS * PER_SWEEP // 2)
    wait_for_rows(tmp_path / "runs", target, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    path = next((tmp_path / "runs").rglob("run.h5"))
    with h5py.File(path, "r", swmr=True) as f:                  # the file opens with plain h5py
        seq = f["entry/points/seq"][:]
    assert np.array_equal(seq, np.arange(seq.size))             # contiguous from 0
    with RunReader(path) as r:
        assert r.status == "interrupted"
        on_disk = r.n_rows("points")
    assert on_disk < N_SWEEPS * PER_SWEEP

    res = labrc("resume", path.parent.name, "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    with RunReader(path) as r:
        assert r.status == "completed" and r.safe_state["ok"]
        pts = r.stream("points")
        assert len(r.segments()) == 2                            # start + resume recorded
    assert pts["seq"].size == N_SWEEPS * PER_SWEEP                # exactly N sweeps: no gap, no duplicate
    for col, ref in reference.items():                           # equal to the uninterrupted run
        assert np.array_equal(pts[col], ref), col


def test_ctrl_c_stops_the_run_and_records_the_verified_safe_state(tmp_path):
    (tmp_path / "labrc.toml").write_text('[data]\ndir = "runs"\n')
    proc = start(tmp_path, *RUN_ARGS)
    wait_for_rows(tmp_path / "runs", PER_SWEEP, proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)                              # a second Ctrl-C must not skip the safe state
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    path = next((tmp_path / "runs").rglob("run.h5"))
    with RunReader(path) as r:
        assert r.status == "aborted" and "SIGINT" in r.reason
        safe = r.safe_state
        events = [e["message"] for e in r.events()]
        n = r.n_rows("points")
    assert safe["ok"] and all(s["off"] and abs(s["v_readback_v"]) < 0.01 for s in safe["smu"].values())
    assert any("safe state verified" in m for m in events)
    assert 0 < n < N_SWEEPS * PER_SWEEP and n % PER_SWEEP == 0    # stopped at a sweep boundary


def test_sigterm_is_an_operator_stop_too(tmp_path):
    (tmp_path / "labrc.toml").write_text('[data]\ndir = "runs"\n')
    proc = start(tmp_path, *RUN_ARGS)
    wait_for_rows(tmp_path / "runs", PER_SWEEP, proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    with RunReader(next((tmp_path / "runs").rglob("run.h5"))) as r:
        assert r.status == "aborted" and "SIGTERM" in r.reason and r.safe_state["ok"]


def test_watch_follows_a_live_run_from_another_process(tmp_path):
    (tmp_path / "labrc.toml").write_text('[data]\ndir = "runs"\nflush_interval_s = 0.2\n')
    proc = start(tmp_path, *RUN_ARGS)
    path = wait_for_rows(tmp_path / "runs", PER_SWEEP, proc)
    w = labrc("watch", path.parent.name, "--interval", "0.25", cwd=tmp_path)
    proc.communicate(timeout=120)
    lines = [ln for ln in w.stdout.splitlines() if "points=" in ln]
    counts = [int(ln.split("points=")[1].split()[0]) for ln in lines]
    assert len(counts) >= 2 and counts[-1] > counts[0]           # it saw the file grow
    assert "completed" in lines[-1]
