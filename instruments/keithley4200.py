"""Keithley 4200A-SCS parameter analyzer over KXCI, on pymeasure.

Read this file beside the KXCI manual (4200A-KXCI-907-01 Rev. E; page numbers in the comments,
collected in ``shared/reference/keithley4200-kxci.md``). Command groups:

* common commands (``*IDN?``, ``*OPT?``, ``SP``, ``BC``, ``:ERROR:LAST:GET``) — :class:`Keithley4200`
* user mode ``US`` (``DV``/``DI``/``TV``/``TI``) — :class:`SMU`
* system mode pages ``DE``/``SS``/``SM``/``MD`` for list sweeps — :meth:`Keithley4200.list_sweep`

Both framings are supported: Ethernet socket (port 1225, NUL terminators, *every* command answers
``ACK`` or data, status byte by ``SP``) and GPIB (LF terminators, set commands have no reply, status
byte by serial poll). Errors: the conservative reading of the manual is taken — a command may be
answered ``ACK`` and still have failed, so the driver also checks the status byte's syntax-error bit
(B1) after every setup block and reads ``:ERROR:LAST:GET`` when it is set.

Every value is validated against :mod:`instruments.limits` before it is sent.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Callable, NamedTuple

import numpy as np
from pymeasure.instruments import Channel, Instrument
from pyvisa import constants as visa_constants
from pyvisa.errors import VisaIOError

from .pmu import PMU
from .transcript import TranscriptRecorder
from .limits import (
    DELAY_MAX_S,
    DV_RANGE_CODES,
    HOLD_MAX_S,
    INTEGRATION_PLC,
    LIST_POINTS_MAX,
    LimitError,
    SmuLimits,
    check_range,
    fmt_list,
    fmt_num,
)

__all__ = [
    "Keithley4200", "SMU", "StatusByte", "KXCIError", "KXCITimeout", "InstrumentAborted", "Reading",
    "SweepResult", "parse_readings", "LimitError", "SAFE_V_MAX_V",
]


class StatusByte(IntFlag):
    """KXCI status byte (KXCI-E p. 3-3, 3-4)."""

    NONE = 0
    DATA_READY = 1        # B0: all measurements done
    SYNTAX_ERROR = 2      # B1: invalid command string
    BUSY = 16             # B4: measurement in progress
    SERVICE_REQUEST = 64  # B6: RQS


class KXCIError(RuntimeError):
    """The instrument reported an error (``:ERROR:LAST:GET``), e.g. ``KXCI command error. (-992)``."""

    def __init__(self, code: int, message: str, command: str = ""):
        self.code, self.message, self.command = code, message, command
        super().__init__(code, message, command)

    def __str__(self) -> str:
        where = f" after {self.command!r}" if self.command else ""
        return f"4200 error {self.code}: {self.message}{where}"


class KXCITimeout(VisaIOError):
    """No reply to ``command`` within the VISA timeout (a hung or unreachable instrument).

    Still a pyvisa ``VisaIOError`` (``VI_ERROR_TMO``) for callers that catch those, but its message
    names the command that got no reply, which pyvisa's own message does not.
    """

    def __init__(self, command: str, timeout_s: float | None):
        super().__init__(visa_constants.VI_ERROR_TMO)
        self.command, self.timeout_s = command, timeout_s

    def __str__(self) -> str:
        within = f" within {self.timeout_s:g} s" if self.timeout_s is not None else ""
        return (f"no reply to {self.command!r}{within} (VISA timeout, instrument.timeout_s): "
                "the instrument did not answer")

    def __reduce__(self):
        return (KXCITimeout, (self.command, self.timeout_s))


class InstrumentAborted(RuntimeError):
    """A running test was aborted on request (``ME4``) before it completed."""


class Reading(NamedTuple):
    """One user-mode reading with its status letter kept (``C`` = this channel in compliance)."""

    value: float
    status: str
    channel: str
    quantity: str

    @property
    def in_compliance(self) -> bool:
        return self.status == "C"


@dataclass
class SweepResult:
    """One list sweep as numpy blocks (SI units)."""

    v_set_v: np.ndarray
    v_meas_v: np.ndarray
    i_meas_a: np.ndarray
    t_s: np.ndarray
    status: np.ndarray          # one status letter per point ('N', 'C', ...)
    compliance: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.compliance = self.status == "C"

    def __len__(self) -> int:
        return len(self.v_set_v)


_ERROR_RE = re.compile(r"^(?P<msg>.*?)\s*\((?P<code>-?\d+)\)\s*$")
_LETTERS = "LVXCTN"
_USER_READING_RE = re.compile(r"^\s*([A-Z])([A-Z])([VI])\s*([-+0-9.Ee]+)\s*$")
INVALID_SENTINEL = 1e37  # |x| >= 1e37 (and the LPT 1e22) mark overflow / unmapped channel
SAFE_V_MAX_V = 0.01      # a SMU reads back within 10 mV of 0 V to count as at 0 V in the safe state


_STRIP_LETTERS = str.maketrans("", "", _LETTERS + " ")
_LETTER_RE = re.compile(r"(?:^|,)\s*([A-Z]?)")


def parse_readings(reply: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse a ``DO`` reply into (values float64, status letters).

    Accepts the documented variants ``N+1.2E-06``, ``N 1.2E-06``, ``1.2E-06`` (no letter: ``N``)
    for a whole block at once (KXCI-E p. 2-11, 3-1, 5-38). Overflow sentinels become NaN.
    """
    text = reply.strip()
    if not text:
        return np.empty(0, np.float64), np.empty(0, "<U1")
    fast = _parse_fixed_width(text)
    if fast is not None:
        return fast
    try:
        values = np.array(text.translate(_STRIP_LETTERS).split(","), dtype=np.float64)
    except ValueError:
        raise KXCIError(-992, f"unparseable reading list {reply[:80]!r}") from None
    letters = np.array(_LETTER_RE.findall(text), dtype="<U1")
    if letters.size != values.size:
        raise KXCIError(-992, f"unparseable reading list {reply[:80]!r}")
    status = np.where(letters == "", "N", letters)
    values[(np.abs(values) >= INVALID_SENTINEL) | (values == 1e22)] = np.nan
    return values, status


