"""The driver against the simulated 4200 through pyvisa: what a real session would see."""

from __future__ import annotations


import numpy as np
import pytest
import pyvisa
from pyvisa import errors as visa_errors

from instruments.keithley4200 import KXCIError, StatusByte
from instruments.limits import LimitError
from sim_backend.kxci import SimConfig
from sim_backend.library import KxciDevice, LabrcSimLibrary

from helpers import ETHERNET, GPIB, make_instrument


def test_identification_and_options_come_from_the_instrument(resistor_4200):
    k = resistor_4200
    assert k.idn.startswith("KEITHLEY INSTRUMENTS,KI4200A,")
    assert sorted(k.smu_limits) == [1, 2, 3, 4] and k.pmu_ids == [1]


def test_sweep_into_a_1_megohm_resistor_follows_ohms_law_until_the_clamp(resistor_4200):
    v = np.linspace(0, 2, 21)
    r = resistor_4200.list_sweep(1, v, icc_a=1.5e-6, delay_s=0.001, ground_smu=2)
    free = v <= 1.4
    assert r.i_meas_a[free] == pytest.approx(v[free] / 1e6, abs=1e-10)
    assert not r.compliance[free].any()
    assert r.compliance[v >= 1.6].all()                                  # status letter C kept per point
    assert r.i_meas_a[v >= 1.6] == pytest.approx(1.5e-6, rel=1e-3)     # clamped at Icc
    assert r.v_meas_v[v >= 1.6] == pytest.approx(1.5, rel=1e-3)        # the voltage fell to I·R
    assert np.all(np.diff(r.t_s) > 0)


def test_user_mode_reading_in_compliance_carries_C(resistor_4200):
    k = resistor_4200
    k.smu2.source_voltage(0.0, 0.1)
    k.smu1.source_voltage(2.0, 1e-6)
    i = k.smu1.measure_current()
    assert i.in_compliance and i.value == pytest.approx(1e-6, rel=1e-3)
    assert k.smu2.measure_current().value == pytest.approx(-1e-6, rel=1e-3)   # return current at the bottom
    assert k.status & StatusByte.DATA_READY


def test_unwired_terminal_sees_an_open_circuit(resistor_4200):
    k = resistor_4200
    k.smu3.source_voltage(5.0, 1e-3)
    assert abs(k.smu3.measure_current().value) < 1e-12


def test_shutdown_leaves_every_output_at_zero_and_off(resistor_4200):
    k = resistor_4200
    k.smu1.source_voltage(3.0, 1e-3)
    rec = k.shutdown()
    assert rec["ok"] and rec["errors"] == []
    state = k.adapter.connection.visalib.instrument.smus
    assert not any(s.on for s in state.values())


def test_gpib_framing_has_no_ack_and_reads_the_status_byte_by_serial_poll():
    k = make_instrument(SimConfig(load="resistor:1e6"), resource=GPIB)
    assert k.framing == "gpib"
    k.smu2.source_voltage(0.0, 0.1)
    k.smu1.source_voltage(0.5, 1e-3)
    assert k.smu1.measure_current().value == pytest.approx(0.5e-6, rel=1e-3)
    r = k.list_sweep(1, np.array([0.0, 0.2, 0.4]), 1e-3, 0.001, ground_smu=2)
    assert r.i_meas_a == pytest.approx([0, 0.2e-6, 0.4e-6], abs=1e-10)
    k.write("XX9")
    with pytest.raises(KXCIError) as exc:
        k.check_errors()
    assert exc.value.code == -992


def test_malformed_and_misplaced_commands_get_the_instruments_error_codes(resistor_4200):
    k = resistor_4200
    cases = [("QQ1", -992), ("ul", -992), ("AC 1", -986), ("DV1,0,1,1E-3", -974), ("US", None),
             ("DV9,0,1,1E-3", -979), ("CH1, 'V1', 'I1', 1, 1", -975), ("DT 9", -975), ("DE", None),
             ("DT 0.1", -989), ("SS", None), ("DT 9", -993), ("VL1, 1, 1E-3", -993)]
    for cmd, code in cases:
        k.clear_errors()
        assert k.ask(cmd).strip() == "ACK"           # Ethernet: every command is answered
        if code is None:
            assert k.last_error() is None
            continue
        assert k.status & StatusByte.SYNTAX_ERROR, cmd
        assert k.last_error().code == code, cmd
        assert not k.status & StatusByte.SYNTAX_ERROR   # the serial poll cleared B1


def test_a_data_query_that_fails_raises_instead_of_returning_ack(resistor_4200):
    with pytest.raises(KXCIError) as exc:
        resistor_4200.query("DO 'NOPE'")
    assert exc.value.code == -993


def test_unknown_resource_is_refused_not_opened_silently():
    rm = pyvisa.ResourceManager(LabrcSimLibrary.create())
    for bad in ("TCPIP0::10.0.0.9::5025::SOCKET", "GPIB0::5::INSTR", "USB0::0x05E6::0x2450::1::INSTR"):
        with pytest.raises(visa_errors.VisaIOError):
            rm.open_resource(bad)
    # the KXCI socket answers on any host name, as the real instrument would on its IP
    assert rm.open_resource("TCPIP0::192.0.2.7::1225::SOCKET", read_termination="\0",
                            write_termination="\0").query("ID").startswith("KI4200A")
    assert set(rm.list_resources("?*")) == {ETHERNET, GPIB}


