"""The safe state is claimed only when it is true: every shutdown step is checked on the instrument.

Fault drills through the real CLI (exit 4 and the file's record), and the driver's shutdown against the
simulator in-process (what it records is compared with the simulated chassis' actual outputs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pymeasure.test import expected_protocol

from helpers import GPIB, make_instrument
from instruments.keithley4200 import Keithley4200
from instruments.pmu import ChannelSetup, SarbSequence, Segment
from labrc.outcome import EXIT_SAFE_STATE_UNVERIFIED
from labrc.store import RunReader
from sim_backend.kxci import SimConfig


def labrc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("labrc")
    cmd = [exe] if exe else [sys.executable, "-m", "labrc"]
    env = dict(os.environ)
    env.pop("LABRC_CONFIG", None)
    return subprocess.run(cmd + list(args), cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def drill(tmp_path: Path, faults: str) -> tuple[subprocess.CompletedProcess, dict, list[str]]:
    p = labrc("run", "iv-sweep", "--preset", "volatile", "--no-progress", "--set", f"data.dir={tmp_path / 'runs'}",
              "--set", f"sim.faults={faults}", cwd=tmp_path)
    files = list((tmp_path / "runs").rglob("run.h5"))
    assert len(files) == 1, (p.stderr, files)
    with RunReader(files[0]) as r:
        return p, r.safe_state, [e["message"] for e in r.events()]


def sim_of(k: Keithley4200):
    return k.adapter.connection.visalib.instrument


# ---------------------------------------------------------------------------- CLI fault drills
def test_a_refused_DV_gives_exit_4_and_a_record_that_says_nothing_was_switched_off(tmp_path):
    p, safe, events = drill(tmp_path, '{error={match="DV",count=100}}')
    assert p.returncode == EXIT_SAFE_STATE_UNVERIFIED, p.stderr
    assert safe["ok"] is False
    for n, smu in safe["smu"].items():
        assert smu["off"] is False and smu["ok"] is False                # the off command was refused
        assert any(e.startswith(f"DV{n}: 4200 error -992") for e in smu["errors"]), smu
    assert any("safe state NOT verified" in m for m in events)
    assert not any(m.startswith("safe state verified") for m in events)
    assert "safe state not verified" in p.stderr


def test_a_failing_TV_readback_gives_exit_4_even_though_the_run_completed(tmp_path):
    p, safe, _ = drill(tmp_path, '{error={match="TV",count=10}}')
    assert p.returncode == EXIT_SAFE_STATE_UNVERIFIED and p.stdout.startswith("completed"), (p.stdout, p.stderr)
    assert safe["ok"] is False
    for n, smu in safe["smu"].items():
        assert smu["v_readback_v"] is None and smu["ok_0v"] is False   # no readback: 0 V not verified
        assert smu["off"] is True                                        # the off command itself was fine
        assert any(e.startswith(f"TV{n}:") and "-992" in e for e in smu["errors"])


def test_an_undisturbed_run_verifies_the_safe_state(tmp_path):
    p, safe, events = drill(tmp_path, "{}")
    assert p.returncode == 0, p.stderr
    assert safe["ok"] is True and safe["errors"] == []
    assert all(s["ok"] and s["off"] and abs(s["v_readback_v"]) < 0.01 for s in safe["smu"].values())
    assert any(m.startswith("safe state verified") for m in events)


# ---------------------------------------------------------------------------- driver, in-process
def test_a_refused_DV_leaves_the_smu_at_1V5_and_the_record_says_so():
    k = make_instrument(SimConfig(load="resistor:1e6"))
    k.smu1.source_voltage(1.5, 1e-3)
    sim = sim_of(k)
    sim.faults = {"error": {"match": "DV", "count": 100}}
    rec = k.shutdown()
    assert sim.smus[1].on and sim.smus[1].value == 1.5                   # what the chassis really does
    s1 = rec["smu"][1]
    assert s1["v_readback_v"] == pytest.approx(1.5, abs=1e-3)            # and what the record says
    assert s1["ok_0v"] is False and s1["off"] is False and not rec["ok"]
    assert any("read back 1.5 V" in e for e in s1["errors"])
    assert any(e.startswith("SMU1: DV1: 4200 error -992") for e in rec["errors"])
    k.adapter.close()


def test_shutdown_without_faults_switches_every_output_off_and_says_so():
    k = make_instrument(SimConfig(load="resistor:1e6"))
    k.smu1.source_voltage(1.5, 1e-3)
    rec = k.shutdown()
    assert rec["ok"] and rec["errors"] == []
    assert not any(s.on for s in sim_of(k).smus.values())
    assert rec["pmu"] == {"PMU1-1": "off", "PMU1-2": "off"}
    k.adapter.close()


def test_an_error_left_by_the_run_does_not_make_a_good_shutdown_look_bad():
    k = make_instrument(SimConfig(load="resistor:1e6"))
    k.write("XX9")                                                       # stored error + B1, never read
    k.read()
    assert sim_of(k).last_error[0] != 0
    rec = k.shutdown()
    assert rec["ok"], rec["errors"]
    k.adapter.close()


def test_gpib_framing_checks_the_stored_error_after_set_commands_that_have_no_reply():
    k = make_instrument(SimConfig(load="resistor:1e6"), resource=GPIB)
    k.smu1.source_voltage(1.0, 1e-3)
    sim_of(k).faults = {"error": {"match": "DV3", "count": 100}}
    rec = k.shutdown()
    assert not rec["ok"]
    assert rec["smu"][3]["off"] is False and rec["smu"][1]["ok"] and rec["smu"][2]["ok"] and rec["smu"][4]["ok"]
    assert not sim_of(k).smus[1].on
    k.adapter.close()


def test_a_command_with_no_reply_is_named_and_the_other_smus_are_still_made_safe():
    k = make_instrument(SimConfig(load="resistor:1e6"))
    k.adapter.connection.timeout = 200
    k.smu1.source_voltage(1.0, 1e-3)
    sim_of(k).faults = {"no_reply": {"match": "TV2", "count": 1}}
    rec = k.shutdown()
    assert not rec["ok"] and rec["smu"][2]["ok_0v"] is False
    assert any("TV2" in e and "no reply to 'TV2' within 0.2 s" in e for e in rec["smu"][2]["errors"])
    assert rec["smu"][1]["ok"] and rec["smu"][3]["ok"] and rec["smu"][4]["ok"]
    assert not any(s.on for s in sim_of(k).smus.values())
    k.adapter.close()


def test_a_pmu_test_started_by_the_session_is_aborted_and_read_back_idle():
    k = make_instrument(SimConfig(load="resistor:1e5"))
    segs = [Segment(0.0, 1.0, 1e-6), Segment(1.0, 1.0, 5e-6, 1, 1e-6, 4e-6), Segment(1.0, 0.0, 1e-6)]
    k.pmu.run(k.pmu.plan_segment_arb([ChannelSetup(1, {1: SarbSequence.from_segments(segs)}, [(1, 2)])]))
    rec = k.shutdown()
    assert rec["ok"] and rec["pmu"] == {"PMU1-test": "idle", "PMU1-1": "off", "PMU1-2": "off"}
    assert not any(sim_of(k).pmu_out.values())
    k.adapter.close()


def test_a_closed_connection_gives_an_unverified_record_not_an_exception():
    k = make_instrument(SimConfig(load="resistor:1e6"))
    k.adapter.close()
    rec = k.shutdown()
    assert rec["ok"] is False and rec["errors"]
    assert all(not s["ok"] for s in rec["smu"].values())


def test_a_shutdown_that_raises_still_returns_a_record_with_the_error():
    k = make_instrument(SimConfig(load="resistor:1e6"))
    k.pmu_ids = None                      # a corrupted driver state: the PMU loop cannot run
    rec = k.shutdown()
    assert rec["ok"] is False
    assert any(e.startswith("shutdown stopped early: TypeError") for e in rec["errors"])
    assert rec["smu"][1]["ok"]            # the steps before the failure ran and were verified
    json.dumps(rec)                       # the record goes into the run file as JSON
    k.adapter.close()


def test_no_known_smu_is_not_a_verified_safe_state():
    k = make_instrument(SimConfig(load="resistor:1e6"), query_options=False)
    rec = k.shutdown()
    assert rec["ok"] is False and any("no SMU is known" in e for e in rec["errors"])
    k.adapter.close()


def test_an_error_state_reply_that_cannot_be_parsed_is_not_taken_as_no_error():
    ok = [("SP", "0"), (":ERROR:LAST:GET", "No error. (0)")]
    comm = [("*OPT?", "SMU1"), (":ERROR:LAST:CLEAR", "ACK"), ("SP", "0"), ("US", "ACK"), *ok,
            ("DV1,0,0,1E-06", "ACK"), ("SP", "0"), (":ERROR:LAST:GET", "ACK"), (":ERROR:LAST:CLEAR", "ACK"),
            ("TV1", "NAV 0.0000E+00"), *ok, ("DV1", "ACK"), *ok]
    with expected_protocol(Keithley4200, comm) as k:
        rec = k.shutdown()
    assert not rec["ok"] and rec["smu"][1]["ok_0v"] is False and rec["smu"][1]["off"] is True
    assert rec["errors"] == ["SMU1: DV1,0,0,1E-06: error state unknown: :ERROR:LAST:GET answered 'ACK'"]
