"""The list-sweep command stream that sends only what changed, on the simulator through pyvisa.

Each claim is checked against what went on the wire (the driver's transcript): the planner returns
exactly the next sweep's commands, a dry run counts exactly those, the held setup ends on everything
the reference does not say leaves it intact, a refused list never runs, and a list-only stream
measures bit-identical data to a full-setup stream.
"""

from __future__ import annotations

import numpy as np
import pytest
import pyvisa

from helpers import GPIB, make_instrument
from instruments.held import DryRunError
from instruments.keithley4200 import InstrumentAborted, KXCIError
from instruments.limits import LimitError
from instruments.transcript import TranscriptRecorder, sent_commands
from sim_backend.kxci import SimConfig

REFUSED_VL = {"error": {"match": "VL", "after": 4, "count": 1, "code": -993}}   # the 5th VL is refused

# (name, list_sweep keyword arguments, what the stream must be)
V = np.array([0.0, 0.1, 0.2, 0.1, 0.0])
STEPS = [
    ("first: full setup", dict(voltages_v=V, icc_a=1e-4, delay_s=0.0), "full"),
    ("new list values", dict(voltages_v=V * 2, icc_a=1e-4, delay_s=0.0), "list"),
    ("changed compliance", dict(voltages_v=V * 2, icc_a=5e-5, delay_s=0.0), "list"),
    ("changed delay and integration", dict(voltages_v=V, icc_a=5e-5, delay_s=0.002, integration=1), "delta"),
    ("refused list", dict(voltages_v=V * 3, icc_a=5e-5, delay_s=0.002, integration=1), "error"),
    ("after the error", dict(voltages_v=V * 3, icc_a=5e-5, delay_s=0.002, integration=1), "full"),
    ("list only again", dict(voltages_v=V, icc_a=5e-5, delay_s=0.002, integration=1), "list"),
]
COMMON = dict(smu=1, ground_smu=2, fetch=("I", "V"))


def _sweep(k, kw):
    return k.list_sweep(**COMMON, **kw)


def _writes(rec: TranscriptRecorder, start: int) -> list[str]:
    return sent_commands(rec.records, start)


def _run_recorded(cfg: SimConfig, resource: str = "TCPIP0::k4200.sim::1225::SOCKET") -> list[list[str]]:
    """Every step on one instrument; the commands each one put on the wire."""
    k = make_instrument(cfg, resource=resource)
    rec = k.start_transcript(TranscriptRecorder(keep_in_memory=True))
    out = []
    for _, kw, kind in STEPS:
        n0 = len(rec.records)
        if kind == "error":
            with pytest.raises(KXCIError):
                _sweep(k, kw)
        else:
            _sweep(k, kw)
        out.append(_writes(rec, n0))
    k.adapter.close()
    return out


def test_plan_and_dry_run_are_what_the_next_sweep_sends_in_every_state():
    cfg = SimConfig(load="resistor:1e6", faults=REFUSED_VL)
    wire = _run_recorded(cfg)
    for i, (name, kw, kind) in enumerate(STEPS):
        k = make_instrument(cfg)                 # the same history, for real, up to step i
        for _, kw_before, kind_before in STEPS[:i]:
            try:
                _sweep(k, kw_before)
            except KXCIError:
                assert kind_before == "error"
        plan = k.plan_list_sweep(**COMMON, **kw)
        held = k.held
        assert k.plan_list_sweep(**COMMON, **kw) == plan and k.held == held   # planning changes nothing
        with k.dry_run() as rec:
            _sweep(k, kw)
        assert rec.commands == plan, name
        if kind == "error":                       # refused at the check before ME1: the test never ran
            assert wire[i] == plan[:plan.index("MD ME1")] + [":ERROR:LAST:GET"], name
        else:
            assert wire[i] == plan and rec.n_commands == len(wire[i]), name
        k.adapter.close()
    kinds = {kind: len(wire[i]) for i, (_, _, kind) in enumerate(STEPS) if kind != "error"}
    assert wire[1] == ["SS VL1, 1, 0.0001, 0,0.2,0.4,0.2,0", "SP", "MD ME1", "SP", "DO 'I1'", "DO 'V1'"]
    assert wire[3][:1] == ["IT1"] and "DT 0.002" in wire[3] and "BC" not in wire[3]
    assert wire[5][:2] == ["BC", ":ERROR:LAST:CLEAR"]
    assert kinds == {"full": 21, "list": 6, "delta": 8}


