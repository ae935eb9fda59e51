"""Any pyvisa program runs unchanged against the simulated 4200 with PYVISA_LIBRARY=@labrc."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyvisa
import pytest
from hypothesis import given, settings, strategies as st

from sim_backend.kxci import Kxci4200, SimConfig
from sim_backend.library import LabrcSimLibrary

CLIENTS = Path(__file__).parent / "kxci_clients"


def run_client(name: str, cwd: Path) -> str:
    env = dict(os.environ, PYVISA_LIBRARY="@labrc")
    p = subprocess.run([sys.executable, str(CLIENTS / name)], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def value(out: str, key: str) -> str:
    return next(ln.split(" ", 1)[1] for ln in out.splitlines() if ln.startswith(key + " "))


def test_manual_var1_sweep_read_with_rd_polling(tmp_path):
    out = run_client("var1_sweep_rd.py", tmp_path)
    assert out.startswith("KEITHLEY INSTRUMENTS,KI4200A")
    assert int(value(out, "POINTS")) == 11                  # 0 → 1 V in 0.1 V steps; RD past the end answers 0


def test_manual_list_sweep_read_with_do_over_gpib(tmp_path):
    out = run_client("list_sweep_do.py", tmp_path)
    assert int(value(out, "N")) == 5
    assert all(x[0] in "NC" for x in value(out, "ID").split(","))   # status letter on every reading


def test_manual_user_mode_exchange(tmp_path):
    out = run_client("user_mode.py", tmp_path)
    ti = value(out, "TI1")
    assert ti[1:3] == "AI" and ti[0] in "NC"
    assert value(out, "ERR") == "No error. (0)"


def test_manual_segment_arb_pulse_read_with_pmu_data_get(tmp_path):
    out = run_client("segment_arb.py", tmp_path)
    assert int(value(out, "COUNT")) == 2                     # two spot-mean windows
    points = [p.split(",") for p in value(out, "DATA").split(";")]
    assert [float(p[0]) for p in points] == pytest.approx([1.0, 1.5])
    assert all(len(p[3]) == 8 for p in points)               # 8-hex-digit status word


def test_pymeasures_unmodified_driver_through_the_backend_name():
    from pymeasure.instruments.keithley import Keithley4200
    k = Keithley4200("TCPIP0::k4200.example::1225::SOCKET", visa_library="@labrc")
    k.smu2.voltage_setpoint = (0, 0.0, 1e-2)
    k.smu1.voltage_setpoint = (0, 0.05, 1e-2)
    assert k.smu1.current > 0
    k.adapter.close()


def test_a_labrc_toml_before_the_at_configures_the_die(tmp_path):
    cfg = tmp_path / "labrc.toml"
    cfg.write_text('[sim]\npreset = "OGB-Au"\nseed = 3\n')
    rm = pyvisa.ResourceManager(f"{cfg}@labrc")
    assert rm.visalib.instrument.config.preset == "OGB-Au" and rm.visalib.instrument.config.seed == 3
    assert set(rm.list_resources("?*")) == {SimConfig.tcpip_resource, SimConfig.gpib_resource}
    with pytest.raises(pyvisa.errors.VisaIOError):
        rm.open_resource("ASRL1::INSTR")
    rm.close()


KXCI_WORDS = ["DE", "SS", "SM", "MD", "US", "CH1", "CH2, 'V2', 'I2', 1, 3", "VL1, 1, 1E-3, 0, 0.5", "VC2, 0, 0.1",
              "ME1", "ME4", "DO 'I1'", "RD 'I1', 2", "TI1", "TV1", "DV1,0,0.5,1E-3", "DV1", "BC", "SP", "*RST",
              ":PMU:INIT 1", ":PMU:EXECUTE", ":PMU:DATA:GET 1, 0, 5", ":ERROR:LAST:GET", "IT1", "HT 0", "DT 0.01",
              # the groups of issue 13: VAR2, log and current sweeps, VAR1', sampling, VS/VM, display, SRQ, cards
              "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 2", "CH2, 'V2', 'I2', 1, 4", "CH1, 'V1', 'I1', 2, 1",
              "CH3, 'V3', 'I3', 2, 3", "VP 0, 0.1, 3, 1E-3", "IP 0, 1E-7, 2, 5", "VR4, 1E-2, 1", "VR2, 0, 1",
              "VR1, 0, 1, 0.25, 1E-3", "IR1, 1E-7, 1E-6, 1E-7, 2", "IL1, 1, 5, 1E-7, 2E-7", "IC2, 0, 2",
              "RT 0.5, 2", "FS 0.1", "NR 5", "IN 0.02", "WT 0.1", "XN 'V1', 1, 0, 1", "YA 'I1', 3, 1E-9, 1E-3",
              "YB 'I2', 1, 0, 1", "XT 0, 1", "MP 1, VS1", "MP 2, VM1", "MP 1, SMU1", "VS1, 'VS', 1", "VM1, 'VM'",
              "SC1, 0.5", "DS1, 1", "DS1", "TV5", "DI1,0,1E-6,2", "DI2,11,1E-12,1", "DR1", "EC 1",
              "IT4, 1, 1, 0.5", ":CVU:RESET", "PS1", "ME3", "ST 1, 1"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(KXCI_WORDS), st.text(max_size=40)), max_size=6),
       st.sampled_from([";", " ", ";;", ","]))
def test_fuzzed_messages_get_instrument_errors_never_exceptions(parts, sep):
    inst = Kxci4200(SimConfig(load="resistor:1e6"))
    inst.handle(sep.join(parts))                                 # must not raise
    assert inst.internal_errors == []                            # no simulator bug hidden behind an error
    # and the instrument still works afterwards
    inst.handle("*RST;MP 1, SMU1;MP 2, SMU2")                    # MP maps (like KCon) survive *RST
    inst.handle("US")
    inst.handle(":ERROR:LAST:CLEAR")
    inst.handle("DV2,0,0,0.1;DV1,0,1,1E-3")
    reply = inst.handle("TI1")
    assert reply is not None and reply[1:3] == "AI"
    assert float(reply[3:]) == pytest.approx(1e-6, rel=0.05)


def test_list_resources_default_query_shows_both_framings():
    rm = pyvisa.ResourceManager(LabrcSimLibrary.create())
    assert set(rm.list_resources()) == {SimConfig.tcpip_resource, SimConfig.gpib_resource}
    assert rm.list_resources("GPIB?*") == (SimConfig.gpib_resource,)
    rm.close()


def test_the_simulator_library_does_not_import_labrc():
    code = ("import sys; import sim_backend.library, sim_backend.kxci; "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('labrc', 'instruments')], sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
