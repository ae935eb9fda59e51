"""Stop signals at any moment, in bursts, never corrupt the run file and always end in the safe state.

Real `labrc` subprocesses on the simulator, real signals. Each trial waits on a condition (rows on disk,
handlers installed), then sends 2–3 signals spaced 0–20 ms apart (seeded), and checks the file row for
row against an uninterrupted run of the same seed: a stopped run must be an exact prefix of it.
"""

from __future__ import annotations

import random
import signal
import time

import h5py
import numpy as np
import pytest

from labrc.store import RunReader

from helpers_proc import handlers_installed, labrc, start, wait_for_rows, wait_until

CYCLES = 60_000          # ~2 s idle; a trial stops it within its first 10,000 cycles
RUN = ["run", "volatile-endurance", "--cycles", str(CYCLES), "--no-progress", "--param", "stop_on_failure=false"]
TOML = '[data]\ndir = "runs"\nflush_interval_s = 0.1\n'


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, np.ndarray]:
    d = tmp_path_factory.mktemp("sigref")
    (d / "labrc.toml").write_text(TOML)
    p = labrc(*RUN, cwd=d)
    assert p.returncode == 0, p.stderr
    with RunReader(next((d / "runs").rglob("run.h5"))) as r:
        return r.stream("cycles")


def _check_prefix_of(path, reference: dict[str, np.ndarray]) -> int:
    """Every column of every stream has one length, seq is 0..n-1, and the values equal the reference's."""
    with h5py.File(path, "r") as f:                      # finalized: plain h5py opens it
        g = f["entry/cycles"]
        lengths = {k: g[k].shape[0] for k in g}
    assert len(set(lengths.values())) == 1, lengths
    with RunReader(path) as r:
        c = r.stream("cycles")
    n = c["seq"].size
    assert np.array_equal(c["seq"], np.arange(n))
    for k, ref in reference.items():
        assert np.array_equal(c[k], ref[:n], equal_nan=True), k
    return n


@pytest.mark.parametrize("trial", range(8))
def test_bursts_of_stop_signals_never_corrupt_the_file(tmp_path, reference, trial):
    rnd = random.Random(1000 + trial)
    (tmp_path / "labrc.toml").write_text(TOML)
    proc = start(tmp_path, *RUN)
    wait_for_rows(tmp_path / "runs", "cycles", rnd.randint(1, 10_000), proc)
    sig = rnd.choice([signal.SIGINT, signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
    for _ in range(rnd.choice([2, 3])):
        proc.send_signal(sig)
        time.sleep(rnd.uniform(0.0, 0.020))            # the spacing under test, not a wait for the run
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    path = next((tmp_path / "runs").rglob("run.h5"))
    n = _check_prefix_of(path, reference)
    assert 0 < n < CYCLES
    with RunReader(path) as r:
        assert r.status == "aborted" and signal.Signals(sig).name in r.reason
        assert r.safe_state["ok"]
        msgs = [e["message"] for e in r.events()]
    assert any("safe state verified" in m for m in msgs)
    assert any("received" in m for m in msgs)           # written by the run loop, not the handler


def test_signals_until_the_process_exits_are_all_handled(tmp_path, reference):
    """A stop, then a signal every few ms until the process is gone: the shutdown and finalization are
    never interrupted, whatever moment a signal lands on."""
    (tmp_path / "labrc.toml").write_text(TOML)
    proc = start(tmp_path, *RUN)
    wait_for_rows(tmp_path / "runs", "cycles", 1, proc)
    rnd = random.Random(7)
    proc.send_signal(signal.SIGINT)                     # the stop, and at once a second signal: at least two
    proc.send_signal(rnd.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP]))   # land, however fast the exit
    sent = 2
    while proc.poll() is None:
        try:
            proc.send_signal(rnd.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP]))
        except ProcessLookupError:
            break
        sent += 1
        time.sleep(rnd.uniform(0.001, 0.010))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    _check_prefix_of(next((tmp_path / "runs").rglob("run.h5")), reference)


def test_ctrl_c_during_start_up_is_an_ordinary_abort(tmp_path):
    """SIGINT while labrc is still importing (handlers in, numpy/h5py/pymeasure not yet): exit 130,
    one line, no traceback, no run file (nothing reached the instrument)."""
    (tmp_path / "labrc.toml").write_text(TOML)
    proc = start(tmp_path, *RUN)
    wait_until(lambda: handlers_installed(proc.pid), "stop handlers installed", proc=proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    runs = list((tmp_path / "runs").rglob("run.h5")) if (tmp_path / "runs").exists() else []
    for path in runs:        # the signal may land after the file was made: then an ordinary aborted run
        with RunReader(path) as r:
            assert r.status == "aborted" and r.safe_state["ok"]


def test_sighup_is_an_operator_stop(tmp_path):
    (tmp_path / "labrc.toml").write_text(TOML)
    proc = start(tmp_path, *RUN)
    wait_for_rows(tmp_path / "runs", "cycles", 1, proc)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    with RunReader(next((tmp_path / "runs").rglob("run.h5"))) as r:
        assert r.status == "aborted" and "SIGHUP" in r.reason and r.safe_state["ok"]
