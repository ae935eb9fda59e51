"""``labrc sim serve``: the simulated chassis behind a real loopback TCP socket (KXCI Ethernet framing),
reached with pyvisa-py's ``TCPIP0::127.0.0.1::<port>::SOCKET`` transport and with raw sockets.

The server runs as a real subprocess (``python -m labrc sim serve --port 0``); the test reads the bound
port from its first line, so nothing waits on a clock.

**Client convention (tests/kxci_clients/).** Every client takes its VISA resource string from
``sys.argv[1]``, else from the environment variable ``KXCI_RESOURCE``, else its own default. A client
is *socket-capable* when it does so (its source mentions ``KXCI_RESOURCE``) and speaks the Ethernet
framing (it opens the resource with ``write_termination="\\0"``); GPIB clients (``"\\n"``) are not.
Every socket-capable client is run here, unmodified, with ``PYVISA_LIBRARY=@py`` and the server's
resource, against a 1 MΩ resistor under the probes; it must exit 0, and where tests/test_pmu_clients.py
has a checker for it, its output must pass that checker too.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from test_pmu_clients import CHECKS

CLIENTS = Path(__file__).parent / "kxci_clients"
SOCKET_CLIENTS = sorted(p.name for p in CLIENTS.glob("*.py")
                        if "KXCI_RESOURCE" in (src := p.read_text()) and 'write_termination="\\0"' in src)
ROOT = Path(__file__).resolve().parents[1]


class Server:
    """A ``labrc sim serve`` subprocess on a free loopback port."""

    def __init__(self, *sets: str):
        args = [sys.executable, "-m", "labrc", "sim", "serve", "--port", "0"]
        for s in sets:
            args += ["--set", s]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, bufsize=0)
        self.lines: list[str] = []
        self._buf = b""
        self.wait_log("listening on", 30.0)
        m = re.search(r"listening on (\S+):(\d+)", next(ln for ln in self.lines if "listening on" in ln))
        self.host, self.port = m.group(1), int(m.group(2))
        self.resource = f"TCPIP0::127.0.0.1::{self.port}::SOCKET"

    def _pump(self, timeout_s: float) -> bool:
        """Read what the server printed (up to ``timeout_s``); False at end of output."""
        ready, _, _ = select.select([self.proc.stdout], [], [], max(timeout_s, 0.0))
        if not ready:
            return True
        chunk = os.read(self.proc.stdout.fileno(), 65_536)
        self._buf += chunk
        *done, self._buf = self._buf.split(b"\n")
        self.lines += [ln.decode() for ln in done]
        return bool(chunk)

    def wait_log(self, text: str, timeout_s: float = 10.0) -> None:
        """Wait until the server has logged ``text`` (its log is the condition, not a clock)."""
        deadline = time.monotonic() + timeout_s
        while not any(text in ln for ln in self.lines):
            assert time.monotonic() < deadline, f"server never logged {text!r}: {self.lines}"
            assert self._pump(deadline - time.monotonic()), f"server exited: {self.lines}"

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        deadline = time.monotonic() + 15
        while self._pump(deadline - time.monotonic()):
            assert time.monotonic() < deadline, "server did not stop"
        return self.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def server():
    srv = Server("sim.load=resistor:1e6")
    yield srv
    assert srv.stop() == 0 and "stopped" in srv.lines[-1]


class Raw:
    """A raw KXCI socket client: commands end with NUL, every reply ends with NUL."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self, chunk: int = 65_536) -> bytes:
        while b"\0" not in self.buf:
            got = self.sock.recv(chunk)
            if not got:
                raise EOFError("server closed the connection")
            self.buf += got
        out, _, self.buf = self.buf.partition(b"\0")
        return out

    def query(self, cmd: str) -> str:
        self.send(cmd.encode() + b"\0")
        return self.reply().decode()

    def close(self) -> None:
        self.sock.close()


def connect_when_free(port: int, timeout_s: float = 10.0) -> Raw:
    """Connect as soon as the server serves a new client (the previous one may still be closing)."""
    deadline = time.monotonic() + timeout_s
    while True:
        c = Raw(port)
        try:
            assert c.query("*IDN?").startswith("KEITHLEY INSTRUMENTS,KI4200A")
            return c
        except EOFError:
            c.close()
            assert time.monotonic() < deadline, "the server kept refusing new clients"


def test_binds_loopback_by_default(server):
    assert server.host == "127.0.0.1"


