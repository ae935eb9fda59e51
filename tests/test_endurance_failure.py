"""Endurance sees a dead device: failure criteria by what switching means in each mode.

The simulated die's devices wear out at a per-device cycle count (``sim_backend.model``: ``n_fail_vol``,
``n_fail_nv`` in ``die.describe()``); a worn volatile OGB device stops reaching compliance at the write
(stuck OFF) while its write/read ratio stays ≈ 36 from leakage curvature alone, so only a criterion on
switching itself sees it. The protocol runs in-process on the real driver → pyvisa → simulator stack
(``drive``: the plan through the engine, its rows and the failure it reported), and through the CLI for the exit code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import drive_plan

from labrc.config import load_config
from labrc.outcome import EXIT_DEVICE_FAILURE
from labrc.stations import connect
from labrc.store import RunReader
from protocols import get_protocol


def drive(sets: tuple[str, ...], name: str, **params):
    """Run a protocol's plan on the simulator (no run file); returns (engine result, ``cycles`` rows)."""
    cfg = load_config(None, list(sets))
    proto = get_protocol(name).from_options(None, {k: str(v) for k, v in params.items()})
    proto.validate(cfg.limits)
    result, sink, _ = drive_plan(cfg, proto)
    return result, sink.stream("cycles")


def default_die() -> list[dict]:
    """Every device of the default die with the model's wear-out cycles (``n_fail_vol``, ``n_fail_nv``)."""
    st = connect(load_config(None, []))
    try:
        return st.describe()["devices"]
    finally:
        st.close()


def test_the_earliest_worn_device_of_the_default_die_fails_stuck_off_where_its_writes_stop_reaching_compliance():
    dev = min(default_die(), key=lambda d: d["n_fail_vol"])          # model v2: device 16, 374,180 cycles
    n_fail = int(dev["n_fail_vol"])
    ctx, c = drive((f"sim.device={dev['index']}",), "volatile-endurance", cycles=n_fail + 50_000)
    comp = c["compliance"]
    drop = int(np.flatnonzero(comp == 1)[-1]) + 1            # first cycle of the final run of non-compliance
    # the model counts switching events (a write that brings the relaxed device to compliance), the protocol
    # counts cycles: they agree to 0.1 % (measured: 374,232 vs 374,180)
    assert abs(drop - n_fail) <= 1e-3 * n_fail and np.all(comp[:drop] == 1) and np.all(comp[drop:] == 0)
    # gradual degradation first (model v2: HRS leakage x(1 + 2 (n/n_fail)^3)): the window narrows before the
    # device dies — the last 2 % of its life has well under the early ON/OFF (measured 365 -> 151)
    early, late = np.median(c["on_off"][:20_000]), np.median(c["on_off"][drop - drop // 50:drop])
    assert late < 0.6 * early and late > 0.2 * early       # narrower, but no ON/OFF collapse before stuck OFF
    # what the old ratio rule saw: the dead device still gives ON/OFF ≈ 36 > on_off_min = 5
    assert 20 < np.median(c["on_off"][drop:]) < 60
    f = ctx.failure
    assert f is not None and f["mode"] == "stuck OFF", ctx.reason
    assert f["cycle"] == drop
    assert 0 <= f["detected_at"] - drop < ctx_params_fail_cycles("volatile-endurance")
    assert "compliance" in f["criterion"]
    assert c["seq"][-1] < drop + 10_000, "the run went on long after the failure"      # it stopped
    assert re.match(r"device failure \(stuck OFF\) at cycle \d+", ctx.reason)


def ctx_params_fail_cycles(name: str) -> int:
    return get_protocol(name).Params().fail_cycles


def test_a_ddab_device_fails_stuck_on_near_10_volatile_cycles():
    ctx, c = drive(('sim.preset="DDAB-Ag"',), "volatile-endurance", cycles=10_000)
    f = ctx.failure
    assert f is not None and f["mode"] == "stuck ON", ctx.reason
    assert 2 <= f["cycle"] <= 30               # paper: DDAB falls non-volatile after ≈ 10 volatile cycles
    assert f["detected_at"] == f["cycle"] + ctx_params_fail_cycles("volatile-endurance") - 1
    assert c["seq"].size < 100                 # bursts 8, 16, 32 …: it stopped within the burst after


def test_an_ogb_device_that_does_not_wear_out_in_the_run_is_never_flagged():
    dev = max(default_die(), key=lambda d: d["n_fail_vol"])
    ctx, c = drive((f"sim.device={dev['index']}",), "volatile-endurance", cycles=30_000)
    assert dev["n_fail_vol"] > 30_000
    assert ctx.failure is None and ctx.reason == ""
    assert np.all(c["fail"] == 0) and np.all(c["compliance"] == 1)   # not one cycle, not even a noisy one
    ref = c["on_off_ref"][-1]
    # the HRS scatters cycle to cycle (lognormal σ_ln 0.25, model v2): the worst of 30,000 cycles sits at
    # ≈ 0.43 x the early-life reference (measured), still clear of the collapse threshold 0.2 x ref
    assert np.all(c["on_off"] > 1.25 * 0.2 * ref)
    assert 0.1 < np.std(np.log(c["on_off"])) < 0.5       # a real c2c spread (model v1: 1.5 %)


def test_nonvolatile_ddab_sticks_on_after_tens_of_cycles_and_ogb_does_not_in_100():
    ctx, _ = drive(('sim.preset="DDAB-Ag"',), "nonvolatile-endurance", cycles=1000)
    assert ctx.failure is not None and ctx.failure["mode"] == "stuck ON", ctx.reason
    assert 10 <= ctx.failure["cycle"] <= 200                     # paper: stuck after ≈ 50 non-volatile cycles
    ctx, c = drive((), "nonvolatile-endurance", cycles=100)
    assert ctx.failure is None and np.all(c["fail"] == 0)


def test_the_early_life_reference_is_the_geometric_mean_of_the_first_cycles_and_then_constant():
    _, c = drive((), "volatile-endurance", cycles=500, ref_cycles=100)
    ref, x = c["on_off_ref"], c["on_off"]
    assert ref[99] == pytest.approx(np.exp(np.mean(np.log(x[:100]))), rel=1e-12)
    assert ref[10] == pytest.approx(np.exp(np.mean(np.log(x[:11]))), rel=1e-12)
    assert np.all(ref[100:] == ref[99])


def _cmd() -> list[str]:
    exe = shutil.which("labrc")
    return [exe] if exe else [sys.executable, "-m", "labrc"]


def test_a_device_failure_exits_3_through_the_cli_and_the_file_says_so(tmp_path: Path):
    (tmp_path / "labrc.toml").write_text('[data]\ndir = "runs"\n[sim]\npreset = "DDAB-Ag"\n')
    env = {k: v for k, v in os.environ.items() if k != "LABRC_CONFIG"}
    p = subprocess.run(_cmd() + ["run", "volatile-endurance", "--cycles", "1000", "--no-progress"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == EXIT_DEVICE_FAILURE, p.stdout + p.stderr
    with RunReader(next((tmp_path / "runs").rglob("run.h5"))) as r:
        assert r.status == "device_failure"
        assert re.match(r"device failure \(stuck ON\) at cycle \d+", r.reason), r.reason


def test_a_run_that_keeps_going_after_the_failure_still_ends_as_a_device_failure():
    ctx, c = drive(('sim.preset="DDAB-Ag"',), "volatile-endurance", cycles=200, stop_on_failure="false")
    assert c["seq"].size == 200                                  # it did go on
    assert ctx.failure is not None and ctx.failure["mode"] == "stuck ON"
    assert "stop_on_failure=false" in ctx.reason
