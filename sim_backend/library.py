"""The simulated 4200 as a pyvisa library: ``SimVisaLibrary`` + a ``Device`` that speaks KXCI.

Pass an instance to pyvisa or pymeasure: ``Keithley4200(res, visa_library=LabrcSimLibrary.create(cfg))``.
pyvisa-sim's known traps are closed here:

* an unknown resource raises ``VisaIOError(VI_ERROR_RSRC_NFOUND)`` instead of opening silently;
* each :meth:`LabrcSimLibrary.create` gives a fresh instrument (state lives in the library instance);
* replies are read whole (stock pyvisa-sim reads one byte per call: ~13 ms for 1000 values);
* one lock per instrument serialises writes, reads and serial polls from several threads;
* ``read_stb`` (GPIB serial poll) answers from the instrument's status byte.

``Device._match`` is private pyvisa-sim API, which is why ``pyvisa-sim`` is pinned to 0.7.x and a
test covers this class.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import ClassVar

from pyvisa import constants, errors, rname
from pyvisa.util import LibraryPath
from pyvisa_sim.component import NoResponse
from pyvisa_sim.devices import Device, Devices
from pyvisa_sim.highlevel import SimVisaLibrary

from .errors import ConnectionDropped
from .kxci import NO_REPLY, Kxci4200, SimConfig


class KxciDevice(Device):
    """One framing (Ethernet socket or GPIB) of a :class:`Kxci4200`; both framings share the chassis."""

    def __init__(self, instrument: Kxci4200, framing: str, lock: threading.RLock):
        super().__init__("Keithley 4200A-SCS (labrc simulator)", b"")   # no splitting: KXCI parses ';'
        self.instrument, self.framing, self.lock = instrument, framing, lock
        self.add_eom("TCPIP SOCKET", "\0", "\0")
        self.add_eom("GPIB INSTR", "\n", "\n")
        self.add_error_handler("ACK" if framing == "ethernet" else {"response": {}})

    def write(self, data: bytes) -> None:
        with self.lock:
            try:
                super().write(data)
            except ConnectionDropped:
                raise errors.VisaIOError(constants.VI_ERROR_CONN_LOST) from None

    def _match(self, query: bytes):
        text = query.decode("ascii", errors="replace").strip("\r\n\0 ")
        reply = self.instrument.handle(text)
        if reply is NO_REPLY:                     # injected fault: a hung instrument answers nothing
            return NoResponse
        if reply is None:
            return b"ACK" if self.framing == "ethernet" else NoResponse
        return reply.encode("ascii")


class LabrcSimLibrary(SimVisaLibrary):
    """A pyvisa library whose devices are one simulated 4200A-SCS (two resource names, one chassis)."""

    _PENDING: ClassVar[dict[str, SimConfig]] = {}
    fast_read: bool = True   # False = stock pyvisa-sim byte-by-byte read (kept for the benchmark)

    @staticmethod
    def get_library_paths() -> tuple[LibraryPath, ...]:
        return (LibraryPath("labrc"),)

    @classmethod
    def create(cls, config: SimConfig | None = None, die=None) -> "LabrcSimLibrary":
        """A new library with its own instrument (never a cached one)."""
        path = f"labrc-sim-{uuid.uuid4().hex}"
        cls._PENDING[path] = (config or SimConfig(), die)
        return cls(path)

    def _init(self) -> None:
        self.sessions = {}
        config, die = self._PENDING.pop(str(self.library_path), (None, None))
        if config is None:
            config = self._config_from_path(str(self.library_path))
        self.config = config
        self.lock = threading.RLock()
        self.instrument = Kxci4200(config, die)
        self.devices = Devices()
        for res, framing in ((config.tcpip_resource, "ethernet"), (config.gpib_resource, "gpib")):
            self.devices.add_device(rname.to_canonical_name(res), KxciDevice(self.instrument, framing, self.lock))

    @staticmethod
    def _config_from_path(path: str) -> SimConfig:
        """``@labrc`` alone gives the default die; a ``labrc.toml`` path before the ``@`` configures it."""
        if path.endswith(".toml"):
            from labrc.config import (
                load_config,  # the one place the simulator reads labrc config
            )
            return load_config(path).sim_config()
        return SimConfig()

    def _route(self, resource_name: str) -> str:
        """The simulator answers on any host at port 1225 (KXCI's socket) and on its GPIB address."""
        try:
            p = rname.parse_resource_name(resource_name)
        except rname.InvalidResourceName:
            raise errors.VisaIOError(constants.StatusCode.error_invalid_resource_name) from None
        if p.interface_type_const == constants.InterfaceType.tcpip and p.resource_class == "SOCKET" \
                and str(getattr(p, "port", "")) == rname.parse_resource_name(self.config.tcpip_resource).port:
            return self.config.tcpip_resource
        if rname.to_canonical_name(resource_name) in self.devices.list_resources():
            return rname.to_canonical_name(resource_name)
        raise errors.VisaIOError(constants.StatusCode.error_resource_not_found)

    def open(self, session, resource_name, access_mode=constants.AccessModes.no_lock,
             open_timeout=constants.VI_TMO_IMMEDIATE):
        """Open the simulated 4200; an unknown resource raises instead of opening silently."""
        target = self._route(resource_name)
        sess, status = super().open(session, target, access_mode, open_timeout)
        if status != constants.StatusCode.success:
            raise errors.VisaIOError(status)
        return sess, status

    def read(self, session, count):
        """Whole-message read: the queued reply (up to ``count`` bytes) in one call."""
        sess = self.sessions.get(session)
        if sess is None:
            return b"", constants.StatusCode.error_invalid_object
        dev = sess.device
        if not isinstance(dev, KxciDevice) or not self.fast_read:
            return super().read(session, count)
        timeout_ms, _ = sess.get_attribute(constants.ResourceAttribute.timeout_value)
        deadline = None if timeout_ms in (None, constants.VI_TMO_INFINITE) else time.monotonic() + timeout_ms / 1000
        while True:
            with dev.lock:
                if dev._output_buffers:
                    buf = dev._output_buffers[0]
                    chunk = bytes(buf[:count])
                    del buf[:count]
                    if buf:
                        return chunk, constants.StatusCode.success_max_count_read
                    dev._output_buffers.popleft()
                    return chunk, constants.StatusCode.success
            if deadline is not None and time.monotonic() > deadline:
                raise errors.VisaIOError(constants.VI_ERROR_TMO)
            time.sleep(0.001)

    def read_stb(self, session):
        """GPIB serial poll of the simulated status byte."""
        sess = self.sessions.get(session)
        if sess is None or not isinstance(sess.device, KxciDevice):
            return 0, constants.StatusCode.error_invalid_object
        with sess.device.lock:
            return sess.device.instrument.serial_poll(), constants.StatusCode.success