@pytest.mark.parametrize("client", SOCKET_CLIENTS)
def test_socket_capable_client_runs_unmodified_with_pyvisa_py(server, client, tmp_path):
    env = dict(os.environ, PYVISA_LIBRARY="@py", KXCI_RESOURCE=server.resource)
    p = subprocess.run([sys.executable, str(CLIENTS / client), server.resource], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    if client in CHECKS:
        CHECKS[client](p.stdout)


def test_pmu_clients_are_socket_capable():
    assert set(CHECKS) <= set(SOCKET_CLIENTS)


def test_labrc_driver_runs_an_iv_sweep_through_the_socket(tmp_path):
    # a chassis of its own: client programs may leave SMUs mapped as VS/VM (MP), which outlives a connection
    server = Server("sim.load=resistor:1e6")
    try:
        p = _run_iv_sweep(server, tmp_path)
    finally:
        assert server.stop() == 0
    assert p.returncode == 0, p.stderr + p.stdout
    (run,) = tmp_path.glob("*/run.h5")
    with h5py.File(run) as f:
        assert f["entry/status"][()].decode() == "completed"
        pts = f["entry/points"]
        v, i, icc, comp = (pts[k][()] for k in ("v_meas", "i_meas", "icc", "compliance"))
    assert v.size > 100
    free = ~comp.astype(bool)
    assert np.allclose(i[free], v[free] / 1e6, rtol=1e-3, atol=1e-12)   # the 1 MΩ resistor
    assert np.all(np.abs(i[~free]) <= icc[~free] * 1.001)                # clamped at Icc in compliance


def _run_iv_sweep(server: Server, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labrc", "run", "iv-sweep", "--no-progress",
                          "--set", "instrument.backend=visa", "--set", "instrument.visa_library=@py",
                          "--set", f"instrument.resource={server.resource}", "--set", f"data.dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_commands_split_across_segments_and_packed_in_one(server):
    c = connect_when_free(server.port)
    c.send(b"*ID")                        # half a command in one segment …
    c.send(b"N?\0US\0DV2,0,0,")           # … the rest, a whole one and half of the next in another
    c.send(b"1E-3\0")
    assert c.reply().startswith(b"KEITHLEY INSTRUMENTS,KI4200A")
    assert c.reply() == b"ACK" and c.reply() == b"ACK"
    c.close()


def test_a_long_reply_read_in_small_pieces(server):
    c = connect_when_free(server.port)
    for cmd in (":PMU:INIT 1", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:MEASURE:RANGE 1, 2, 10e-6",
                ":PMU:SARB:SEQ:STARTV 1, 1, 0, 1, 1", ":PMU:SARB:SEQ:STOPV 1, 1, 1, 1, 0",
                ":PMU:SARB:SEQ:TIME 1, 1, 1e-6, 20e-6, 1e-6", ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 2, 0",
                ":PMU:SARB:SEQ:MEAS:START 1, 1, 0, 0, 0", ":PMU:SARB:SEQ:MEAS:STOP 1, 1, 0, 20e-6, 0",
                ":PMU:SARB:WFM:SEQ:LIST 1, 1, 1", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"):
        assert c.query(cmd) == "ACK", cmd
    assert c.query(":PMU:DATA:COUNT? 1") == "4000"
    c.send(b":PMU:DATA:GET 1, 0, 2048\0")
    data = c.reply(chunk=1000).decode()       # ~80 kB through 1000-byte reads
    pts = [p.split(",") for p in data.split(";")]
    assert len(pts) == 2048 and all(len(p) == 4 for p in pts)
    v, i = np.array([[float(p[0]), float(p[1])] for p in pts]).T
    assert np.allclose(v, 1.0) and np.allclose(i, 1e-6, rtol=1e-3)
    c.close()


def test_a_second_client_is_refused_and_the_first_keeps_working(server):
    first = connect_when_free(server.port)
    second = Raw(server.port)
    with pytest.raises(EOFError):
        second.query("*IDN?")
    second.close()
    assert first.query("*IDN?").startswith("KEITHLEY INSTRUMENTS")
    first.close()
    server.wait_log("refused")


def test_client_disconnecting_mid_test_aborts_it_and_the_chassis_stays_usable():
    srv = Server("sim.load=resistor:1e6", "sim.realtime_factor=1")
    try:
        a = connect_when_free(srv.port)
        # 30 loops of 0.3 s with one spot mean each: 9 s of test paced in real time
        for cmd in (":PMU:INIT 1", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:MEASURE:RANGE 1, 2, 10e-6",
                    ":PMU:SARB:SEQ:STARTV 1, 1, 0.5, 0.5, 0.5", ":PMU:SARB:SEQ:STOPV 1, 1, 0.5, 0.5, 0.5",
                    ":PMU:SARB:SEQ:TIME 1, 1, 0.1, 0.1, 0.1", ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 1, 0",
                    ":PMU:SARB:SEQ:MEAS:START 1, 1, 0, 0.01, 0", ":PMU:SARB:SEQ:MEAS:STOP 1, 1, 0, 0.09, 0",
                    ":PMU:SARB:WFM:SEQ:LIST 1, 1, 30", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"):
            assert a.query(cmd) == "ACK", cmd
        assert a.query(":PMU:TEST:STATUS?") == "1"
        a.close()                                          # gone mid-test
        srv.wait_log("test aborted")
        b = connect_when_free(srv.port)
        assert b.query(":PMU:TEST:STATUS?") == "0"          # aborted, not still running for seconds
        assert int(b.query(":PMU:DATA:COUNT? 1")) < 30      # data so far kept, the rest never measured
        assert b.query(":ERROR:LAST:GET") == "No error. (0)"
        assert b.query("US") == "ACK" and b.query("DV2,0,0,1E-3") == "ACK" and b.query("DV1,0,0.5,1E-3") == "ACK"
        ti = b.query("TI1")
        assert float(ti[3:]) == pytest.approx(0.5e-6, rel=1e-3)   # still measures the 1 MΩ load
        b.close()
    finally:
        rc = srv.stop(signal.SIGINT)
    assert rc == 0 and "stopped" in srv.lines[-1]
    with socket.socket() as s:                             # the port was released
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", srv.port))