def test_one_dry_run_block_counts_a_sequence_like_its_transcript():
    cfg = SimConfig(load="resistor:1e6")
    wire = _run_recorded(SimConfig(load="resistor:1e6", faults=REFUSED_VL))[:4]
    k = make_instrument(cfg)
    with k.dry_run() as rec:
        counts = []
        for _, kw, _ in STEPS[:4]:
            n0 = rec.n_commands
            r = _sweep(k, kw)
            counts.append(rec.n_commands - n0)
        assert k.held is not None                 # evolves as if sent ...
    assert counts == [len(w) for w in wire]
    assert r.i_meas_a.tolist() == [0.0] * V.size and r.status.tolist() == ["N"] * V.size
    assert k.held is None                         # ... and is forgotten at exit
    assert k.plan_list_sweep(**COMMON, **STEPS[1][1])[0] == "BC"


def test_gpib_plan_has_no_sp_and_matches_the_wire():
    wire = _run_recorded(SimConfig(load="resistor:1e6", faults=REFUSED_VL), resource=GPIB)
    assert all("SP" not in w for w in wire)
    assert wire[1] == ["SS VL1, 1, 0.0001, 0,0.2,0.4,0.2,0", "MD ME1", "DO 'I1'", "DO 'V1'"]
    k = make_instrument(SimConfig(load="resistor:1e6"), resource=GPIB)
    with k.dry_run() as rec:
        _sweep(k, STEPS[0][1])
        _sweep(k, STEPS[1][1])
    assert rec.commands == wire[0] + wire[1]


def test_a_list_only_stream_measures_bit_identical_data_to_a_full_setup_stream():
    # No command latency: each command is 1 ms of idle device time on the simulator by default, and a
    # shorter stream really does give a volatile device less time to relax between bursts. With it at 0
    # the two streams differ only in the setup they (re)send.
    rng = np.random.default_rng(7)
    lists = [np.round(rng.uniform(-0.5, 1.5, int(n)), 3) for n in rng.integers(3, 400, 12)]
    iccs = [1e-6] * 6 + [1e-5] * 6
    out, counts = {}, {}
    for mode in ("full", "list"):
        k = make_instrument(SimConfig(seed=3, command_latency_s=0.0))
        rec = k.start_transcript(TranscriptRecorder(keep_in_memory=True))
        res = []
        for v, icc in zip(lists, iccs):
            if mode == "full":
                k.invalidate_held()
            res.append(k.list_sweep(1, v, icc, 1e-3, 0.0, 1, 2))
        out[mode], counts[mode] = res, len(_writes(rec, 0))
        k.adapter.close()
    assert counts["list"] < counts["full"] / 2
    for a, b in zip(out["full"], out["list"]):
        for col in ("v_set_v", "v_meas_v", "i_meas_a", "t_s", "status"):
            assert np.array_equal(getattr(a, col), getattr(b, col)), col
    assert any(r.compliance.any() for r in out["list"]) and any((~r.compliance).any() for r in out["list"])


def _expect_full_next(k) -> None:
    assert k.held is None and k.plan_list_sweep(1, V, 1e-4, 0.0, ground_smu=2)[:2] == ["BC", ":ERROR:LAST:CLEAR"]


