"""The paper's protocols end to end on the simulated instrument, checked from the HDF5 files they write."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from labrc.config import load_config
from labrc.runner import run_protocol
from labrc.store import RunReader
from protocols import get_protocol
from protocols.base import ParameterError
from protocols.endurance import detail_cycles, run_lengths


def run(tmp_path: Path, name: str, preset: str | None = None, sets: tuple[str, ...] = (), **params):
    cfg = load_config(None, [f'data.dir="{tmp_path}"', *sets])
    proto = get_protocol(name).from_options(preset, {k: str(v) for k, v in params.items()})
    out = run_protocol(cfg, proto, progress=False, echo=lambda m: None)
    return RunReader(out.path), out


def test_volatile_endurance_on_an_ogb_device_has_on_off_near_1e3(tmp_path):
    r, out = run(tmp_path, "volatile-endurance", cycles=3000)
    with r:
        c = r.stream("cycles")
        d = r.stream("detail")
        assert r.status == "completed" and out.safe_state["ok"]
        assert r.units("cycles")["i_write"] == "A"
    assert c["seq"].size == 3000 and np.array_equal(c["seq"], np.arange(3000))
    assert np.all(c["compliance"] == 1)                        # the 2 V write is clamped at 1 µA
    assert np.median(c["i_write"]) == pytest.approx(1e-6, rel=0.02)
    assert 2e2 < np.median(c["on_off"]) < 5e3                  # paper: ≈ 10³
    assert d["cycle"].size > 10 and np.all(np.diff(d["cycle"]) > 0)   # log-spaced full traces
    assert d["i_meas"].shape[1] == 7      # read, write, then 30 ms at 0 V = 5 steps of 5 ms + 0.1 PLC


def test_a_ddab_device_fails_near_10_volatile_cycles_and_the_run_stops_with_that_reason(tmp_path):
    r, out = run(tmp_path, "volatile-endurance", sets=('sim.preset="DDAB-Ag"',), cycles=10_000)
    with r:
        n = r.n_rows("cycles")
        reason = r.reason
    m = re.search(r"device failure \(stuck ON\) at cycle (\d+)", reason)
    assert m, reason
    assert 2 <= int(m.group(1)) <= 30     # paper: DDAB falls non-volatile after ≈ 10 volatile cycles
    assert n < 100        # it stopped: bursts grow 8, 16, 32 …, so at most the burst after the failure ran


def test_nonvolatile_endurance_reads_on_off_above_1e3_at_0p1V(tmp_path):
    r, _ = run(tmp_path, "nonvolatile-endurance", cycles=100)
    with r:
        c = r.stream("cycles")
    assert c["seq"].size == 100
    assert np.median(c["on_off"]) > 1e3
    assert np.median(np.abs(c["i_erase"])) < 1e-4               # the erase reached the RESET (current fell)


def test_a_ddab_device_gets_stuck_on_after_tens_of_nonvolatile_cycles(tmp_path):
    r, _ = run(tmp_path, "nonvolatile-endurance", sets=('sim.preset="DDAB-Ag"',), cycles=1000)
    with r:
        reason = r.reason
    m = re.search(r"stuck ON\) at cycle (\d+)", reason)
    assert m and 10 <= int(m.group(1)) <= 200, reason   # paper: stuck after ≈ 50 non-volatile cycles


def test_icc_programmed_levels_are_linear_in_icc(tmp_path):
    r, _ = run(tmp_path, "icc-set", n_levels=6, repeats=3)
    with r:
        s = get_protocol("icc-set").summary(r)
    assert s["r2"] >= 0.98
    assert 1.0 < s["slope_s_per_a"] < 10.0                       # S/A: 1 mA → a few mS
    assert 0.5e-3 < s["g_max_s"] < 5e-3                          # paper readout range 0.1–3.5 mS


def test_retention_of_a_1mA_state_over_1e5_s(tmp_path):
    r, _ = run(tmp_path, "retention", n_reads=8)
    with r:
        reads = r.stream("reads")
    assert reads["t"][-1] == pytest.approx(1e5)
    assert reads["g"][-1] > 0.5 * reads["g"][0] > 1e-4           # still LRS after 10⁵ s


def test_the_device_returns_to_volatile_after_nonvolatile_levels(tmp_path):
    r, _ = run(tmp_path, "reconfigure", n_volatile=4, n_levels=2)
    with r:
        s = get_protocol("reconfigure").summary(r)
        steps = r.stream("steps")
    assert s["returned_to_volatile"]
    assert np.all(steps["g_read"][steps["phase"] == 1] > 1e-4)   # the non-volatile levels held


@pytest.mark.parametrize("name, params, message", [
    ("volatile-endurance", {"cycles": 0}, "cycles=0 is outside the allowed range [1, 10000000]"),
    ("volatile-endurance", {"cycles": 10**13}, "cycles=10000000000000 is outside the allowed range [1, 10000000]"),
    ("volatile-endurance", {"width_s": 1e-4}, "width_s=0.0001 s is outside the allowed range [0.001, 6.553] s"),
    ("volatile-endurance", {"v_write_v": 9}, "v_write_v=9 V is outside the operator limits"),
    ("volatile-endurance", {"icc_a": 5e-8}, "icc_a=5e-08 A is outside the allowed range [1e-07, 0.105] A"),
    ("nonvolatile-endurance", {"icc_reset_a": 0.5}, "icc_reset_a=0.5 A is outside the allowed range"),
    ("icc-set", {"icc_max_a": 0.2}, "icc_max_a=0.2 A is outside the allowed range [1e-07, 0.105] A"),
    ("retention", {"t_max_s": 0.5}, "t_min_s=1 s must be below t_max_s=0.5 s"),
])
def test_bad_protocol_input_is_refused_before_any_command(tmp_path, name, params, message):
    cfg = load_config(None, [f'data.dir="{tmp_path}"'])
    with pytest.raises(ParameterError) as exc:
        proto = get_protocol(name).from_options(None, {k: str(v) for k, v in params.items()})
        run_protocol(cfg, proto, progress=False, echo=lambda m: None)
    assert message in str(exc.value)
    assert not list(tmp_path.rglob("*.h5"))


def test_failure_run_lengths_continue_across_bursts():
    bad = np.array([True, True, False, True, True, True])
    assert run_lengths(bad, carry=3).tolist() == [4, 5, 0, 1, 2, 3]
    assert detail_cycles(10**6, 7).tolist() == [0, 9, 99, 999, 9999, 99999, 999999]


# the figures of every protocol: tests/test_plots.py
