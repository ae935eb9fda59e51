"""Instrument faults mid-run never corrupt the file; the run ends with the right status and a record."""

from __future__ import annotations

import h5py
import numpy as np

from labrc.config import load_config
from labrc.runner import run_protocol
from labrc.store import RunReader
from protocols import get_protocol


def run(tmp_path, name, sets=(), **params):
    cfg = load_config(None, [f'data.dir="{tmp_path}"', *sets])
    proto = get_protocol(name).from_options("volatile" if name == "iv-sweep" else None,
                                            {k: str(v) for k, v in params.items()})
    return run_protocol(cfg, proto, progress=False, echo=lambda m: None)


def test_a_dropped_connection_mid_run_fails_the_run_and_keeps_every_sweep_before_it(tmp_path):
    out = run(tmp_path, "iv-sweep", ('sim.faults={drop={match="ME1",after=3}}',), repeats=6)
    assert out.status == "failed" and "CONN_LOST" in out.reason
    with RunReader(out.path) as r:
        assert r.status == "failed"
        pts = r.stream("points")
        assert not r.safe_state["ok"] and r.safe_state["errors"]        # the attempt and its failure are recorded
        assert any("safe state NOT verified" in e["message"] for e in r.events())
    assert np.array_equal(np.unique(pts["sweep"]), np.arange(3))          # the three sweeps before the drop


def test_an_instrument_error_reply_fails_the_run_with_the_instruments_code(tmp_path):
    out = run(tmp_path, "iv-sweep", ('sim.faults={error={match="ME1",code=-966,after=1}}',), repeats=3)
    assert out.status == "failed" and "-966" in out.reason
    assert out.safe_state["ok"]                                           # the connection is fine: verified safe


def test_a_device_that_shorts_mid_endurance_is_detected_as_stuck_on(tmp_path):
    out = run(tmp_path, "volatile-endurance", ('sim.faults={device={kind="short",at_execute=4}}',), cycles=5000)
    assert out.status == "device_failure" and "stuck ON" in out.reason    # a result, not "completed" (issue 10.10)
    with RunReader(out.path) as r:
        assert r.n_rows("cycles") < 5000


def test_the_transcript_of_a_run_lives_in_the_run_file(tmp_path):
    out = run(tmp_path, "iv-sweep", ("instrument.transcript=true",))
    with h5py.File(out.path, "r") as f:
        g = f["entry/attachments/transcript"]
        text = [t.decode() if isinstance(t, bytes) else t for t in g["text"][:]]
        dirs = g["dir"][:]
    assert text[0] == "BC" and dirs[0] == b"w" and text[1] == "ACK"
    assert "MD ME1" in text and any(t.startswith("N+") or t.startswith("C+") for t in text)