def test_each_library_is_a_separate_instrument():
    a, b = make_instrument(SimConfig(load="resistor:1e6")), make_instrument(SimConfig(load="resistor:1e6"))
    a.smu1.source_voltage(1.0, 1e-3)
    assert a.adapter.connection.visalib.instrument.smus[1].on
    assert not b.adapter.connection.visalib.instrument.smus[1].on


def test_long_replies_are_read_whole_not_byte_by_byte(resistor_4200):
    k = resistor_4200
    v = np.linspace(-1, 1, 4096)
    k.list_sweep(1, v, 1e-3, 0.0, integration=1, ground_smu=2)
    res = k.adapter.connection
    res.write("DO 'I1'")
    chunk, status = res.visalib.read(res.session, 1 << 20)     # one library read call (stock: one per byte)
    assert chunk.endswith(b"\0") and chunk.count(b",") == 4095  # the whole 4096-value reply at once
    assert status == pyvisa.constants.StatusCode.success
    # (the speed itself is measured in benchmarks/bench_sweep.py, not asserted here)


def test_pyvisa_sim_private_match_hook_is_still_what_we_override():
    """pyvisa-sim is pinned because the simulator overrides Device._match; this fails loudly on an upgrade."""
    from pyvisa_sim.devices import Device
    assert "_match" in vars(Device) and "_match" in vars(KxciDevice)
    lib = LabrcSimLibrary.create(SimConfig(load="open"))
    dev = lib.devices[ETHERNET]
    dev.write(b"*IDN?\0")                      # pyvisa-sim's Device.write -> our _match -> the queued reply
    assert bytes(dev._output_buffers.popleft()) == b"KEITHLEY INSTRUMENTS,KI4200A,1442736,V1.13\0"
    dev.write(b"BC\0")
    assert bytes(dev._output_buffers.popleft()) == b"ACK\0"


def test_pymeasures_unmodified_keithley4200_runs_against_the_simulator():
    from pymeasure.instruments.keithley import Keithley4200 as Upstream
    lib = LabrcSimLibrary.create(SimConfig(load="resistor:1e6"))
    k = Upstream(ETHERNET, visa_library=lib)
    k.smu2.voltage_setpoint = (0, 0.0, 1e-2)
    k.smu1.voltage_setpoint = (0, 0.8, 1e-2)
    assert k.smu1.current == pytest.approx(0.8e-6, rel=1e-3)
    assert k.status == 1


def test_instrument_limits_refuse_before_the_wire(resistor_4200):
    k = resistor_4200
    with pytest.raises(LimitError, match="icc_a"):
        k.smu1.source_voltage(1.0, 10e-9)
    assert not k.adapter.connection.visalib.instrument.smus[1].on


# --- issue 13: the SMU command groups, as the instrument answers them ----------------------------------
from sim_backend.kxci import Kxci4200


def chassis(**kw) -> Kxci4200:
    return Kxci4200(SimConfig(load="resistor:1e6", **kw))


def run(k: Kxci4200, *cmds: str) -> int:
    """Send commands; the code of the first error (0 if none)."""
    k.handle(":ERROR:LAST:CLEAR")
    for c in cmds:
        k.handle(c)
        if k.last_error[0]:
            return k.last_error[0]
    return 0


TWO_CHANNELS = ("DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 3", "SS", "VR1, 0, 1, 0.5, 1E-3",
                "VC2, 0, 1E-3", "MD", "ME1")


def test_start_up_4145b_channels_are_cleared_by_rst_not_displaced():
    k = chassis()
    assert run(k, *TWO_CHANNELS) == -991        # start-up set: CH3 is still VAR1 -> two VAR1 channels
    assert k.buffer.n == 0                      # and nothing was measured
    assert run(k, "*RST", *TWO_CHANNELS) == 0   # after *RST only the defined channels exist
    assert k.buffer.n == 3 and "V3" not in k.buffer.values


def test_each_smu_limits_itself_and_a_source_not_in_compliance_holds_its_value():
    k = chassis()
    assert run(k, "*RST", "DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 3", "SS", "VL1, 1, 0.1, 1.25",
               "VC2, 0, 1E-6", "MD", "ME1") == 0
    assert k.handle("DO 'V1'") == "N+1.250000E+00"          # the top SMU holds its 1.25 V
    assert k.handle("DO 'I2'") == "C-1.000000E-06"          # the bottom SMU is the one in compliance
    assert k.handle("DO 'V2'") == "C+2.500000E-01"          # and its own voltage moved: 1.25 V − 1 µA·1 MΩ


