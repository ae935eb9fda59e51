"""``labrc check``: the instrument looked at before any voltage — identity, cards, wiring, error queue — then
the verified 0 V shutdown; every way of not reaching it is one line saying what to do, exit 2."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from test_cli import labrc
from test_sim_serve import Server


def test_check_on_the_simulator_reports_the_chassis_and_verifies_0_v(tmp_path: Path):
    p = labrc("check", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = dict(ln.split(None, 1) for ln in p.stdout.splitlines())
    assert out["identity"].startswith("KEITHLEY INSTRUMENTS,KI4200A")
    assert out["cards"] == "SMU1, SMU2, SMU3, SMU4, PMU1"
    assert out["wiring"].startswith("top = SMU1 (Ag top electrode), bottom = SMU2")
    assert out["error"] == "queue empty"
    assert out["safe"].startswith("state  verified: SMU1 0 V off, SMU2 0 V off") and out["check"] == "ok"
    assert not list(tmp_path.rglob("run.h5"))                      # a check is not a run


def test_check_takes_the_same_overrides_as_run(tmp_path: Path):
    p = labrc("check", "--set", 'instrument.bottom="GNDU"', "--set", 'sim.cards=["SMU1", "SMUPA2", "PMU1"]',
              cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "cards       SMU1, SMUPA2, PMU1" in p.stdout and "SMUs        SMU1, SMU2 (preamp)" in p.stdout
    assert "bottom = GNDU (ITO bottom electrode, ground unit)" in p.stdout


def test_a_wiring_the_chassis_does_not_have_is_one_line_exit_2(tmp_path: Path):
    p = labrc("check", "--set", 'instrument.top="SMU7"', cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == "" and len(p.stderr.splitlines()) == 1 and "no SMU7" in p.stderr


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def silent_server():
    """A TCP server that accepts and never answers (a 4200 whose KXCI hangs)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    held: list = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()


VISA_PY = ("--set", 'instrument.backend="visa"', "--set", 'instrument.visa_library="@py"')


@pytest.mark.parametrize("case", ["nonexistent resource", "not a resource name", "unknown VISA library",
                                  "no VISA implementation", "refused", "timeout"])
def test_every_connection_failure_is_one_line_saying_what_to_do_exit_2(tmp_path: Path, case, silent_server):
    args, expect = {
        "nonexistent resource": (("--set", 'instrument.resource="USB0::0x05E6::0x4200::NOPE::INSTR"'),
                                 "no such instrument"),
        "not a resource name": (VISA_PY + ("--set", 'instrument.resource="k4200"'), "not a VISA resource name"),
        "unknown VISA library": (("--set", 'instrument.backend="visa"', "--set", 'instrument.visa_library="@nope"'),
                                 "no VISA implementation"),
        "no VISA implementation": (("--set", 'instrument.backend="visa"', "--set",
                                    'instrument.visa_library="/nonexistent/libvisa.so"'), "no VISA implementation"),
        "refused": (VISA_PY + ("--set", f'instrument.resource="TCPIP0::127.0.0.1::{_closed_port()}::SOCKET"'),
                    "Connection refused"),
        "timeout": (VISA_PY + ("--set", f'instrument.resource="TCPIP0::127.0.0.1::{silent_server}::SOCKET"',
                               "--set", "instrument.timeout_s=0.5"), "within 0.5 s"),
    }[case]
    p = labrc("check", *args, cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stdout == "" and len(p.stderr.splitlines()) == 1, p.stderr
    assert p.stderr.startswith("labrc: error: instrument.") and expect in p.stderr, p.stderr


def test_check_and_a_run_through_a_real_socket_with_pyvisa_py_as_on_hardware(tmp_path: Path):
    """The instrument behind TCP as a real 4200 is: check passes; a run without --device is 'unnamed', told."""
    srv = Server()
    try:
        over = (*VISA_PY, "--set", f'instrument.resource="{srv.resource}"')
        p = labrc("check", *over, cwd=tmp_path)
        srv.wait_log("client disconnected")          # one client at a time: the next connects once it left
        r = labrc("run", "iv-sweep", "--preset", "volatile", "--no-progress", "--set", 'data.dir="runs"', *over,
                  cwd=tmp_path)
    finally:
        assert srv.stop() == 0
    assert p.returncode == 0, p.stderr
    assert "KEITHLEY INSTRUMENTS" in p.stdout and "safe state  verified" in p.stdout
    assert r.returncode == 0, r.stderr
    assert "labrc: warning: no device name" in r.stderr and "--device" in r.stderr
    (run_dir,) = [f.parent for f in (tmp_path / "runs").rglob("run.h5")]
    assert "_iv_unnamed_" in run_dir.name