_DIGITS = np.array([1, 3, 4, 5, 6, 7, 8])       # digit columns of "±D.DDDDDDE±EE"
_SCALE = 10.0 ** -np.arange(7)
_POW10 = 10.0 ** np.arange(-300, 300, dtype=np.float64)


def _parse_fixed_width(text: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Vectorized parse of the fixed-width ``X±D.DDDDDDE±EE`` form (7 digits), or None if not that form."""
    raw = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)
    for width, lettered in ((15, True), (14, False)):
        if (raw.size + 1) % width:
            continue
        n = (raw.size + 1) // width
        rows = np.empty(n * width, np.uint8)
        rows[:-1], rows[-1] = raw, ord(",")
        rows = rows.reshape(n, width)
        body = rows[:, 1:] if lettered else rows
        if not (np.all(rows[:, -1] == ord(",")) and np.all(body[:, 2] == ord(".")) and np.all(body[:, 9] == ord("E"))
                and np.all((body[:, 0] == ord("+")) | (body[:, 0] == ord("-")))):
            continue
        d = body[:, _DIGITS].astype(np.int64) - ord("0")
        ex = (body[:, 11].astype(np.int64) - ord("0")) * 10 + body[:, 12] - ord("0")
        if d.min() < 0 or d.max() > 9 or ex.min() < 0 or ex.max() > 99:
            continue
        ex = np.where(body[:, 10] == ord("-"), -ex, ex)
        values = (d @ _SCALE) * _POW10[ex + 300] * np.where(body[:, 0] == ord("-"), -1.0, 1.0)
        if lettered:
            status = rows[:, 0].astype(np.uint32).view("<U1")
            if not np.all(np.isin(status, list(_LETTERS))):
                continue
        else:
            status = np.full(n, "N", "<U1")
        values[(np.abs(values) >= INVALID_SENTINEL) | (values == 1e22)] = np.nan
        return values, status
    return None


def _parse_user_reading(reply: str) -> Reading:
    """Parse ``XYZ ±N.NNNNE±NN`` (status, channel letter, V|I) from ``TV``/``TI`` (KXCI-E p. 3-2)."""
    m = _USER_READING_RE.match(reply)
    if not m:
        raise KXCIError(-992, f"unexpected reading {reply!r}")
    status, chan, qty, num = m.groups()
    value = float(num)
    if abs(value) >= INVALID_SENTINEL:
        value = float("nan")
    return Reading(value, status, chan, qty)


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
        return _parse_user_reading(self.parent.query(f"TI{self.id}", page="US"))

    def measure_voltage(self) -> Reading:
        """``TV ch``: trigger a voltage reading (SMU1-4 only; KXCI-E p. 5-35)."""
        if int(self.id) > 4:
            raise LimitError(f"TV is defined for SMU1-4 here, not SMU{self.id}")
        return _parse_user_reading(self.parent.query(f"TV{self.id}", page="US"))

    def disable(self) -> None:
        """``DV ch`` with no arguments: output off."""
        self.parent.command(f"DV{self.id}", page="US")


class Keithley4200(Instrument):
    """Keithley 4200A-SCS over KXCI (user mode and system-mode list sweeps).

    ``framing`` is ``"ethernet"`` (``TCPIP::host::1225::SOCKET``) or ``"gpib"``; by default it is
    taken from the resource name. Pass ``visa_library=`` to use the simulated instrument.
    """

    def __init__(self, adapter, name: str = "Keithley 4200A-SCS", framing: str | None = None,
                 query_options: bool = True, transcript: "str | TranscriptRecorder | None" = None, **kwargs):
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
        self._page: str | None = None
        self.smu_limits: dict[int, SmuLimits] = {}
        self.pmu_ids: list[int] = []
        self.other_channels: list[str] = []
        if transcript is not None:
            self.start_transcript(transcript)
        if query_options:
            self._discover()

    # --- transcript (every command and reply, timestamped) ---------------------------------------
    def start_transcript(self, target: "str | TranscriptRecorder") -> "TranscriptRecorder":
        """Record every command and reply from now on (JSON lines file, see :mod:`.transcript`)."""
        self.stop_transcript()
        self._transcript = target if isinstance(target, TranscriptRecorder) else TranscriptRecorder(target)
        return self._transcript

    def stop_transcript(self) -> "TranscriptRecorder | None":
        """Stop recording; return the recorder (its records stay readable)."""
        rec, self._transcript = self._transcript, None
        if rec is not None:
            rec.close()
        return rec

    @property
    def transcript(self) -> "TranscriptRecorder | None":
        return self._transcript

    def write(self, command: str, **kwargs) -> None:
        rec = getattr(self, "_transcript", None)
        if rec is not None:
            rec.record("w", command)
        self._last_sent = command
        super().write(command, **kwargs)

    def read(self, **kwargs) -> str:
        """One reply; a VISA timeout is re-raised as :class:`KXCITimeout` naming the command it answers."""
        rec = getattr(self, "_transcript", None)
        try:
            reply = super().read(**kwargs)
        except VisaIOError as exc:
            if exc.error_code != visa_constants.VI_ERROR_TMO or isinstance(exc, KXCITimeout):
                if rec is not None:
                    rec.record("e", f"{type(exc).__name__}: {exc}")
                raise
            named = KXCITimeout(getattr(self, "_last_sent", "?"), self._timeout_s())
            if rec is not None:
                rec.record("e", f"{type(named).__name__}: {named}")
            raise named from exc
        except Exception as exc:
            if rec is not None:
                rec.record("e", f"{type(exc).__name__}: {exc}")
            raise
        if rec is not None:
            rec.record("r", reply)
        return reply

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
            if StatusByte(int(self.adapter.connection.read_stb())) & StatusByte.SYNTAX_ERROR:
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
        return StatusByte(int(self.adapter.connection.read_stb()))

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
        m = _ERROR_RE.match(reply)
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

    # --- system mode: list sweep ----------------------------------------------------------------
    def plan_list_sweep(self, smu: int, voltages_v: np.ndarray, icc_a: float, delay_s: float,
                        hold_s: float = 0.0, integration: int = 2, ground_smu: int | None = None) -> list[str]:
        """Validate a list sweep and return its exact command stream (nothing is sent).

        ``smu`` drives the top electrode with compliance ``icc_a``; ``ground_smu`` (or None for the
        ground unit) holds the bottom electrode at 0 V with a compliance that never limits.
        """
        if smu not in self.smu_limits:
            raise LimitError(f"smu={smu} is not installed (installed SMUs: {sorted(self.smu_limits)})")
        if ground_smu is not None and (ground_smu not in self.smu_limits or ground_smu == smu):
            raise LimitError(f"ground_smu={ground_smu} must be another installed SMU {sorted(self.smu_limits)}")
        v = np.asarray(voltages_v, dtype=np.float64)
        if v.ndim != 1 or not 1 <= v.size <= LIST_POINTS_MAX:
            raise LimitError(f"voltages_v has {v.size} points; a VL list sweep holds 1 to {LIST_POINTS_MAX}")
        self.smu_limits[smu].check_voltage_source(v, icc_a, "voltages_v")
        check_range(delay_s, 0.0, DELAY_MAX_S, "delay_s", "s")
        check_range(hold_s, 0.0, HOLD_MAX_S, "hold_s", "s")
        if integration not in INTEGRATION_PLC:
            raise LimitError(f"integration={integration} must be one of {sorted(INTEGRATION_PLC)} (IT1/IT2/IT3)")
        cmds = ["BC", ":ERROR:LAST:CLEAR", f"IT{integration}", "DE", f"CH{smu}, 'V{smu}', 'I{smu}', 1, 1"]
        if ground_smu is not None:
            cmds.append(f"CH{ground_smu}, 'V{ground_smu}', 'I{ground_smu}', 1, 3")
        cmds += [f"CH{n}" for n in sorted(self.smu_limits) if n not in (smu, ground_smu)]
        cmds += self.other_channels
        cmds += ["SS", f"VL{smu}, 1, {fmt_num(icc_a, 'icc_a')}, {fmt_list(v, 'voltages_v')}"]
        if ground_smu is not None:
            gcomp = self.smu_limits[ground_smu].current_max_a(0.0)
            cmds.append(f"VC{ground_smu}, 0, {fmt_num(gcomp)}")
        cmds += [f"HT {fmt_num(hold_s, 'hold_s')}", f"DT {fmt_num(delay_s, 'delay_s')}",
                 "SM", "DM2", f"LI 'V{smu}','I{smu}'", "MD", "ME1"]
        return cmds

    def list_sweep(self, smu: int, voltages_v: np.ndarray, icc_a: float, delay_s: float,
                   hold_s: float = 0.0, integration: int = 2, ground_smu: int | None = None,
                   should_stop: Callable[[], bool] | None = None, timeout_s: float | None = None,
                   fetch: tuple[str, ...] = ("I", "V", "T")) -> SweepResult:
        """Run a system-mode ``VL`` list sweep (≤ 4096 points) and return every point with its status letter.

        Completion is detected by polling the status byte; ``should_stop`` is checked while polling
        and aborts the test with ``ME4``. ``fetch`` chooses the ``DO`` transfers: current (always,
        it carries the status letters), measured voltage ``V`` and timestamps ``T``; what is not
        fetched is NaN (long endurance bursts fetch only the current).
        """
        cmds = self.plan_list_sweep(smu, voltages_v, icc_a, delay_s, hold_s, integration, ground_smu)
        v = np.asarray(voltages_v, dtype=np.float64)
        self._page = None
        for c in cmds[:-1]:
            self.command(c)
        self._page = "MD"
        self.check_errors("list sweep setup")
        self.command(cmds[-1])
        plc_s = INTEGRATION_PLC[integration] / 50.0   # worst case line frequency for the timeout
        expected_s = hold_s + v.size * (delay_s + plc_s)
        self.wait_for_test(timeout_s if timeout_s is not None else 10.0 + 3.0 * expected_s, should_stop)
        i_a, status = parse_readings(self.query(f"DO 'I{smu}'"))
        nan = np.full(v.size, np.nan)
        v_meas = parse_readings(self.query(f"DO 'V{smu}'"))[0] if "V" in fetch else nan
        t_s = parse_readings(self.query(f"DO 'CH{smu}T'"))[0] if "T" in fetch else nan
        if not (i_a.size == v_meas.size == t_s.size == v.size):
            raise KXCIError(-991, f"sweep returned {i_a.size}/{v_meas.size}/{t_s.size} points, expected {v.size}")
        return SweepResult(v, v_meas, i_a, t_s, status)

    def wait_for_test(self, timeout_s: float, should_stop: Callable[[], bool] | None = None) -> None:
        """Poll the status byte until the test is done (``SP`` 0/1 on Ethernet; KXCI-E p. 3-3)."""
        deadline = time.monotonic() + timeout_s
        pause = 0.001
        while True:
            st = self.status
            if st & StatusByte.SYNTAX_ERROR:
                self._raise_last_error("test execution")
            if not st & StatusByte.BUSY:
                return
            if should_stop is not None and should_stop():
                self.command("ME4")
                raise InstrumentAborted("test aborted on request (ME4)")
            if time.monotonic() > deadline:
                self.command("ME4")
                raise TimeoutError(f"test still busy after {timeout_s:.1f} s; aborted with ME4")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    # --- safe state -----------------------------------------------------------------------------
    # What "safe" is verified against (reference §8 and §1.6): every SMU driven to 0 V (DV n,0,0,Icc) and
    # read back with TV n (|V| < SAFE_V_MAX_V; TV exists for SMU1-4 only, KXCI-E p. 5-35), then switched
    # off (DV n with no arguments, KXCI-E p. 5-32); PMU tests aborted and outputs off (p. 7-4, 7-16).
    # A failed command may still be answered ACK (reference §1.6, uncertain point 3), so an ACK proves
    # nothing: after *each* command the status byte (B1, cleared by the poll) and :ERROR:LAST:GET (cleared
    # once read) are checked. The reply :ERROR:LAST:GET gives when nothing is stored is not documented
    # (§10): only "<text> (0)" counts as "no error"; any other reply leaves the step unverified.

    def shutdown(self) -> dict:
        """Drive every SMU to 0 V, read it back, switch every output off; PMU outputs off.

        Never raises: each step's failure is recorded and the remaining steps still run. Returns the
        record of what was verified: per SMU ``v_readback_v`` (None where TV cannot read it), ``ok_0v``,
        ``off``, ``errors`` and ``ok``; per PMU channel ``"off"`` or ``"not verified"``; ``errors``
        (every problem, prefixed by its terminal); and ``ok``, True only when every step was accepted with
        no error stored, every readback was within ``SAFE_V_MAX_V``, and at least one SMU was known.
        """
        record: dict = {"smu": {}, "pmu": {}, "errors": [], "ok": False}
        try:
            self._shutdown_steps(record)
        except Exception as exc:  # noqa: BLE001 - the safe path reports, it never raises
            record["errors"].append(f"shutdown stopped early: {type(exc).__name__}: {exc}")
        smus, pmus = record["smu"].values(), record["pmu"].values()
        record["ok"] = bool(not record["errors"] and smus and all(e.get("ok") for e in smus)
                            and all(v in ("off", "idle") for v in pmus))
        self.isShutdown = True
        return record

    def _shutdown_steps(self, record: dict) -> None:
        errors: list[str] = record["errors"]
        self._page = None
        # a clean error state first, so that each later check sees only its own command's error;
        # the status poll discards a syntax-error bit the run itself left (its error was already raised)
        errors += self._safe_step(":ERROR:LAST:CLEAR", lambda: self.command(":ERROR:LAST:CLEAR"), check=False)[1]
        errors += self._safe_step("SP", lambda: self.status, check=False)[1]
        if not self.smu_limits:
            errors.append("no SMU is known (*OPT? was not read): no output could be verified")
        errors += [f"US: {e}" for e in self._safe_step("US", lambda: self.command("US"))[1]]
        for n in sorted(self.smu_limits):
            entry = self._shutdown_smu(n)
            record["smu"][n] = entry
            errors += [f"SMU{n}: {e}" for e in entry["errors"]]
        for p in self.pmu_ids:
            if p in self._pmus and self._pmus[p].used:
                # stop a Segment-Arb test this session started, outputs off (KXCI-E p. 7-4), then ask
                # whether a test still runs (:PMU:TEST:STATUS? 0 = idle; reference §3)
                probs = self._safe_step(":PMU:ABORT", lambda: self.command(":PMU:ABORT"))[1]
                busy, more = self._safe_step(":PMU:TEST:STATUS?",
                                             lambda: int(float(self.query(":PMU:TEST:STATUS?"))))
                probs += more
                if busy:
                    probs.append(f":PMU:TEST:STATUS? answered {busy}: a test still runs")
                record["pmu"][f"PMU{p}-test"] = "idle" if not probs else "not verified"
                errors += [f"PMU{p}: {e}" for e in probs]
            for ch in (1, 2):
                cmd = f":PMU:OUTPUT:STATE {ch}, 0"
                probs = self._safe_step(cmd, lambda c=cmd: self.command(c))[1]
                record["pmu"][f"PMU{p}-{ch}"] = "off" if not probs else "not verified"
                errors += [f"PMU{p} ch{ch}: {e}" for e in probs]

    def _shutdown_smu(self, n: int) -> dict:
        """SMU ``n`` to 0 V, read back, off; each step checked (see the comment above :meth:`shutdown`)."""
        icc = fmt_num(self.smu_limits[n].compliance_min_a * 10)
        entry: dict = {"v_readback_v": None, "ok_0v": False, "off": False, "errors": []}
        probs = self._safe_step(f"DV{n},0,0,{icc}", lambda: self.command(f"DV{n},0,0,{icc}"))[1]
        if n <= 4:
            reading, more = self._safe_step(f"TV{n}", lambda: _parse_user_reading(self.query(f"TV{n}")))
            probs += more
            if reading is not None:
                entry["v_readback_v"] = reading.value
                if not abs(reading.value) < SAFE_V_MAX_V:   # NaN (overflow) is not 0 V either
                    probs.append(f"TV{n} read back {reading.value:g} V, not within {SAFE_V_MAX_V:g} V of 0 V")
        else:
            entry["readback"] = "not available: TV reads SMU1-4 only (KXCI-E p. 5-35)"
        entry["ok_0v"] = not probs
        off = self._safe_step(f"DV{n}", lambda: self.command(f"DV{n}"))[1]
        entry["off"] = not off
        entry["errors"] = probs + off
        entry["ok"] = entry["ok_0v"] and entry["off"]
        return entry

    def _safe_step(self, cmd: str, action: Callable[[], object], check: bool = True) -> tuple[object, list[str]]:
        """Run one shutdown step, then (``check``) read the instrument's error state.

        Returns (the action's result or None, the problems seen); no problems = the step is verified.
        """
        problems: list[str] = []
        result, raised_code = None, None
        try:
            result = action()
        except KXCIError as exc:
            problems.append(f"{cmd}: {exc}")
            raised_code = exc.code
        except Exception as exc:  # noqa: BLE001 - record and keep going: this is the safe path
            problems.append(f"{cmd}: {type(exc).__name__}: {exc}")
        if check:
            problems += self._error_state(cmd, raised_code)
        return result, problems

    def _error_state(self, cmd: str, raised_code: int | None) -> list[str]:
        """Status byte B1 and ``:ERROR:LAST:GET`` after ``cmd``; a stored error is cleared once read.

        ``raised_code``: the error the step itself already raised (not reported twice).
        """
        try:
            st = self.status
            if self.framing == "ethernet":
                reply = self.ask(":ERROR:LAST:GET").strip()
            else:                      # not query(): its serial poll would re-enter this check
                self.write(":ERROR:LAST:GET")
                reply = self.read().strip()
        except Exception as exc:  # noqa: BLE001
            return [f"{cmd}: error state not readable: {type(exc).__name__}: {exc}"]
        problems = []
        m = _ERROR_RE.match(reply)
        code = int(m.group("code")) if m else None
        if m is None:
            problems.append(f"{cmd}: error state unknown: :ERROR:LAST:GET answered {reply!r}")
        elif code != 0 and code != raised_code:
            problems.append(f"{cmd}: 4200 error {code}: {m.group('msg')}")
        elif code == 0 and raised_code is None and st & StatusByte.SYNTAX_ERROR:
            problems.append(f"{cmd}: status byte {int(st)} has the syntax-error bit (B1) set, no error stored")
        if code != 0:
            try:
                self.command(":ERROR:LAST:CLEAR")
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{cmd}: :ERROR:LAST:CLEAR failed: {type(exc).__name__}: {exc}")
        return problems