def test_setups_the_simulator_cannot_emulate_refuse_instead_of_running_another_test():
    cases = [
        ("DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 2", "SS", "VR1, 0, 1, 0.5, 1E-3", "MD", "ME1"),  # no VP
        ("DE", "CH1, 'V1', 'I1', 2, 1", "CH2, 'V2', 'I2', 2, 3", "SS", "IR1, 0, 1E-6, 5E-7, 5", "MD", "ME1"),
        ("DE", "CH1, 'V1', 'I1', 1, 4", "CH2, 'V2', 'I2', 1, 3", "MD", "ME1"),           # VAR1' without VAR1
        ("DE", "CH1, 'V1', 'I1', 1, 1", "SS", "IR1, 0, 1E-6, 5E-7, 5", "MD", "ME1"),     # I sweep on a V channel
        ("DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 2", "SS", "VR1, 0, 2, 0.01, 1E-3",
         "VP 0, 0.1, 32, 1E-3", "MD", "ME1"),                                             # 201 × 32 > 4096
    ]
    for cmds in cases:
        k = chassis()
        assert run(k, "*RST", *cmds) == -991, cmds
        assert k.buffer.n == 0, cmds


def test_display_only_commands_are_accepted_on_the_sm_page():
    k = chassis()
    assert run(k, "SM", "XN 'V1', 1, 0, 5", "YA 'I1', 3, 1E-9, 1E-3", "YB 'I2', 1, 0, 1", "XT 0, 10") == 0
    assert run(k, "SS", "XN 'V1', 1, 0, 5") == -989


def test_gpib_data_ready_requests_service_and_a_serial_poll_clears_it():
    k = chassis()
    assert run(k, "*RST", "DR1", *TWO_CHANNELS) == 0
    assert k.service_requested()
    assert k.serial_poll() == 65                # B6 (RQS) with B0 (data ready)
    assert k.serial_poll() == 0                 # the poll cleared both
    assert run(k, "DR0", "ME1") == 0 and k.serial_poll() == 1


def test_wait_for_srq_works_through_the_library_and_times_out_without_a_request():
    lib = LabrcSimLibrary.create(SimConfig(load="resistor:1e6"))
    rm = pyvisa.ResourceManager(lib)
    inst = rm.open_resource(SimConfig.gpib_resource, write_termination="\n", read_termination="\n")
    with pytest.raises(visa_errors.VisaIOError):
        inst.wait_for_srq(50)                   # nothing requested service
    for c in ("*RST", "DR1") + TWO_CHANNELS:
        inst.write(c)
    inst.wait_for_srq(2000)
    assert inst.read_stb() == 0                 # wait_for_srq's own poll read 65 and cleared it
    assert inst.query("RD 'I1', 3") == "1.000000E-06"
    rm.close()


def test_wait_for_srq_waits_for_the_end_of_a_paced_test():
    lib = LabrcSimLibrary.create(SimConfig(load="resistor:1e6", realtime_factor=1.0))
    inst = pyvisa.ResourceManager(lib).open_resource(SimConfig.gpib_resource, read_termination="\n")
    for c in ("*RST", "DR1", "DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 3", "SS",
              "VL1, 1, 1E-3, 0, 0.1, 0.2", "DT 0.05", "MD", "ME1"):
        inst.write(c)
    assert inst.read_stb() & 16                 # busy: the test takes ~0.16 s of wall time
    inst.wait_for_srq(5000)
    assert lib.instrument.buffer.available(1.0) == 3   # the SRQ came when every point was measured


def test_cards_are_configuration_and_absent_cards_get_the_instruments_answer():
    k = chassis(cards=["SMU1", "SMUPA2", "PMU1"])
    assert k.handle("*OPT?") == "SMU1,SMUPA2,PMU1"
    assert run(k, "US", "DI1, 11, 1E-12, 1") == -991          # 1 pA range needs a preamp
    assert run(k, "US", "DI2, 11, 1E-12, 1") == 0             # SMU2 has one
    assert run(k, "US", "DV1, 4, 0.1, 1E-3") == -991          # 200 mV range: preamp only
    assert run(k, "US", "TI3") == -979                        # no SMU3 in this chassis
    assert run(k, ":CVU:RESET") == -988                       # no CVU card
    assert run(chassis(cards=["SMU1", "SMU2", "CVU1"]), ":CVU:RESET") == -986   # CVU present, not simulated


def test_exit_on_compliance_ends_the_test_at_the_first_point_in_compliance():
    k = chassis()
    assert run(k, "*RST", "EC 1", "DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 3", "SS",
               "VL1, 1, 1E-6, 0, 0.5, 1, 1.5, 2", "VC2, 0, 0.1", "MD", "ME1") == 0
    assert k.handle("DO 'I1'").split(",")[-1] == "C+1.000000E-06" and k.buffer.n == 4


def test_log_sweeps_run_and_bad_log_limits_are_argument_errors():
    k = chassis()
    assert run(k, "*RST", "DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 3", "SS", "VR2, 0.1, 10",
               "MD", "ME1") == 0
    assert k.buffer.n == 21                                   # log10: 10 points per decade, 2 decades
    assert run(k, "SS", "VR2, 0, 10") == -993                 # a log sweep cannot start at 0
