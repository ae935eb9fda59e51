"""Keithley 4200A-SCS parameter analyzer over KXCI, on pymeasure.

Read this file beside the KXCI manual (4200A-KXCI-907-01 Rev. E; page numbers in the comments,
collected in ``shared/reference/keithley4200-kxci.md``). Command groups:

* common commands (``*IDN?``, ``*OPT?``, ``SP``, ``BC``, ``:ERROR:LAST:GET``) — :class:`Keithley4200`
* user mode ``US`` (``DV``/``DI``/``TV``/``TI``) — :class:`SMU`
* system mode pages ``DE``/``SS``/``SM``/``MD`` for list sweeps, sending only what changed since the
  last sweep, their exact planner and the dry run — :mod:`instruments.smu_sweep`, with what the
  instrument holds between sweeps in :mod:`instruments.held`
* the safe state — :mod:`instruments.safe_state`; replies and errors — :mod:`instruments.kxci_data`

Both framings are supported: Ethernet socket (port 1225, NUL terminators, *every* command answers
``ACK`` or data, status byte by ``SP``) and GPIB (LF terminators, set commands have no reply, status
byte by serial poll). Errors: the conservative reading of the manual is taken — a command may be
answered ``ACK`` and still have failed, so the driver also checks the status byte's syntax-error bit
(B1) after every setup block and reads ``:ERROR:LAST:GET`` when it is set.

Every value is validated against :mod:`instruments.limits` before it is sent.
"""

from __future__ import annotations

import re

from pymeasure.instruments import Channel, Instrument
from pyvisa import constants as visa_constants
from pyvisa.errors import VisaIOError

from .held import is_setup_neutral
from .kxci_data import (
    ERROR_RE,
    InstrumentAborted,
    KXCIError,
    KXCITimeout,
    Reading,
    StatusByte,
    SweepResult,
    parse_readings,
    parse_user_reading,
)
from .limits import DV_RANGE_CODES, LimitError, SmuLimits, check_range, fmt_num
from .pmu import PMU
from .safe_state import SAFE_V_MAX_V, SafeState
from .smu_sweep import ListSweep
from .transcript import TranscriptRecorder

__all__ = [
    "SAFE_V_MAX_V",
    "SMU",
    "InstrumentAborted",
    "KXCIError",
    "KXCITimeout",
    "Keithley4200",
    "LimitError",
    "Reading",
    "StatusByte",
    "SweepResult",
    "parse_readings",
]


class SMU(Channel):
    """One SMU in user mode ``US`` (KXCI-E p. 5-31 ... 5-36)."""

    @property
    def limits(self) -> SmuLimits:
        return self.parent.smu_limits[int(self.id)]

    def source_voltage(self, voltage_v: float, icc_a: float, range_code: int = 0) -> None:
        """``DV ch, range, V, Icomp``: source a voltage with a current compliance (the SMU clamps at Icc)."""
        if range_code not in DV_RANGE_CODES:
            raise LimitError(f"range_code={range_code} is not one of {DV_RANGE_CODES}")
        self.limits.check_voltage_source(voltage_v, icc_a)
        self.parent.command(
            f"DV{self.id},{range_code},{fmt_num(voltage_v, 'voltage_v')},{fmt_num(icc_a, 'icc_a')}", page="US")

    def source_current(self, current_a: float, vcomp_v: float, range_code: int = 0) -> None:
        """``DI ch, range, I, Vcomp``: source a current with a voltage compliance."""
        if not 0 <= range_code <= 13:
            raise LimitError(f"range_code={range_code} is outside [0, 13]")
        imax = self.limits.current_max_a(abs(vcomp_v))
        check_range(current_a, -imax, imax, "current_a", "A")
        check_range(vcomp_v, -210.0, 210.0, "vcomp_v", "V")
        self.parent.command(
            f"DI{self.id},{range_code},{fmt_num(current_a, 'current_a')},{fmt_num(vcomp_v, 'vcomp_v')}",
            page="US")

    def measure_current(self) -> Reading:
        """``TI ch``: trigger a current reading; the status letter is kept."""
        return parse_user_reading(self.parent.query(f"TI{self.id}", page="US"))

    def measure_voltage(self) -> Reading:
        """``TV ch``: trigger a voltage reading (SMU1-4 only; KXCI-E p. 5-35)."""
        if int(self.id) > 4:
            raise LimitError(f"TV is defined for SMU1-4 here, not SMU{self.id}")
        return parse_user_reading(self.parent.query(f"TV{self.id}", page="US"))

    def disable(self) -> None:
        """``DV ch`` with no arguments: output off."""
        self.parent.command(f"DV{self.id}", page="US")


