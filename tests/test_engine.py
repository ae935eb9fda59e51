"""The engine's own contracts, with a protocol written the way the README shows (one file, a plan).

Everything runs on the real stack: engine → simulator station → driver → pyvisa → simulated 4200,
and the run file through ``run_protocol`` / ``resume_run``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from helpers import drive_plan
from instruments.limits import SMU_PULSE_V_MAX_V
from labrc.config import load_config
from labrc.engine.messages import Emit, ListSweep, Log, Wait
from labrc.runner import StopFlag, resume_run, run_protocol
from labrc.store import Column, RunReader, Stream
from protocols.base import Plan, Protocol, param


@dataclass
class PulseReadParams:
    n: int = param(12, "", 1, 10_000, "pulses")
    v_write_v: float = param(2.0, "V", -SMU_PULSE_V_MAX_V, SMU_PULSE_V_MAX_V, "pulse amplitude")


class PulseRead(Protocol):
    """The README's example protocol, plus a carry (running count of pulses in compliance) and a wait."""

    name, run_type, Params = "pulse-read", "pulse", PulseReadParams

    def schema(self):
        return {"reads": Stream(columns=(Column("seq", "i8"), Column("i_read", "f8", "A"), Column("t", "f8", "s"),
                                         Column("n_comp", "i8")))}

    def plan(self):
        return Plan(self.params.n, self.params.n, self.params.n * 0.02, "SMU list sweeps")

    def blocks(self):
        return range(self.params.n)

    def initial_carry(self):
        return {"n_comp": 0}

    def block(self, k, carry):
        r = yield ListSweep(np.array([self.params.v_write_v, 0.1]), icc_a=1e-6, delay_s=5e-3)
        yield Wait(0.01)
        n_comp = carry["n_comp"] + int(r.compliance[0])
        yield Emit("reads", {"i_read": r.i_meas_a[1:], "t": r.t_s[1:], "n_comp": np.array([n_comp])})
        if k == 3:
            yield Log("four pulses done")
        return {"n_comp": n_comp}


def _cfg(tmp_path, *sets):
    return load_config(None, [f'data.dir="{tmp_path}"', "data.compact=false", *sets])


def test_the_engine_numbers_rows_keeps_the_run_clock_and_passes_the_carry(tmp_path):
    result, sink, events = drive_plan(_cfg(tmp_path), PulseRead(PulseReadParams()))
    reads = sink.stream("reads")
    assert result.blocks == 12 and not result.stopped
    assert np.array_equal(reads["seq"], np.arange(12))                   # numbered by the engine
    assert np.all(np.diff(reads["t"]) > 0.01)                             # one clock: lists and waits
    assert reads["n_comp"][-1] == 12                                      # carry across blocks (each pulse clamps)
    assert ("four pulses done", "info") in events


def test_a_stop_inside_a_block_stores_nothing_of_it_and_resume_equals_the_uninterrupted_run(tmp_path):
    from protocols.iv_sweep import IVSweep
    params = dict(repeats=8, v_min_v=-1.0, step_v=0.05, icc_reset_a=1e-3)   # two lists per block
    ref = run_protocol(_cfg(tmp_path / "a"), IVSweep.from_options("volatile", params), progress=False,
                       echo=lambda m: None)
    stop = StopFlag()

    class StopInsideBlock5(IVSweep):
        def block(self, k, carry):
            gen = super().block(k, carry)
            msg = next(gen)
            while True:
                if k == 5 and isinstance(msg, ListSweep) and msg.icc_a == 1e-3:
                    stop.set("test stop")       # block 5's SET list done, its RESET list next: not sent
                try:
                    msg = gen.send((yield msg))
                except StopIteration as done:
                    return done.value

    part = run_protocol(_cfg(tmp_path / "b"), StopInsideBlock5(IVSweep.from_options("volatile", params).params),
                        progress=False, stop=stop, echo=lambda m: None)
    assert part.status == "aborted"
    n_sweep = IVSweep.from_options("volatile", params).points_per_sweep
    with RunReader(part.path) as r:
        assert r.n_rows("points") == 5 * n_sweep                          # blocks 0-4 whole, nothing of 5
        assert any("block 5 stopped before its end" in e["message"] for e in r.events())
    out = resume_run(part.path.parent, progress=False, echo=lambda m: None)
    assert out.status == "completed"
    with RunReader(ref.path) as a, RunReader(out.path) as b:
        for c, want in a.stream("points").items():
            assert np.array_equal(want, b.stream("points")[c], equal_nan=want.dtype.kind == "f"), c


def test_a_plan_that_yields_something_else_or_numbers_its_own_rows_fails_loudly(tmp_path):
    class Bad(PulseRead):
        def block(self, k, carry):
            yield "ME1"
            return carry

    class OwnSeq(PulseRead):
        def block(self, k, carry):
            yield Emit("reads", {"seq": np.array([k]), "i_read": np.zeros(1), "t": np.zeros(1), "n_comp": np.zeros(1)})
            return carry

    with pytest.raises(TypeError, match="not a plan message"):
        drive_plan(_cfg(tmp_path), Bad(PulseReadParams()))
    with pytest.raises(ValueError, match="numbered by the engine"):
        drive_plan(_cfg(tmp_path), OwnSeq(PulseReadParams()))


def test_device_selection_beyond_the_station_is_refused_before_any_voltage(tmp_path):
    from protocols import get_protocol
    proto = get_protocol("spike-train").from_options(None, {"campaign": "true", "devices": "30", "cycles": "1"})
    with pytest.raises(ValueError, match=r"devices=30 exceeds the devices reachable here \(25"):
        run_protocol(_cfg(tmp_path), proto, progress=False, echo=lambda m: None)
    assert not any(tmp_path.rglob("run.h5"))                              # no run was made
