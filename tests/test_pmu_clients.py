"""PMU client programs of tests/kxci_clients/ (written from the manual's and Tektronix's examples) run
unmodified under ``PYVISA_LIBRARY=<labrc.toml>@labrc`` with a 1 MΩ calibration resistor under the
probes: every point count and every value is checked against the physics (I = V / 1 MΩ) and the
reference (§4.2 sample rate, §4.4 data format and status word).

``CHECKS`` maps a client to its checker; tests/test_sim_serve.py applies the same checkers to the same
programs run through ``labrc sim serve`` with pyvisa-py.
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


def value(out: str, key: str) -> str:
    return next(ln.split(" ", 1)[1] for ln in out.splitlines() if ln.startswith(key + " "))


def rows(text: str) -> list[list[str]]:
    return [p.split(",") for p in text.split(";")]


def cols(text: str, width: int = 4) -> tuple[np.ndarray, ...]:
    """Float columns and the status words of ``V,I,T,S[,…]`` points."""
    r = rows(text)
    assert all(len(p) == width for p in r), "every point holds the same fields"
    out = []
    for k in range(width):
        if k % 4 == 3:
            assert all(len(p[k]) == 8 for p in r)
            out.append(np.array([int(p[k], 16) for p in r], dtype=np.uint32))
        else:
            out.append(np.array([float(p[k]) for p in r]))
    return tuple(out)


def digit(words: np.ndarray, k: int) -> np.ndarray:
    """Digit k (0 = A … 7 = H) of the status words (REF-C p. 6-78)."""
    return (words >> np.uint32(4 * (7 - k))) & np.uint32(0xF)


def ohmic(v: np.ndarray, i: np.ndarray) -> None:
    assert np.allclose(i, v / R_OHM, rtol=1e-3, atol=1e-12)     # 10 fA noise floor << 1e-12 A


def check_sarb_spot_mean(out: str) -> None:
    n = int(value(out, "COUNT"))
    assert n == 3 * 25                                   # three spot-mean windows per pass, 25 loops
    v, i, t, s = cols(value(out, "DATA"))
    assert v.size == n
    assert np.allclose(v, np.tile([0.5, 2.0, 0.5], 25))
    ohmic(v, i)
    assert np.allclose(np.diff(t[::3]), 44e-6)           # one pass of the sequence is 44 µs
    assert set(digit(s, 3)) == {1} and set(digit(s, 1)) == {1}   # D spot mean, B RPM
    assert set(digit(s, 6)) == {3} and set(digit(s, 7)) == {1}   # G 100 µA range, H ch1 10 V
    assert value(out, "ERR") == "No error. (0)"


def check_sarb_waveform(out: str) -> None:
    n = int(value(out, "COUNT_SHORT"))
    assert n == round((1e-6 + 2e-6) * 200e6)                   # 600 samples at the default 200 MS/s
    v, i, t, s = cols(value(out, "DATA_SHORT"))
    assert v.size == n and set(digit(s, 3)) == {2}       # D = 2: waveform
    assert np.allclose(np.diff(t), 5e-9)
    assert np.allclose(v[:200], np.arange(200) / 200)    # the 0 -> 1 V ramp, sample by sample
    assert np.allclose(v[200:], 1.0)
    ohmic(v, i)
    n_long = int(value(out, "COUNT_LONG"))
    # 1.001 ms at 200 MS/s is 200 200 samples: the rate falls to 200 MS/s / 4 to stay <= 65 536
    assert n_long == 50 + 50_000
    v, i, t, s = cols(value(out, "DATA_LONG"))
    assert v.size == n_long and np.allclose(np.diff(t[50:]), 20e-9)
    ohmic(v, i)


def check_pulse_train(out: str) -> None:
    n = int(value(out, "WAVE_COUNT"))
    # pre 0.2 x 50 µs before the rise (clipped at t = 0) to 0.2 x 50 µs after the fall: 0 … 65 µs
    assert n == round(65e-6 * 200e6)
    v, i, t, s = cols(value(out, "WAVE"))
    assert v.size == n and v.max() == pytest.approx(5.0) and v.min() == pytest.approx(0.0)
    # FWHM width: the top lasts width - (rise + fall) / 2 = 45 µs, from 5 µs (end of the rise) to 50 µs
    top = (t > 5e-6 - 1e-12) & (t < 50e-6 - 1e-12)
    assert top.sum() == round(45e-6 * 200e6) and np.allclose(v[top], 5.0)
    assert np.all(v[(t < 5e-6 - 1e-12) | (t > 55e-6 + 1e-12)] < 5.0)
    ohmic(v, i)
    assert set(digit(s, 3)) == {2} and set(digit(s, 6)) == {2}    # waveform, 10 µA range (RPM)
    assert int(value(out, "SPOT_COUNT")) == 20                   # one spot mean per pulse of the burst
    vh, ih, th, sh, vl, il, tl, sl = cols(value(out, "SPOT"), 8)
    assert np.allclose(vh, 5.0) and np.allclose(vl, 0.0)
    ohmic(vh, ih)
    ohmic(vl, il)
    assert np.allclose(np.diff(th), 100e-6) and np.all(tl > th)
    assert set(digit(sh, 3)) == {1}


def check_pulse_sweep(out: str) -> None:
    assert int(value(out, "COUNT")) == 51                        # 0 … 5 V in 0.1 V, burst averaged
    vh, ih, th, sh, vl, il, tl, sl = cols(value(out, "DATA"), 8)
    assert np.allclose(vh, np.linspace(0, 5, 51)) and np.allclose(vl, 0.0)
    ohmic(vh, ih)
    assert np.allclose(np.diff(th), 10 * 10e-6)                 # 10 pulses of 10 µs per step
    assert set(digit(sh, 0)) == {3} and set(digit(sh, 6)) == {5}   # A LLEC ok, G 10 mA range
    assert value(out, "ERR") == "No error. (0)"


CHECKS = {
    "pmu_sarb_spot_mean.py": check_sarb_spot_mean,
    "pmu_sarb_waveform.py": check_sarb_waveform,
    "pmu_pulse_train.py": check_pulse_train,
    "pmu_pulse_sweep.py": check_pulse_sweep,
}


@pytest.fixture(scope="module")
def resistor_toml(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "labrc.toml"
    p.write_text('[sim]\nload = "resistor:1e6"\n')
    return p


@pytest.mark.parametrize("client", sorted(CHECKS))
def test_pmu_client_runs_unmodified_under_labrc(client, resistor_toml, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KXCI_RESOURCE"}
    env["PYVISA_LIBRARY"] = f"{resistor_toml}@labrc"
    p = subprocess.run([sys.executable, str(CLIENTS / client)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    CHECKS[client](p.stdout)