class Keithley4200(ListSweep, SafeState, Instrument):
    """Keithley 4200A-SCS over KXCI (user mode and system-mode list sweeps).

    ``framing`` is ``"ethernet"`` (``TCPIP::host::1225::SOCKET``) or ``"gpib"``; by default it is
    taken from the resource name. Pass ``visa_library=`` to use the simulated instrument.
    Every command goes through :meth:`write`: it is recorded in the transcript, and one that is not a
    pure read ends the system-mode setup a list sweep holds (:mod:`instruments.held`).
    """

    # pymeasure's CommonBase.__getattribute__ guards the reserved names of dynamic properties
    # (``Instrument.control(..., dynamic=True)``). This driver declares none (tests/test_driver_commands.py
    # checks that ``_special_names`` stays empty), and the guard, which calls hasattr on itself for every
    # attribute read, cost 2.2 s of a 2×10⁶-cycle endurance run (2.0 M calls). Plain attribute access.
    __getattribute__ = object.__getattribute__

    def __init__(self, adapter, name: str = "Keithley 4200A-SCS", framing: str | None = None,
                 query_options: bool = True, transcript: str | TranscriptRecorder | None = None, **kwargs):
        self._transcript: TranscriptRecorder | None = None
        self._pmus: dict[int, PMU] = {}
        super().__init__(
            adapter, name, includeSCPI=False,
            tcpip={"write_termination": "\0", "read_termination": "\0"},
            gpib={"write_termination": "\n", "read_termination": "\n"},
            **kwargs,
        )
        if framing is None:
            rname = str(getattr(getattr(self.adapter, "connection", None), "resource_name", "") or "")
            framing = "gpib" if rname.upper().startswith("GPIB") else "ethernet"
        if framing not in ("ethernet", "gpib"):
            raise LimitError(f"framing={framing!r} must be 'ethernet' or 'gpib'")
        self.framing = framing
        conn = getattr(self.adapter, "connection", None)
        if isinstance(getattr(conn, "chunk_size", None), int):
            # a 4096-point DO reply is ~61 kB; pyvisa reads a message in chunk_size pieces (20 kB by
            # default), so one read call per reply instead of four (on the simulator and a socket alike)
            conn.chunk_size = max(conn.chunk_size, 1 << 20)
        self._page: str | None = None
        self.smu_limits: dict[int, SmuLimits] = {}
        self.pmu_ids: list[int] = []
        self.other_channels: list[str] = []
        if transcript is not None:
            self.start_transcript(transcript)
        if query_options:
            self._discover()

    # --- transcript (every command and reply, timestamped) ---------------------------------------
    def start_transcript(self, target: str | TranscriptRecorder) -> TranscriptRecorder:
        """Record every command and reply from now on (JSON lines file, see :mod:`.transcript`)."""
        self.stop_transcript()
        self._transcript = target if isinstance(target, TranscriptRecorder) else TranscriptRecorder(target)
        return self._transcript

    def stop_transcript(self) -> TranscriptRecorder | None:
        """Stop recording; return the recorder (its records stay readable)."""
        rec, self._transcript = self._transcript, None
        if rec is not None:
            rec.close()
        return rec

    @property
    def transcript(self) -> TranscriptRecorder | None:
        return self._transcript

    def write(self, command: str, **kwargs) -> None:
        if not self._sweeping and self._held is not None and not is_setup_neutral(command):
            self._held = None                 # someone else changes the instrument (see instruments.held)
        self._last_sent = command
        if self._dry is not None:
            self._dry.write(command)
            return
        rec = getattr(self, "_transcript", None)
        if rec is not None:
            rec.record("w", command)
        try:
            super().write(command, **kwargs)
        except BaseException:
            self._held = None
            raise

    def read(self, **kwargs) -> str:
        """One reply; a VISA timeout is re-raised as :class:`KXCITimeout` naming the command it answers."""
        if self._dry is not None:
            return self._dry.read()
        rec = getattr(self, "_transcript", None)
        try:
            reply = super().read(**kwargs)
        except BaseException as exc:
            self._held = None                 # no reply: what the instrument did is unknown
            if isinstance(exc, VisaIOError) and exc.error_code == visa_constants.VI_ERROR_TMO \
                    and not isinstance(exc, KXCITimeout):
                named = KXCITimeout(getattr(self, "_last_sent", "?"), self._timeout_s())
                if rec is not None:
                    rec.record("e", f"{type(named).__name__}: {named}")
                raise named from exc
            if rec is not None and isinstance(exc, Exception):
                rec.record("e", f"{type(exc).__name__}: {exc}")
            raise
        if rec is not None:
            rec.record("r", reply)
        return reply

    def _read_stb(self) -> StatusByte:
        """GPIB serial poll (a bus operation, not a command: no transcript line; 0 in a dry run)."""
        if self._dry is not None:
            return StatusByte.NONE
        try:
            return StatusByte(int(self.adapter.connection.read_stb()))
        except BaseException:
            self._held = None
            raise

    def _timeout_s(self) -> float | None:
        """The VISA timeout in seconds (None: infinite or unknown)."""
        ms = getattr(getattr(self.adapter, "connection", None), "timeout", None)
        if not isinstance(ms, (int, float)) or ms == float("inf"):
            return None
        return float(ms) / 1000.0

    # --- pulse card -------------------------------------------------------------------------------
    @property
    def pmu(self) -> PMU:
        """The first 4225-PMU card (Segment-Arb engine, :class:`instruments.pmu.PMU`)."""
        return self.pmu_card(self.pmu_ids[0] if self.pmu_ids else 1)

    def pmu_card(self, card: int) -> PMU:
        if self.pmu_ids and card not in self.pmu_ids:
            raise LimitError(f"PMU{card} is not installed (installed: {self.pmu_ids})")
        if card not in self._pmus:
            self._pmus[card] = PMU(self, card)
        return self._pmus[card]

    # --- transport ------------------------------------------------------------------------------
    def command(self, cmd: str, page: str | None = None) -> None:
        """Send one set-command; on Ethernet the reply must be ``ACK`` (KXCI-E p. 2-10)."""
        self._enter_page(page)
        if self.framing == "ethernet":
            reply = self.ask(cmd).strip()
            if reply != "ACK":
                self._raise_last_error(cmd, reply)
        else:
            self.write(cmd)

    def query(self, cmd: str, page: str | None = None) -> str:
        """Send a command that returns data and return the reply without terminators.

        A data command answered ``ACK`` (Ethernet), or a syntax-error bit after the write (GPIB,
        where a failed query sends nothing), means the instrument refused it: raise its error.
        """
        self._enter_page(page)
        if self.framing == "gpib":
            self.write(cmd)
            if self._read_stb() & StatusByte.SYNTAX_ERROR:
                self._raise_last_error(cmd)
            return self.read().strip()
        reply = self.ask(cmd).strip()
        if reply == "ACK" and not cmd.startswith(":ERROR"):
            self._raise_last_error(cmd, reply)
        return reply

    def _enter_page(self, page: str | None) -> None:
        if page is not None and page != self._page:
            self._page = None
            self.command(page)
            self._page = page

    def _raise_last_error(self, cmd: str, reply: str = "") -> None:
        self._held = None                     # an error ends the held setup (instruments.held)
        err = self.last_error()
        if err is None:
            err = KXCIError(-992, f"unexpected reply {reply!r}", cmd)
        err.command = cmd
        raise err

    # --- common commands ------------------------------------------------------------------------
    @property
    def idn(self) -> str:
        """``*IDN?``: ``KEITHLEY INSTRUMENTS,KI4200A,<serial>,<firmware>`` (KXCI-E p. 4-4)."""
        return self.query("*IDN?")

    @property
    def options(self) -> list[str]:
        """``*OPT?``: the card in each slot, e.g. ``['SMU1', 'SMUPA2', 'PMU1']`` (KXCI-E p. 4-4)."""
        return [o.strip() for o in self.query("*OPT?").split(",") if o.strip()]

    def _discover(self) -> None:
        for opt in self.options:
            up = opt.upper()
            m = re.match(r"^(HPSMUPA|HPSMU|SMUPA|SMU)(\d)$", up)
            if m:
                n = int(m.group(2))
                self.smu_limits[n] = SmuLimits.from_option(up)
                if not hasattr(self, f"smu{n}"):
                    self.add_child(SMU, id=n, prefix="smu", collection="smu")
            elif up.startswith("PMU"):
                self.pmu_ids.append(int(up[3]))
            elif re.match(r"^(VS|VM)\d$", up):
                self.other_channels.append(up)

    @property
    def status(self) -> StatusByte:
        """Status byte: ``SP`` on Ethernet (KXCI-E p. 4-6), serial poll on GPIB."""
        if self.framing == "ethernet":
            return StatusByte(int(float(self.query("SP"))))
        return self._read_stb()

    def clear_buffer(self) -> None:
        """``BC``: clear the 4096-reading buffer and the data-ready bit (KXCI-E p. 5-37)."""
        self.command("BC")

    def reset(self) -> None:
        """``*RST``: reset SMUs and pulse cards (deletes PMU data and Segment-Arb sequences)."""
        self.command("*RST")
        self._page = None

    def last_error(self) -> KXCIError | None:
        """``:ERROR:LAST:GET`` (non-destructive), or None when no error is stored (KXCI-E p. 4-2)."""
        reply = self.query(":ERROR:LAST:GET")
        m = ERROR_RE.match(reply)
        if not m or int(m.group("code")) == 0:
            return None
        return KXCIError(int(m.group("code")), m.group("msg"))

    def clear_errors(self) -> None:
        """``:ERROR:LAST:CLEAR``."""
        self.command(":ERROR:LAST:CLEAR")

    def check_errors(self, context: str = "") -> None:
        """Raise :class:`KXCIError` if the syntax-error bit is set; the conservative check after setup."""
        if self.status & StatusByte.SYNTAX_ERROR:
            self._raise_last_error(context)
