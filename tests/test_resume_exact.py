"""Resume is exact: kill -9 a real `labrc run` at a random point, `labrc resume`, and every column of every
stream equals, bit for bit, an uninterrupted run of the same seed — for every resumable protocol.

The kill point is a *condition*, never a sleep: a seeded random row count between the first block and well
before the end; the test polls the live file (SWMR, through RunReader) until it holds that many rows and then
sends SIGKILL. A run that completed before the kill fails the trial (it would prove nothing). Sizes are small
(each run ~1 s on the simulator) so the whole file stays well under a minute on a 2-core machine.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from labrc.store import RunReader, recover

TOML = '[data]\ndir = "runs"\nflush_interval_s = 0.05\n'

# protocol, its arguments, the stream polled for the kill point, rows of that stream in a whole run,
# and the range of the kill target as (first rows, last rows): from the end of the first block to well
# before the end, so the process is always still running when SIGKILL arrives. The runs are ~5x longer than
# the kill range (1.5-3 s of work after it on a quiet machine): the engine made the earlier sizes finish in
# ~0.3 s, and a loaded machine's row poller then saw the last row before the kill (CI, 2026-12-02).
CASES = {
    "iv-sweep": (["iv-sweep", "--param", "repeats=200", "--param", "step_v=0.01"], "points", 401, 8000),
    # 300,000 cycles: a burst that repeats the list held is 3 messages now, and 100,000 cycles took ~0.5 s of work
    "volatile-endurance": (["volatile-endurance", "--cycles", "300000"], "cycles", 8, 9000),
    "nonvolatile-endurance": (["nonvolatile-endurance", "--cycles", "1000", "--param", "burst_s=0.4"],
                              "cycles", 8, 150),
    "icc-set": (["icc-set", "--param", "repeats=60", "--param", "n_levels=4"], "levels", 4, 24),
    "retention": (["retention", "--param", "n_reads=200"], "reads", 1, 20),
    "reconfigure": (["reconfigure", "--param", "n_volatile=100"], "steps", 1, 20),
    # 200 patterns per class (800 rows): at 60 (240 rows) ~0.1 s of work was left after the kill range
    "spike-train": (["spike-train", "--param", "cycles=200"], "patterns", 6, 24),
    # a 200-device die (the default has 25): with 25 devices the whole run took ~0.3 s of work and a fresh-clone
    # CI run once wrote all 25 rows before the kill reached its target (2026-12-02)
    "volatile-relaxation": (["volatile-relaxation", "--param", "devices=200", "--param", "decay_s=3",
                             "--set", "sim.n_devices=200"], "decays", 1, 20),
}


def _cmd() -> list[str]:
    exe = shutil.which("labrc")
    return [exe] if exe else [sys.executable, "-m", "labrc"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LABRC_CONFIG"}


def labrc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd() + list(args), cwd=cwd, capture_output=True, text=True, timeout=120, env=_env())


def run_file(cwd: Path) -> Path:
    files = list((cwd / "runs").rglob("run.h5"))
    assert len(files) == 1, files
    return files[0]


def all_streams(path: Path) -> dict[str, dict[str, np.ndarray]]:
    with RunReader(path) as r:
        return {s: r.stream(s) for s in r.schema}


def kill_at_rows(cwd: Path, args: list[str], stream: str, target: int, timeout_s: float = 60) -> int:
    """Start the run, wait until its file holds ``target`` rows of ``stream``, SIGKILL it; the rows seen."""
    proc = subprocess.Popen(_cmd() + args + ["--no-progress"], cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline, seen = time.monotonic() + timeout_s, 0
        while time.monotonic() < deadline and proc.poll() is None:
            files = list((cwd / "runs").rglob("run.h5"))
            if files:
                try:
                    with RunReader(files[0]) as r:
                        seen = r.n_rows(stream)
                except Exception:  # noqa: BLE001 - the file may be mid-creation
                    seen = 0
                if seen >= target:
                    proc.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.005)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, (
        f"the run ended by itself (exit {proc.returncode}, {seen} rows seen) before reaching {target} rows: "
        f"the trial proves nothing — make the run longer\n{proc.stderr.read() if proc.stderr else ''}")
    return seen


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, dict]:
    """Each case once, never interrupted (same seed: the simulator's default die)."""
    procs = {}
    for name, (args, *_rest) in CASES.items():      # all at once: the machine's cores share them
        d = tmp_path_factory.mktemp(f"ref-{name}")
        (d / "labrc.toml").write_text(TOML)
        procs[name] = (d, subprocess.Popen(_cmd() + ["run", *args, "--no-progress"], cwd=d, env=_env(),
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    out = {}
    for name, (d, proc) in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        out[name] = all_streams(run_file(d))
    return out


def assert_identical(got: dict, ref: dict, name: str) -> None:
    assert got.keys() == ref.keys()
    for s in ref:
        assert got[s].keys() == ref[s].keys(), s
        for c, want in ref[s].items():
            have = got[s][c]
            if name == "retention" and c == "wall":
                # host wall-clock time of each read: no two runs share it. What resume must keep is the
                # schedule measured from the programming time: wall - t is the programming time on every row.
                prog = have - got[s]["t"]
                assert np.ptp(prog) < 1e-3, f"{s}.{c}: the resumed reads lost the programming time"
                continue
            assert have.dtype == want.dtype and have.shape == want.shape, f"{s}.{c}: {have.shape} vs {want.shape}"
            same = np.array_equal(have.view(np.uint8), want.view(np.uint8)) if have.size else True
            if not same:
                k = int(np.flatnonzero((have != want) & ~(np.isnan(have) & np.isnan(want))
                                       if have.dtype.kind == "f" else have != want)[0]) if have.ndim == 1 else -1
                pytest.fail(f"{name}: {s}.{c} differs from the uninterrupted run (first at row {k})")


@pytest.mark.parametrize("name", list(CASES))
def test_kill_9_then_resume_equals_the_uninterrupted_run_bit_for_bit(tmp_path, references, name):
    args, stream, lo, hi = CASES[name]
    (tmp_path / "labrc.toml").write_text(TOML)
    target = random.Random(f"resume-exact-{name}").randint(lo, hi)
    seen = kill_at_rows(tmp_path, ["run", *args], stream, target)
    path = run_file(tmp_path)
    with RunReader(path) as r:
        assert r.status == "interrupted"
        n_killed = r.n_rows(stream)
    assert n_killed < references[name][stream]["seq"].size, "killed after the last row: nothing to resume"
    p = labrc(tmp_path, "resume", str(path.parent), "--no-progress")
    assert p.returncode == 0, p.stdout + p.stderr
    with RunReader(path) as r:
        assert r.status == "completed"
    assert_identical(all_streams(path), references[name], name)
    assert seen >= target


# A process that dies between the two appends of one endurance block (its ``detail`` rows are in the journal,
# its ``cycles`` rows are not): the one kill point a random SIGKILL rarely hits, made certain here by ending the
# real `labrc run` process with os._exit right after the N-th detail append.
_DIE_BETWEEN_APPENDS = r"""
import os, runpy, sys
from labrc.store import RunWriter
n_detail, orig = int(sys.argv.pop(1)), RunWriter.append
def append(self, stream, block):
    orig(self, stream, block)
    if stream == "detail":
        append.count += 1
        if append.count == n_detail:
            os._exit(137)
append.count = 0
RunWriter.append = append
sys.argv[0] = "labrc"
runpy.run_module("labrc", run_name="__main__")
"""


def test_a_death_between_the_detail_and_cycles_appends_of_a_block_resumes_exactly(tmp_path, references):
    from protocols.endurance import detail_cycles
    args, stream, *_ = CASES["volatile-endurance"]
    (tmp_path / "labrc.toml").write_text(TOML)
    p = subprocess.run([sys.executable, "-c", _DIE_BETWEEN_APPENDS, "12", "run", *args, "--no-progress"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120, env=_env())
    assert p.returncode == 137, p.stdout + p.stderr
    path = run_file(tmp_path)
    rows = recover(path.parent)          # from the journal, as resume does first (the file may lag behind)
    n_cycles = int(args[args.index("--cycles") + 1])
    due = int(np.searchsorted(detail_cycles(n_cycles, 200), rows["cycles"]))
    n_detail = rows["detail"]
    assert n_detail > due, "the detail rows of the unfinished block are not on disk: the case was not made"
    p = labrc(tmp_path, "resume", str(path.parent), "--no-progress")
    assert p.returncode == 0, p.stdout + p.stderr
    assert_identical(all_streams(path), references["volatile-endurance"], "volatile-endurance")
