"""The two acquisition engines end to end through pyvisa against the simulator — PMU Segment-Arb
(``instr.pmu.plan_segment_arb`` + ``instr.pmu.run``) and SMU list sweeps with compliance
(``instr.list_sweep``) — the burst planner the protocols use, validation refusals (nothing sent) for
every reference-§7 limit the engines touch, and fault injection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pyvisa.errors import VisaIOError

from helpers import make_instrument
from instruments.keithley4200 import KXCIError
from instruments.limits import LimitError
from instruments.pmu import ChannelSetup, PmuData, SarbSequence, Segment
from instruments.pmu_segments import read_write_read_segments
from instruments.transcript import read_transcript, transcript_arrays
from protocols.bursts import plan_bursts
from sim_backend.kxci import SimConfig

SEGS = [Segment(0.0, 1.0, 1e-6), Segment(1.0, 1.0, 5e-6, 1, 1e-6, 4e-6), Segment(1.0, 0.0, 1e-6)]


def _sent(k) -> int:
    return k.adapter.connection.visalib.instrument.clock_s   # any command advances the virtual clock


def _setup(segs, loops=1, **kw) -> ChannelSetup:
    return ChannelSetup(1, {1: SarbSequence.from_segments(segs)}, [(1, loops)], **kw)


def sarb(k, segs, loops: int, **kw) -> tuple[PmuData, np.ndarray]:
    """One execute of ``segs`` looped ``loops`` times on channel 1: its data and the currents (loops, points/pass)."""
    d = k.pmu.run(k.pmu.plan_segment_arb([_setup(segs, loops, **kw)]))[1]
    return d, d.i_a.reshape(loops, -1)


# ---------------------------------------------------------------------------- end to end
def test_segment_arb_burst_runs_on_the_simulator_with_resistor():
    k = make_instrument(SimConfig(load="resistor:1e5"))
    segs = read_write_read_segments()
    seq = SarbSequence.from_segments(segs)
    d, i = sarb(k, segs, 5000, i_range_a=100e-6)
    assert i.shape == (5000, 2)
    assert np.allclose(i, 0.1 / 1e5, rtol=0.05)                       # I = V/R at both reads
    assert np.all(np.diff(d.t_s) > 0)
    assert np.all(d.flags["meas"] == 1) and np.all(d.flags["rpm"] == 1)
    assert np.all(d.flags["i_range"] == 3) and np.all(d.flags["v_range"] == 1)
    sim = k.adapter.connection.visalib.instrument
    assert sim.clock_s >= 5000 * seq.duration_s
    assert sim.pmu_out == {1: False, 2: False}                        # outputs off after the burst


def test_segment_arb_on_the_memristor_has_no_compliance():
    k = make_instrument(SimConfig())
    # the paper's write, +2 V for 5 ms (Methods): at 2 V the Ag bridge needs ≈ 2 ms to carry i_lat (model v2;
    # a 10 µs write grows it by ≈ 2 nS only), then without compliance it runs away to the ceiling g_max
    _, i = sarb(k, read_write_read_segments(write_s=5e-3), 50, i_range_a=10e-3)
    # without compliance a 2 V write hard-SETs the filament: the read after is far above the read before
    assert i[0, 1] > 10 * abs(i[0, 0])
    assert i[0, 1] / 0.1 > 1e-3                                       # a mS filament (no Icc to limit it)


def test_smu_burst_runs_on_the_simulator_and_keeps_compliance_letters():
    k = make_instrument(SimConfig())
    r = k.list_sweep(1, np.tile([0.1, 2.0, 0.1], 200), 1e-6, 5e-3, 0.0, 1, 2)
    comp, i = r.compliance.reshape(200, 3), r.i_meas_a.reshape(200, 3)
    assert comp[:, 1].all() and not comp[:, 0].any()                 # writes clamp at Icc, reads do not
    assert np.all(np.abs(i[:, 1]) <= 1.1e-6)


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
    sarb(k, SEGS, 3)
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
    k, before = resistor_4200, _sent(resistor_4200)
    train = np.tile([0.1, 2.0, 0.1], 10)
    with pytest.raises(LimitError, match="icc_a"):
        k.list_sweep(1, train, 10e-9, 5e-3, 0.0, 1, 2)                  # < 100 nA
    with pytest.raises(LimitError, match="delay_s"):
        k.list_sweep(1, train, 1e-6, 7.0, 0.0, 1, 2)                    # DT > 6.553 s
    with pytest.raises(LimitError, match="points"):
        k.list_sweep(1, np.zeros(5000), 1e-6, 1e-3, 0.0, 1, 2)          # > 4096
    with pytest.raises(LimitError, match="points"):                     # a protocol's planner refuses it too
        plan_bursts(1, 5e-3, 5000, 4096)
    assert _sent(k) == before                                           # nothing was sent


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
        sarb(k, SEGS, 2)


def test_fault_error_reply_on_execute():
    k = make_instrument(SimConfig(load="resistor:1e6", faults={"error": {"match": ":PMU:EXECUTE", "code": -966}}))
    with pytest.raises(KXCIError) as e:
        sarb(k, SEGS, 2)
    assert e.value.code == -966


def test_fault_connection_drop_mid_burst():
    k = make_instrument(SimConfig(load="resistor:1e6", faults={"drop": {"match": ":PMU:DATA:GET", "after": 1}}))
    with pytest.raises(VisaIOError):               # 3000 points -> 2 DATA:GET blocks; drop on the second
        sarb(k, SEGS, 3000)


def test_fault_device_short_mid_run():
    k = make_instrument(SimConfig(faults={"device": {"kind": "short", "at_execute": 2}}))
    i = [sarb(k, SEGS, 1, i_range_a=0.2)[1] for _ in range(3)]          # one execute per cycle
    assert abs(i[0][0, 0]) < 0.05 and i[1][0, 0] == pytest.approx(0.1, rel=0.05)   # 1 V on 10 Ω from execute 2
    assert i[2][0, 0] == pytest.approx(0.1, rel=0.05)                     # and it stays shorted