@pytest.mark.parametrize("what, action", [
    ("BC", lambda k: k.clear_buffer()),
    ("*RST", lambda k: k.reset()),
    ("user mode DV", lambda k: k.smu1.source_voltage(0.1, 1e-4)),
    ("safe state", lambda k: k.shutdown()),
    ("PMU", lambda k: k.pmu.output(1, False)),
    ("any other command", lambda k: k.command("RS 6")),
    ("dry run exit", None),
])
def test_the_held_setup_ends_on_commands_not_known_to_keep_it(resistor_4200, what, action):
    k = resistor_4200
    k.list_sweep(1, V, 1e-4, 0.0, ground_smu=2)
    assert k.held is not None
    if what == "dry run exit":
        with k.dry_run():
            pass
    else:
        action(k)
    _expect_full_next(k)


def test_reading_commands_keep_the_held_setup(resistor_4200):
    k = resistor_4200
    k.list_sweep(1, V, 1e-4, 0.0, ground_smu=2)
    _ = k.idn, k.options, k.status, k.last_error(), k.query("DO 'I1'")
    k.clear_errors()
    assert k.plan_list_sweep(1, V, 1e-4, 0.0, ground_smu=2) == ["MD ME1", "SP", "DO 'I1'", "DO 'V1'", "DO 'CH1T'"]
    assert k.plan_list_sweep(1, V * 0.5, 1e-4, 0.0, ground_smu=2)[0].startswith("SS VL1, ")


def test_a_new_visa_session_ends_the_held_setup(resistor_4200):
    k = resistor_4200
    k.list_sweep(1, V, 1e-4, 0.0, ground_smu=2)
    lib = k.adapter.connection.visalib
    k.adapter.connection.close()
    k.adapter.connection = pyvisa.ResourceManager(lib).open_resource(
        SimConfig.tcpip_resource, write_termination="\0", read_termination="\0")
    _expect_full_next(k)


def test_a_timeout_ends_the_held_setup():
    k = make_instrument(SimConfig(load="resistor:1e6", faults={"no_reply": {"match": "DO", "after": 1}}))
    k.adapter.connection.timeout = 200
    k.list_sweep(1, V, 1e-4, 0.0, ground_smu=2, fetch=("I",))
    with pytest.raises(pyvisa.errors.VisaIOError):
        k.list_sweep(1, V, 1e-4, 0.0, ground_smu=2, fetch=("I",))
    _expect_full_next(k)


def test_an_abort_ends_the_held_setup():
    k = make_instrument(SimConfig(load="resistor:1e6", realtime_factor=1.0))
    k.list_sweep(1, V, 1e-4, 0.0, ground_smu=2)
    with pytest.raises(InstrumentAborted):
        k.list_sweep(1, np.zeros(200), 1e-4, 0.01, ground_smu=2, should_stop=lambda: True)
    _expect_full_next(k)


def test_a_refused_parameter_sends_nothing_and_ends_the_held_setup(resistor_4200):
    k = resistor_4200
    k.list_sweep(1, V, 1e-4, 0.0, ground_smu=2)
    rec = k.start_transcript(TranscriptRecorder(keep_in_memory=True))
    with pytest.raises(LimitError, match="delay_s=7 s"):
        k.list_sweep(1, V, 1e-4, 7.0, ground_smu=2)
    assert rec.records == []
    _expect_full_next(k)


def test_a_repeated_list_is_not_sent_again_and_a_list_changed_in_place_is_validated_again(resistor_4200):
    k = resistor_4200
    v = np.array([0.0, 0.5, 1.0, 0.5, 0.0])
    k.list_sweep(1, v, 1e-4, 0.0, ground_smu=2)
    rec = k.start_transcript(TranscriptRecorder(keep_in_memory=True))
    first = k.list_sweep(1, v, 1e-4, 0.0, ground_smu=2)
    again = k.list_sweep(1, v, 1e-4, 0.0, ground_smu=2)          # the same list from the same held state
    sent = sent_commands(rec.records)
    # the list the pages hold runs again: trigger, poll, data (fetch I, V, T); no set command, no check
    assert sent == 2 * ["MD ME1", "SP", "DO 'I1'", "DO 'V1'", "DO 'CH1T'"]
    assert first.i_meas_a.shape == again.i_meas_a.shape == (5,) and np.array_equal(again.v_set_v, v)
    assert np.allclose(again.v_meas_v, v, atol=1e-3)             # the held list is what ran
    v[2] = 300.0                                                  # the caller's own array, changed in place
    n = len(rec.records)
    with pytest.raises(LimitError, match="voltages_v"):
        k.list_sweep(1, v, 1e-4, 0.0, ground_smu=2)
    assert len(rec.records) == n                                  # refused before the wire


