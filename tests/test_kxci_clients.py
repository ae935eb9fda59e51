"""The client programs of tests/kxci_clients/, run unmodified under PYVISA_LIBRARY=@labrc.

Each program is a plain pyvisa script written from the manual's / Tektronix's examples (no labrc
import). Here they run against the simulator with a 1 MΩ calibration resistor between SMU1 (top)
and SMU2 (bottom), configured by a labrc.toml before the ``@labrc``, and every point is checked
against Ohm's law and the programmed sweep — right count, right values, right status letters.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CLIENTS = Path(__file__).parent / "kxci_clients"
R_OHM = 1e6
I_TOL_A = 1e-12          # the calibration resistor's read noise is 10 fA (sim_backend/loads.py)


def run_client(name: str, tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "labrc.toml"
    cfg.write_text(f'[sim]\nload = "resistor:{R_OHM:g}"\n')
    env = dict(os.environ, PYVISA_LIBRARY=f"{cfg}@labrc")
    env.pop("KXCI_RESOURCE", None)
    p = subprocess.run([sys.executable, str(CLIENTS / name)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    out = dict(ln.split(" ", 1) for ln in p.stdout.splitlines() if " " in ln)
    assert out["ERR"] == "No error. (0)"
    return out


def floats(text: str) -> np.ndarray:
    return np.array([float(x) for x in text.split(",")], dtype=np.float64)


def do_block(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A DO reply ``N+1.0E-06,C+2.0E-06,…`` → values, status letters."""
    items = text.split(",")
    letters = np.array([x[0] if x[0].isalpha() else "N" for x in items])
    return np.array([float(x.lstrip("NC ")) for x in items]), letters


def test_linear_sweep_after_rst_defines_only_its_channels(tmp_path):
    out = run_client("sweep_linear_rd.py", tmp_path)
    v, i, ib = floats(out["AV"]), floats(out["AI"]), floats(out["BI"])
    assert v.size == 51                                   # -1 … 1 V in 40 mV: int(2/0.04 + 1.5)
    assert v == pytest.approx(np.linspace(-1, 1, 51))
    assert i == pytest.approx(v / R_OHM, abs=I_TOL_A)      # I = V / 1 MΩ on every point
    assert ib == pytest.approx(-i, abs=2 * I_TOL_A)         # the return current at the bottom SMU


def test_log_sweep_has_50_points_per_decade(tmp_path):
    out = run_client("sweep_log.py", tmp_path)
    v1, i1, v2 = floats(out["V1"]), floats(out["I1"]), floats(out["V2"])
    assert v1.size == 101                                  # 10 mV … 1 V, log50: 2 decades × 50 + 1
    assert v1 == pytest.approx(10e-3 * 10 ** (np.arange(101) / 50), rel=1e-6)
    assert i1 == pytest.approx(v1 / R_OHM, rel=1e-3, abs=I_TOL_A)
    assert np.all(v2 == 0)


def test_dual_list_sweep_read_with_do(tmp_path):
    out = run_client("sweep_list_do.py", tmp_path)
    i, si = do_block(out["ID"])
    v, _ = do_block(out["VD"])
    t = floats(out["CH1T"])
    assert i.size == v.size == t.size == 21
    assert v == pytest.approx(np.r_[np.arange(11), np.arange(9, -1, -1)] * 0.1)
    assert i == pytest.approx(v / R_OHM, abs=I_TOL_A)
    assert set(si) == {"N"}                                 # 1 µA at most against a 1 mA compliance
    assert np.diff(t) == pytest.approx(0.01 + 1.0 / 60, abs=3e-7)   # DT 10 ms + 1 PLC at 60 Hz; 7 digits


