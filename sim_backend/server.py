"""The simulated 4200A-SCS behind a real TCP socket, speaking KXCI's Ethernet framing.

``labrc sim serve`` runs :func:`serve`. Framing (KXCI-E p. 2-10, reference §1.3): every command ends
with a NUL; every command is answered — ``ACK\\0`` when it returns no data, else the data and ``\\0``.
Bytes are buffered until a NUL, so a command split over TCP segments, or several commands in one
segment, are read as the instrument reads them; replies of any length go out with ``sendall`` (the
kernel splits them into segments; clients must read until the NUL). The reply of one command is the
same as through the ``@labrc`` pyvisa library: :class:`sim_backend.library.KxciDevice` with the
Ethernet framing produces it, so the two paths cannot drift apart.

KXCI serves one client at a time: a second connection while one is open is accepted and closed at
once without a byte (the client reads end-of-file), and logged. A client that disconnects while a test
runs makes the chassis abort it (``:PMU:ABORT``, ``ME4``: outputs off, data so far kept); the chassis
stays usable for the next client. Binds 127.0.0.1 unless told otherwise; SIGINT/SIGTERM stop it
cleanly (the open client is closed, the port released, exit status 0).
"""

from __future__ import annotations

import signal
import socket
import socketserver
import sys
import threading
from typing import Callable, TextIO

from pyvisa_sim.component import NoResponse

from .errors import ConnectionDropped
from .kxci import Kxci4200, SimConfig
from .library import KxciDevice

RECV_BYTES = 65_536
MAX_COMMAND_BYTES = 1 << 20   # a "command" this long without a NUL is not KXCI: the client is dropped


class _Handler(socketserver.BaseRequestHandler):
    server: "KxciServer"

    def handle(self) -> None:
        srv = self.server
        if not srv.client_lock.acquire(blocking=False):
            srv.log(f"refused {self.client_address[0]}:{self.client_address[1]}: KXCI serves one client at a time")
            return
        try:
            srv.client = self.request
            srv.log(f"client {self.client_address[0]}:{self.client_address[1]} connected")
            self._serve(self.request)
        finally:
            srv.client = None
            srv.abort_tests()
            srv.client_lock.release()
            srv.log("client disconnected")

    def _serve(self, sock: socket.socket) -> None:
        buf = bytearray()
        while True:
            try:
                chunk = sock.recv(RECV_BYTES)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while (end := buf.find(b"\0")) >= 0:
                command, buf = bytes(buf[:end]), buf[end + 1:]
                try:
                    reply = self.server.reply(command)
                except ConnectionDropped:   # injected fault: the instrument drops the link
                    return
                if reply is not None:
                    try:
                        sock.sendall(reply + b"\0")
                    except OSError:
                        return
            if len(buf) > MAX_COMMAND_BYTES:
                self.server.log("command without NUL terminator over 1 MiB: client dropped")
                return


class KxciServer(socketserver.ThreadingTCPServer):
    """One simulated chassis, one KXCI client at a time."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, chassis: Kxci4200, host: str = "127.0.0.1", port: int = 1225,
                 log: Callable[[str], None] | None = None):
        self.chassis = chassis
        self.lock = threading.RLock()
        self.device = KxciDevice(chassis, "ethernet", self.lock)
        self.client_lock = threading.Lock()
        self.client: socket.socket | None = None
        self.log = log or (lambda _msg: None)
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def reply(self, command: bytes) -> bytes | None:
        """The bytes (without the NUL) the instrument answers to one command; None = no reply."""
        with self.lock:
            out = self.device._match(command)
        return None if out is NoResponse else bytes(out)

    def abort_tests(self) -> None:
        """The client is gone: stop a running test as the instrument does, so the next client finds it idle."""
        with self.lock:
            if self.chassis.pmu.running():
                self.chassis.handle(":PMU:ABORT")
                self.log("test aborted: the client disconnected during a PMU test")
            if self.chassis.buffer_busy():
                self.chassis.handle("ME4")
                self.log("test aborted: the client disconnected during an SMU test")

    def close_client(self) -> None:
        c = self.client
        if c is not None:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(config: SimConfig, host: str = "127.0.0.1", port: int = 1225, out: TextIO | None = None) -> int:
    """Serve a new chassis built from ``config`` until SIGINT/SIGTERM; return the exit status (0)."""
    out = out or sys.stdout

    def log(msg: str) -> None:
        print(f"labrc sim serve: {msg}", file=out, flush=True)

    srv = KxciServer(Kxci4200(config), host, port, log)   # Kxci4200 builds a fitted die where the config has one
    stop = threading.Event()
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    worker = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    worker.start()
    log(f"listening on {srv.server_address[0]}:{srv.port} (KXCI Ethernet framing, NUL-terminated)")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        srv.shutdown()
        srv.close_client()
        srv.server_close()
        worker.join(timeout=5)
        for s, h in old.items():
            signal.signal(s, h)
        log("stopped")
    return 0