def test_the_dry_run_validates_against_the_card_installed():
    hp = make_instrument(SimConfig(load="resistor:1e6", cards=["HPSMU1", "SMU2", "PMU1"]))
    with hp.dry_run() as rec:
        hp.list_sweep(1, V, 0.5, 0.0, ground_smu=2)              # a 4210 card sources 1.05 A at <= 21 V
        with pytest.raises(LimitError, match=r"icc_a=0.5 A is outside the allowed range \[1e-07, 0.105\]"):
            hp.list_sweep(2, V, 0.5, 0.0, ground_smu=1)          # a 4200 card 105 mA
        n = rec.n_commands
        with pytest.raises(DryRunError, match=r"\*IDN\?"):
            _ = hp.idn                                          # no invented identity
        assert rec.n_commands == n
    assert rec.commands[8] == "VC2, 0, 0.105" and rec.n_commands == 20


def _sweep_1(k, v):
    return k.list_sweep(1, v, 1e-5, 1e-3, 0.0, 1, 2)


def _checkpoint_after(cfg: SimConfig, lists: list, n: int) -> dict:
    """Sweep the first ``n`` lists on a new simulator and return its checkpoint as JSON would keep it:
    the chassis, the pages and the driver's held setup."""
    import json

    from sim_backend import state

    b = make_instrument(cfg)
    for v in lists[:n]:
        _sweep_1(b, v)
    core = b.adapter.connection.visalib.instrument
    return json.loads(json.dumps({"sim": state.snapshot(core), "pages": core.pages_snapshot(),
                                  "held": b.held_snapshot()}))


def _restored(cfg: SimConfig, snap: dict, held: dict | None):
    """A new simulator and driver put back at ``snap``, the driver adopting ``held`` (None: nothing held)."""
    from sim_backend import state

    c = make_instrument(cfg)
    core = c.adapter.connection.visalib.instrument
    state.restore(core, snap["sim"])
    core.pages_restore(snap["pages"])
    if held is not None:
        c.adopt_held(held)
    return c


def test_a_station_that_restores_the_pages_resumes_with_the_uninterrupted_stream_and_data():
    """Checkpoint after 3 sweeps (device state + pages + the driver's held setup), restore into a new
    simulator and driver: the rest equals the uninterrupted run bit for bit, because the same list-only
    commands (and so the same virtual command time) follow. Without the held setup the resumed driver
    sends the full setup and the device relaxes 14 commands longer: different data."""
    cfg = SimConfig(seed=5)
    lists = [np.round(np.linspace(-0.5, 1.4, 40) * (1 + 0.01 * b), 4) for b in range(6)]
    a = make_instrument(cfg)
    whole = [_sweep_1(a, v) for v in lists]
    snap = _checkpoint_after(cfg, lists, 3)
    rest = {}
    for adopt in (True, False):
        c = _restored(cfg, snap, snap["held"] if adopt else None)
        rec = c.start_transcript(TranscriptRecorder(keep_in_memory=True))
        rest[adopt] = [_sweep_1(c, v) for v in lists[3:]]
        assert sent_commands(rec.records)[0].split(" ")[0] == ("SS" if adopt else "BC")
    for w, r in zip(whole[3:], rest[True]):
        for col in ("v_meas_v", "i_meas_a", "t_s", "status"):
            assert np.array_equal(getattr(w, col), getattr(r, col)), col
    assert not all(np.array_equal(w.i_meas_a, r.i_meas_a) for w, r in zip(whole[3:], rest[False]))