def test_sampling_mode_takes_nr_readings_in_apart(tmp_path):
    out = run_client("sampling.py", tmp_path)
    i, i_s, t = floats(out["ID"]), floats(out["IS"]), floats(out["CH1T"])
    assert i.size == i_s.size == t.size == 20              # NR 20
    assert i == pytest.approx(0.3 / R_OHM, abs=I_TOL_A)
    assert i_s == pytest.approx(-i, abs=2 * I_TOL_A)
    assert t[0] == pytest.approx(0.5 + 0.1 / 60, abs=1e-5)  # WT 0.5 s, then a 0.1 PLC reading (RS 5)
    assert np.diff(t) == pytest.approx(0.05, abs=2e-4)      # IN 50 ms, printed with 5 digits


def test_family_of_curves_over_gpib_with_srq(tmp_path):
    out = run_client("family_of_curves_gpib.py", tmp_path)
    vd, vg, i = floats(out["VD"]), floats(out["VG"]), floats(out["ID"])
    assert vd.size == vg.size == i.size == 44              # 11 VAR1 points × 4 VAR2 steps
    assert vg == pytest.approx(np.repeat([0, -0.25, -0.5, -0.75], 11))   # VAR2 outer loop
    assert vd == pytest.approx(np.tile(np.linspace(0, 1, 11), 4))       # VAR1 inner loop
    assert i == pytest.approx((vd - vg) / R_OHM, abs=I_TOL_A)
    assert out["STB_AFTER"] == "0"                          # the SRQ's serial poll cleared B0 and B6


def test_var1_prime_follows_var1_times_ratio_plus_offset(tmp_path):
    out = run_client("var1_prime.py", tmp_path)
    v1, _ = do_block(out["V1"])
    v2, _ = do_block(out["V2"])
    v3, _ = do_block(out["V3"])
    i1, _ = do_block(out["I1"])
    assert v1.size == 11
    assert v2 == pytest.approx(0.5 * v1 - 0.2)              # RT 0.5, 2; FS -0.2, 2
    assert v3 == pytest.approx(v1)                          # RT 1, 3; SMU3 is not on the device
    assert i1 == pytest.approx((v1 - v2) / R_OHM, abs=I_TOL_A)


def test_current_sweep_until_the_voltage_compliance(tmp_path):
    out = run_client("current_sweep.py", tmp_path)
    i_meas, v = floats(out["I1"]), floats(out["V1"])
    i_prog = 1e-7 * np.arange(1, 31)
    assert v.size == 30
    free = i_prog * R_OHM < 1.95
    assert free.sum() == 19
    assert v[free] == pytest.approx(i_prog[free] * R_OHM, rel=1e-6)       # V = I · 1 MΩ
    assert i_meas[free] == pytest.approx(i_prog[free], abs=I_TOL_A)
    assert v[~free] == pytest.approx(1.95)                                 # held at the 1.95 V compliance
    assert i_meas[~free] == pytest.approx(1.95 / R_OHM, abs=I_TOL_A)       # the current 1.95 V drives
    _, status = do_block(out["S1"])
    assert (status == "C").tolist() == (~free).tolist()


def test_voltage_source_and_voltmeter_channels(tmp_path):
    out = run_client("voltage_source_monitor.py", tmp_path)
    vs, _ = do_block(out["VSRC"])
    vm, _ = do_block(out["VMON"])
    assert vs == pytest.approx([0, 0.5, 1.0, 1.5, 2.0])
    assert vm == pytest.approx(vs)          # the voltmeter on the other electrode: no current, no drop
    assert out["TV1"][:3] == "NAV" and float(out["TV1"][3:]) == pytest.approx(1.5)
    assert out["TV5"][:3] == "NEV" and float(out["TV5"][3:]) == pytest.approx(1.5)   # VM1 = letter E


def test_user_mode_voltage_and_current_sources(tmp_path):
    out = run_client("user_mode_iv.py", tmp_path)
    v, i = floats(out["V"]), floats(out["I"])
    assert i == pytest.approx(v / R_OHM, abs=I_TOL_A)
    assert float(out["TV1"][3:]) == pytest.approx(2e-6 * R_OHM, rel=1e-6)  # DI 2 µA into 1 MΩ
    assert int(out["SP"]) == 65                              # DR1: data ready B0 with RQS B6
