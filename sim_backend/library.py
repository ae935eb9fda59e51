"""The simulated 4200 as a pyvisa library: ``SimVisaLibrary`` + a ``Device`` that speaks KXCI.

Pass an instance to pyvisa or pymeasure: ``Keithley4200(res, visa_library=LabrcSimLibrary.create(cfg))``.
pyvisa-sim's known traps are closed here:

* an unknown resource raises ``VisaIOError(VI_ERROR_RSRC_NFOUND)`` instead of opening silently;
* each :meth:`LabrcSimLibrary.create` gives a fresh instrument (state lives in the library instance);
* replies are read whole (stock pyvisa-sim reads one byte per call: ~13 ms for 1000 values);
* one lock per instrument serialises writes, reads and serial polls from several threads;
* ``read_stb`` (GPIB serial poll) answers from the instrument's status byte;
* service requests are VISA events: ``wait_for_srq()`` (enable/wait_on/discard/disable_event) waits
  for the status byte's RQS bit (``DR1`` + data ready, or an error), as the GPIB SRQ line would;
* ``list_resources()`` lists both framings of the chassis (Ethernet socket and GPIB).

It imports only the simulated instrument and pyvisa/pyvisa-sim (never labrc): a ``labrc.toml`` is
read by :meth:`sim_backend.simconfig.SimConfig.from_toml`.

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
from .kxci import NO_REPLY, Kxci4200
from .simconfig import SimConfig


class KxciDevice(Device):
    """One framing (Ethernet socket or GPIB) of a :class:`Kxci4200`; both framings share the chassis."""

    def __init__(self, instrument: Kxci4200, framing: str, lock: threading.RLock):
        super().__init__("Keithley 4200A-SCS (labrc simulator)", b"")   # no splitting: KXCI parses ';'
        self.instrument, self.framing, self.lock = instrument, framing, lock
        self.add_eom("TCPIP SOCKET", "\0", "\0")
        self.add_eom("GPIB INSTR", "\n", "\n")
        self.add_error_handler("ACK" if framing == "ethernet" else {"response": {}})

    def write(self, data: bytes) -> None:
        """pyvisa-sim's ``Device.write`` without its eager debug text (``"%r" % data`` of every message,
        built whatever the log level: ~18 us for one 4096-point ``VL`` list): the same buffering, the
        same end-of-message test, one message per EOM (``delimiter`` is empty: KXCI splits ``;``)."""
        if not isinstance(data, bytes):
            raise TypeError("data must be an instance of bytes")
        with self.lock:
            buf = self._input_buffer
            buf.extend(data)
            eom = self._query_eom
            if not buf.endswith(eom):
                return
            self._input_buffer = bytearray()
            try:
                response = self._match(bytes(buf[:-len(eom)]))
            except ConnectionDropped:
                raise errors.VisaIOError(constants.VI_ERROR_CONN_LOST) from None
            if response is None:
                response = self.error_response("command_error")
            if response is not NoResponse:
                self._output_buffers.append(bytearray(response) + self._response_eom)

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

    def __new__(cls, library_path=""):
        """``path/transcript.jsonl@labrc`` or ``path/run.h5@labrc``: a recorded session served back
        (:mod:`sim_backend.transcript_replay`) instead of the simulated die."""
        if cls is LabrcSimLibrary and str(library_path).lower().endswith((".jsonl", ".h5")):
            from .transcript_replay import TranscriptReplayLibrary
            return TranscriptReplayLibrary(library_path)
        return super().__new__(cls, library_path)

    @classmethod
    def create(cls, config: SimConfig | None = None, die=None) -> LabrcSimLibrary:
        """A new library with its own instrument (never a cached one)."""
        path = f"labrc-sim-{uuid.uuid4().hex}"
        cls._PENDING[path] = (config or SimConfig(), die)
        return cls(path)

    def _init(self) -> None:
        self.sessions = {}
        self._events: dict[int, set] = {}
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
        """``@labrc`` alone gives the default die; a ``labrc.toml`` path before the ``@`` configures it
        (a ``.jsonl``/``.h5`` path is a transcript replay, routed in ``__new__``)."""
        if path.endswith(".toml"):
            return SimConfig.from_toml(path)
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

    # --- resources and events -------------------------------------------------------------------------
    def list_resources(self, session, query: str = "?*::INSTR"):
        """Both framings of the chassis. The default query (``?*::INSTR``) lists the socket too, as the
        README promises: the simulated chassis is configured on both interfaces."""
        names = tuple(self.devices.list_resources())
        if query in ("?*::INSTR", "?*"):
            return names
        return tuple(rname.filter(names, query))

    def enable_event(self, session, event_type, mechanism, context=None):
        """Service requests can be queued (``wait_for_srq``); other events do not exist on KXCI."""
        sess = self.sessions.get(session)
        if sess is None:
            return constants.StatusCode.error_invalid_object
        if event_type != constants.EventType.service_request:
            return constants.StatusCode.error_invalid_event
        self._events.setdefault(session, set()).add(event_type)
        return constants.StatusCode.success

    def disable_event(self, session, event_type, mechanism):
        self._events.get(session, set()).discard(event_type)
        return constants.StatusCode.success

    def discard_events(self, session, event_type, mechanism):
        return constants.StatusCode.success

    def wait_on_event(self, session, in_event_type, timeout):
        """Wait until the instrument requests service (status byte B6) or ``timeout`` ms pass."""
        sess = self.sessions.get(session)
        if sess is None or not isinstance(sess.device, KxciDevice):
            raise errors.VisaIOError(constants.StatusCode.error_invalid_object)
        if in_event_type not in self._events.get(session, set()):
            raise errors.VisaIOError(constants.StatusCode.error_not_enabled)
        dev = sess.device
        deadline = None if timeout in (None, constants.VI_TMO_INFINITE) else time.monotonic() + timeout / 1000
        while True:
            with dev.lock:
                if dev.instrument.service_requested():
                    return in_event_type, None, constants.StatusCode.success
            if deadline is not None and time.monotonic() >= deadline:
                raise errors.VisaIOError(constants.StatusCode.error_timeout)
            time.sleep(0.001)