def test_a_restored_held_list_is_known_by_its_digest_and_only_that_list_is_skipped():
    """An endurance run resends no list: the checkpoint records the held list by its SHA-256, so the
    resumed driver skips the list exactly when the uninterrupted one did (same commands, same virtual
    command time, same data); a digest of another list, or none, makes it send the list."""
    cfg = SimConfig(seed=5)
    same, other = np.round(np.linspace(-0.5, 1.4, 40), 4), np.round(np.linspace(-0.4, 1.3, 40), 4)
    lists = [same] * 5 + [other] * 2
    a = make_instrument(cfg)
    whole = [_sweep_1(a, v) for v in lists]
    snap = _checkpoint_after(cfg, lists, 3)
    assert "vl" not in snap["held"] and len(snap["held"]["vl_sha256"]) == 64      # 64 hex digits, not 40 kB
    for digest, first in ((snap["held"]["vl_sha256"], "MD ME1"), ("0" * 64, "SS VL1,"), (None, "SS VL1,")):
        c = _restored(cfg, snap, {**snap["held"], "vl_sha256": digest})
        rec = c.start_transcript(TranscriptRecorder(keep_in_memory=True))
        rest = [_sweep_1(c, v) for v in lists[3:]]
        sent = sent_commands(rec.records)
        assert sent[0].startswith(first), (digest, sent[:2])
        if first == "MD ME1":
            assert sent[:3] == ["MD ME1", "SP", "DO 'I1'"] and sent[5].startswith("MD ME1")
            for w, r in zip(whole[3:], rest):
                for col in ("v_meas_v", "i_meas_a", "t_s", "status"):
                    assert np.array_equal(getattr(w, col), getattr(r, col)), col


def test_a_dry_run_after_a_sweep_plans_from_the_list_held_and_answers_its_length(resistor_4200):
    k = resistor_4200
    v = np.array([0.0, 0.5, 1.0, 0.5, 0.0])
    k.list_sweep(1, v, 1e-4, 0.0, ground_smu=2, fetch=("I",))
    with k.dry_run() as rec:
        r = k.list_sweep(1, v, 1e-4, 0.0, ground_smu=2, fetch=("I",))
    assert rec.commands == ["MD ME1", "SP", "DO 'I1'"] and r.i_meas_a.shape == (5,)
    k.list_sweep(1, v, 1e-4, 0.0, ground_smu=2, fetch=("I",))      # after the dry run: the full setup again
    k.adopt_held({**k.held_snapshot(), "vl_sha256": "0" * 64})       # a list known by its digest only
    with k.dry_run() as rec:
        r = k.list_sweep(1, v, 1e-4, 0.0, ground_smu=2, fetch=("I",))
    # the full setup: 16 set commands (test_driver_commands.FULL_SETUP_1PLC_10MS), check, ME1, poll, DO
    assert rec.commands[0] == "BC" and rec.n_commands == 20 and r.i_meas_a.shape == (5,)


def test_the_simulator_list_cache_serves_only_the_text_it_was_made_from():
    """The simulator keeps the last accepted VL text's values (an endurance run resends one list): a list
    sent between two identical ones, or a refused one, must never be answered with the cached values."""
    k = make_instrument(SimConfig(load="resistor:1e6"))
    a, b = np.array([0.0, 0.5, 1.0, 0.5, 0.0] * 60), np.array([0.0, 0.2, 0.4, 0.2, 0.0] * 60)
    got = [k.list_sweep(1, v, 1e-4, 0.0, ground_smu=2).v_meas_v for v in (a, a, b, a)]
    for want, have in zip((a, a, b, a), got):
        assert np.allclose(have, want, atol=1e-3)
    refused = "SS VL1, 1, 1E-04, " + ",".join(["0.5"] * 299 + ["300"])      # above the 210 V range
    for _ in range(2):                   # the second time its text is the cached one: refused again
        k.command(refused)
        assert k.status & 2                                                # B1, the error is reported
    assert np.allclose(k.list_sweep(1, b, 1e-4, 0.0, ground_smu=2).v_meas_v, b, atol=1e-3)
