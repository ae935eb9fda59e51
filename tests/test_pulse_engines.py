"""SMU bursts and PMU Segment-Arb bursts end to end through pyvisa against the simulator; validation
refusals (nothing sent) for every reference-§7 limit the engines touch; fault injection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pyvisa.errors import VisaIOError

from helpers import make_instrument
from instruments.bursts import PmuCycle, SmuPulseTrain, plan_bursts, read_write_read_segments
from instruments.keithley4200 import KXCIError
from instruments.limits import LimitError
from instruments.pmu import ChannelSetup, SarbSequence, Segment
from instruments.transcript import read_transcript, transcript_arrays
from sim_backend.kxci import SimConfig

SEGS = [Segment(0.0, 1.0, 1e-6), Segment(1.0, 1.0, 5e-6, 1, 1e-6, 4e-6), Segment(1.0, 0.0, 1e-6)]


def _sent(k) -> int:
    return k.adapter.connection.visalib.instrument.clock_s   # any command advances the virtual clock


# ---------------------------------------------------------------------------- end to end
def test_segment_arb_burst_runs_on_the_simulator_with_resistor():
    k = make_instrument(SimConfig(load="resistor:1e5"))
    cyc = PmuCycle(read_write_read_segments(), n_cycles=5000, i_range_a=100e-6)
    bursts = list(cyc.run(k))
    assert sum(len(b) for b in bursts) == 5000
    b = bursts[0]
    assert b.i_a.shape == (5000, 2)
    assert np.allclose(b.i_a, 0.1 / 1e5, rtol=0.05)                   # I = V/R at both reads
    assert np.all(np.diff(b.t_s.ravel()) > 0)
    assert np.all(b.data.flags["meas"] == 1) and np.all(b.data.flags["rpm"] == 1)
    assert np.all(b.data.flags["i_range"] == 3) and np.all(b.data.flags["v_range"] == 1)
    sim = k.adapter.connection.visalib.instrument
    assert sim.clock_s >= 5000 * cyc.sequence.duration_s
    assert sim.pmu_out == {1: False, 2: False}                        # outputs off after the burst


def test_segment_arb_on_the_memristor_has_no_compliance():
    k = make_instrument(SimConfig())
    # the paper's write, +2 V for 5 ms (Methods): at 2 V the Ag bridge needs ≈ 2 ms to carry i_lat (model v2;
    # a 10 µs write grows it by ≈ 2 nS only), then without compliance it runs away to the ceiling g_max
    cyc = PmuCycle(read_write_read_segments(write_s=5e-3), n_cycles=50, i_range_a=10e-3)
    b = next(cyc.run(k))
    # without compliance a 2 V write hard-SETs the filament: the read after is far above the read before
    assert b.i_a[0, 1] > 10 * abs(b.i_a[0, 0])
    assert b.i_a[0, 1] / 0.1 > 1e-3                                   # a mS filament (no Icc to limit it)


def test_smu_burst_runs_on_the_simulator_and_keeps_compliance_letters():
    k = make_instrument(SimConfig())
    tr = SmuPulseTrain(1, [0.1, 2.0, 0.1], 5e-3, 1e-6, 200, ground_smu=2)
    plan = tr.plan()
    bursts = list(tr.run(k))
    assert len(bursts) == plan.n_bursts and sum(len(b) for b in bursts) == 200
    b = bursts[0]
    assert b.compliance[:, 1].all() and not b.compliance[:, 0].any()  # writes clamp at Icc, reads do not
    assert np.all(np.abs(b.i_meas_a[:, 1]) <= 1.1e-6)


def test_planner_respects_points_budget_and_gives_an_eta():
    p = plan_bursts(2_000_000, 42e-6, 2, 65_536, budget_s=2.0)
    assert p.cycles_per_burst == 32_768 and p.bound_by == "points"
    assert sum(p.sizes()) == 2_000_000 and p.n_bursts == 62
    assert p.eta_s == pytest.approx(2e6 * 42e-6)
    q = plan_bursts(1000, 0.021, 3, 4096, budget_s=2.0)
    assert q.cycles_per_burst == 95 and q.bound_by == "time budget"
    with pytest.raises(LimitError):
        plan_bursts(10, 1e-3, 5000, 4096)


def test_transcript_records_every_command_and_reply(tmp_path):
    path = tmp_path / "t.jsonl"
    k = make_instrument(SimConfig(load="resistor:1e6"), transcript=str(path))
    list(PmuCycle(SEGS, n_cycles=3).run(k))
    k.stop_transcript()
    recs = read_transcript(path)
    sent = [r["text"] for r in recs if r["dir"] == "w"]
    assert sent[0] == "*OPT?" and ":PMU:EXECUTE" in sent and ":PMU:DATA:GET 1, 0, 3" in sent
    assert all(r["dir"] in "wre" for r in recs)
    arr = transcript_arrays(path)
    assert arr["seq"].tolist() == list(range(len(recs))) and np.all(np.diff(arr["t_mono_s"]) >= 0)
    json.dumps(recs[0])


# ---------------------------------------------------------------------------- validation refusals
def _refuses(k, setup: ChannelSetup, match: str) -> None:
    before = k.adapter.connection.visalib.instrument.clock_s
    with pytest.raises(LimitError, match=match):
        k.pmu.plan_segment_arb([setup])
    assert k.adapter.connection.visalib.instrument.clock_s == before     # nothing was sent


def _setup(segs, loops=1, **kw) -> ChannelSetup:
    return ChannelSetup(1, {1: SarbSequence.from_segments(segs)}, [(1, loops)], **kw)


@pytest.mark.parametrize("segs, loops, kw, match", [
    ([Segment(0, 0, 10e-9)] * 3, 1, {}, "time_s"),                                    # < 20 ns
    ([Segment(0, 0, 1e-6)] * 2 + [Segment(0, 0, 1.5)], 1, {}, "time_s"),             # > 1 s
    ([Segment(0, 0, 1e-6)] * 2 + [Segment(0, 0, 40e-9)], 1, {"range_v": 40.0}, "time_s"),   # 40 V: >= 50 ns
    ([Segment(0, 0, 1.5e-8 + 1e-6)] * 3, 1, {}, "10 ns grid"),
    ([Segment(0, 0, 1e-6)] * 2, 1, {}, "at least 3"),
    ([Segment(0, 1, 1e-6), Segment(0.5, 0.5, 1e-6), Segment(0.5, 0, 1e-6)], 1, {}, "seamless"),
    ([Segment(0, 1, 1e-6), Segment(1, 1, 1e-6), Segment(1, 1, 1e-6)], 2, {}, "seamless"),  # looped 0 -> 1 V
    ([Segment(0, 0, 1e-6), Segment(0, 1, 3e-3), Segment(1, 1, 1e-6)], 1, {}, "slew"),   # 1 V in 3 ms
    ([Segment(0, 0, 1e-6), Segment(0, 11, 1e-6), Segment(11, 11, 1e-6)], 1, {}, "start_v|stop_v"),
    ([Segment(0, 5, 1e-6), Segment(5, -7, 1e-6), Segment(-7, 0, 1e-6)], 1, {}, "span.*range_v=40"),
    ([Segment(0, 0, 1e-6, 1, 0, 1e-6)] * 3, 40_000, {}, "65536"),                      # 120 000 points
    ([Segment(0, 0, 1e-6)] * 3, 0, {}, "loops"),
    ([Segment(0, 0, 1e-6)] * 3, 2e12, {}, "loops"),
    ([Segment(0, 0, 1e-6, 1, 0.5e-6, 2e-6)] * 3, 1, {}, "window"),
    ([Segment(0, 0, 1e-6)] * 3, 1, {"i_range_a": 1e-6, "rpm": False}, "i_range_a"),
    ([Segment(0, 0, 1e-6)] * 3, 1, {"i_range_a": 1e-6, "range_v": 40.0}, "i_range_a"),
    ([Segment(0, 0, 1e-6)] * 3, 1, {"load_ohm": 0.5}, "load_ohm"),
    ([Segment(0, 0, 1e-6)] * 3, 1, {"range_v": 20.0}, "range_v"),
])
def test_segment_arb_limits_are_refused_before_anything_is_sent(resistor_4200, segs, loops, kw, match):
    _refuses(resistor_4200, _setup(segs, loops, **kw), match)


def test_more_than_2048_segments_per_channel_refused(resistor_4200):
    seqs = {s: SarbSequence.from_segments([Segment(0, 0, 1e-6)] * 500) for s in range(1, 6)}
    setup = ChannelSetup(1, seqs, [(s, 1) for s in seqs])
    _refuses(resistor_4200, setup, "2048")


def test_smu_burst_limits_refused(resistor_4200):
    with pytest.raises(LimitError, match="icc_a"):
        SmuPulseTrain(1, [0.1, 2.0, 0.1], 5e-3, 10e-9, 10, ground_smu=2).validate(resistor_4200)   # < 100 nA
    with pytest.raises(LimitError, match="width_s"):
        SmuPulseTrain(1, [0.1, 2.0, 0.1], 7.0, 1e-6, 10)                                          # DT > 6.553 s
    with pytest.raises(LimitError, match="points"):
        SmuPulseTrain(1, np.zeros(5000), 1e-3, 1e-6, 1).plan()                                    # > 4096


# ---------------------------------------------------------------------------- the simulator's own checks
def test_simulator_answers_sarb_errors_with_the_instruments_codes(resistor_4200):
    k = resistor_4200
    sim = k.adapter.connection.visalib.instrument
    k.command(":PMU:INIT 1")
    k.command(":PMU:SARB:SEQ:STARTV 1, 1, 0, 0")
    k.command(":PMU:SARB:SEQ:STOPV 1, 1, 0, 0")
    k.command(":PMU:SARB:SEQ:TIME 1, 1, 1E-06, 1E-06")
    k.command(":PMU:SARB:WFM:SEQ:LIST 1, 1, 1")
    k.command(":PMU:EXECUTE")
    assert sim.last_error[0] == -958                                   # < 3 segments
    with pytest.raises(KXCIError) as e:
        k.check_errors()
    assert e.value.code == -958
    k.clear_errors()
    k.command(":PMU:SARB:SEQ:STARTV 1, 1, 0, 0, 1")
    k.command(":PMU:SARB:SEQ:STOPV 1, 1, 0, 0, 1")
    k.command(":PMU:SARB:SEQ:TIME 1, 1, 1E-06, 1E-06, 1E-06")
    k.command(":PMU:EXECUTE")
    assert sim.last_error[0] == -956                                   # 0 V stop, then 1 V start
    k.command(":PMU:SARB:SEQ:STARTV 1, 1, 0, 0, 1")
    k.command(":PMU:SARB:SEQ:STOPV 1, 1, 0, 1, 0")
    k.command(":PMU:SARB:SEQ:TIME 1, 1, 1E-06, 0.01, 1E-06")
    k.command(":PMU:EXECUTE")
    assert sim.last_error[0] == -959                                   # slew
    k.command(":PMU:SARB:SEQ:STARTV 1, 1, 0, 0, 0")
    k.command(":PMU:SARB:SEQ:STOPV 1, 1, 0, 0, 0")
    k.command(":PMU:SARB:SEQ:TIME 1, 1, 1E-06, 1E-06, 1E-06")
    k.command(":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 1, 1, 1")
    k.command(":PMU:SARB:SEQ:MEAS:START 1, 1, 0, 0, 0")
    k.command(":PMU:SARB:SEQ:MEAS:STOP 1, 1, 1E-06, 1E-06, 1E-06")
    k.command(":PMU:SARB:WFM:SEQ:LIST 1, 1, 30000")
    k.command(":PMU:EXECUTE")
    assert sim.last_error[0] == -963                                   # 90 000 samples
    k.command(":PMU:SARB:WFM:SEQ:LIST 1, 7, 1")
    assert sim.last_error[0] == -961                                   # unknown sequence
    k.command(":PMU:SARB:SEQ:STARTV 1, 1, " + ", ".join(["0"] * 129))
    assert sim.last_error[0] == -969                                   # > 128 values in one command


# ---------------------------------------------------------------------------- fault injection
def test_fault_timeout_no_reply():
    k = make_instrument(SimConfig(load="resistor:1e6", faults={"no_reply": {"match": ":PMU:TEST:STATUS?"}}))
    k.adapter.connection.timeout = 200
    with pytest.raises(VisaIOError):
        list(PmuCycle(SEGS, n_cycles=2).run(k))


def test_fault_error_reply_on_execute():
    k = make_instrument(SimConfig(load="resistor:1e6", faults={"error": {"match": ":PMU:EXECUTE", "code": -966}}))
    with pytest.raises(KXCIError) as e:
        list(PmuCycle(SEGS, n_cycles=2).run(k))
    assert e.value.code == -966


def test_fault_connection_drop_mid_burst():
    k = make_instrument(SimConfig(load="resistor:1e6", faults={"drop": {"match": ":PMU:DATA:GET", "after": 1}}))
    cyc = PmuCycle(SEGS, n_cycles=3000)            # 3000 points -> 2 DATA:GET blocks; drop on the second
    with pytest.raises(VisaIOError):
        list(cyc.run(k))


def test_fault_device_short_mid_run():
    k = make_instrument(SimConfig(faults={"device": {"kind": "short", "at_execute": 2}}))
    cyc = PmuCycle(SEGS, n_cycles=20, i_range_a=0.2, budget_s=10e-6)   # 1 cycle per burst
    b = list(cyc.run(k))
    assert abs(b[0].i_a[0, 0]) < 0.05 and b[1].i_a[0, 0] == pytest.approx(0.1, rel=0.05)   # 1 V on 10 Ω
