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
