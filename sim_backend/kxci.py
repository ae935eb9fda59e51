"""The simulated 4200A-SCS: a KXCI command interpreter in front of a die of memristors.

It answers what the instrument answers (KXCI-E Rev. E, see ``shared/reference/keithley4200-kxci.md``):
``ACK`` to set commands on Ethernet (nothing on GPIB), data replies in the instrument's formats
(status letter kept), the status byte, and the instrument's error codes, stored for
``:ERROR:LAST:GET``. A failed command still answers ``ACK`` on Ethernet (the manual is silent; this
is the conservative choice that forces clients to check the status byte) and sets bit B1.

This module is the chassis: cards, dispatch, modeless commands, status byte, fault injection. The
SMU command groups live in one module each — :mod:`.smu_pages` (DE/SS/SM), :mod:`.smu_test` (ME, DO,
RD), :mod:`.smu_user` (US), :mod:`.circuit` (the SMUs and the device as one circuit), :mod:`.drive_period`
(whether a drive is one cycle repeated, for the vectorized path) — and the pulse
card in :mod:`.pmu`. Rule for all of them: no command or combination ever yields data the instrument
would not; what is not emulated is refused with the instrument's error.

Time is virtual: every source step, delay and integration advances :attr:`Kxci4200.clock_s`, and
the device under test is integrated over those segments. Nothing sleeps unless
``realtime_factor > 0``, in which case a test stays *busy* for ``virtual duration × factor`` of
wall time (for rehearsing polling, Ctrl-C and live views).
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from .drive_period import drive_period
from .errors import ConnectionDropped, KxciFault
from .loads import OpenCircuit
from .modeless import Modeless
from .pmu import SimPmu
from .replies import (
    E_ARGUMENT,
    E_COMMAND,
    E_DURING_TEST,
    E_NO_SMU,
    E_NOT_MAPPED,
    E_PAGE,
    E_SETUP,
    E_SYSTEM_MODE,
    E_UNSUPPORTED,
    E_USER_MODE,
    ERROR_TEXT,
    NO_REPLY,
    args,
    eng,
    sci_list,
    split_commands,
)
from .simconfig import SimConfig
from .smu_pages import ChannelDef, SystemPages, TestSetup
from .smu_test import PLC, MeasurementControl, TestBuffer
from .smu_user import SmuState, UserMode

# the historical import surface (labrc.config, labrc.runner, labrc.characterize, tests, benchmarks)
__all__ = ["ERROR_TEXT", "NO_REPLY", "PLC", "Kxci4200", "SimConfig", "eng", "sci_list", "split_commands"]

# commands of the manual that this simulator does not implement: "unsupported" (−986), not "syntax"
_KNOWN_UNSIMULATED = {"AC", "RI", "RV", "SV", "GT", "EX", "GP", "GN", "GD", "GR", "AB"}
# legacy two-letter PGU commands (KXCI-E p. 7-59 … 7-71): routed to the pulse card when it has a
# ``legacy(mnemonic, rest)`` handler (sim_backend/pmu.py), otherwise −986
_LEGACY_PGU = {"PA", "PD", "PE", "PG", "PH", "PN", "PO", "PS", "PT", "PV", "RP", "TO", "TS", "VF"}


class Kxci4200(Modeless, SystemPages, MeasurementControl, UserMode):
    """One simulated 4200A-SCS chassis: SMUs, the KXCI state machine, the die under the probes."""

    def __init__(self, config: SimConfig, die: Any | None = None):
        self.config = config
        self.cards = config.smu_cards()
        self.die = die if die is not None else self._make_die(config)
        self.open_load = OpenCircuit(seed=config.seed + 10_007)
        self.clock_s = 0.0
        self.touched: set[int] = set()    # devices of the die that were under the probes (for checkpoints)
        self.internal_errors: list[str] = []   # simulator bugs, answered as an instrument error, kept here
        # Fault injection (tests and drills). Keys, each optional:
        #   "no_reply": {"match": prefix, "after": k, "count": n}  -> the next n matching commands after k
        #               matches get no reply at all (the client times out); the command is not executed
        #   "error":    {"match": prefix, "code": -966, "after": k, "count": n} -> the command fails with code
        #   "drop":     {"match": prefix, "after": k} -> from that command on the connection is lost
        #               (pyvisa VisaIOError VI_ERROR_CONN_LOST on every write)
        #   "device":   {"kind": "short"|"open"|..., "at_execute": n} -> dut.force_fault(kind) when the
        #               n-th :PMU:EXECUTE (or ME1/ME3 test) starts, i.e. mid-run
        self.faults: dict[str, Any] = dict(config.faults)
        self._fault_hits: dict[str, int] = {}
        self._dropped = False
        self._n_tests = 0
        # KCon function of each SMU (SMU, VSm, VMm), changed by MP; configuration, so *RST keeps it [inference]
        self.mapping: dict[int, str] = {n: "SMU" for n in self.cards}
        self.pmu = SimPmu(self)
        self.reset_all()
        # Channels after *RST (issue 13 item 1). KXCI *starts* in the 4145B set-up (KXCI-E p. 5-5:
        # SMU1 V-COM, SMU2 I-VAR2, SMU3 V-VAR1, SMU4 V-CONST), which is why the manual tells a program
        # to remove unused channels first. *RST resets the SMUs (p. 4-5), and Keithley's own example
        # programs (Tek KXCI_Examples: log sweep, current sweep, multi-channel sweep, res2t, "2 SMUs 0V")
        # send *RST and then define only CH1/CH2 (or CH1-CH3) before ME1; they run on the instrument
        # only if *RST leaves no channel defined (with the 4145B set kept, CH1 VAR1 + CH3 VAR1 is
        # illegal). So: the 4145B set at start-up, an empty channel set after *RST. A new VAR1
        # definition does *not* displace an older one (that reading would run CH3/CH4 the program never
        # asked for); without *RST a program must remove them, as the manual says.
        start = {1: ("V1", "I1", "COM", 3), 2: ("V2", "I2", "I", 2), 3: ("V3", "I3", "V", 1), 4: ("V4", "I4", "V", 3)}
        for n, (vn, inn, src, fn) in start.items():
            if n in self.cards:
                self.setup.chans[("CH", n)] = ChannelDef("CH", n, vn, inn, src, fn)

    # --- construction -----------------------------------------------------------------------------
    @staticmethod
    def _make_die(cfg: SimConfig):
        if cfg.load == "open":
            return None
        if cfg.load.startswith("resistor:"):
            from .loads import Resistor
            return Resistor(float(cfg.load.split(":", 1)[1]), seed=cfg.seed)
        if cfg.preset_params:           # a fitted device (labrc sim fit): @labrc and sim serve alike
            from .simconfig import fitted_die
            return fitted_die(cfg)
        from .model import Die
        return Die(n_devices=cfg.n_devices, preset=cfg.preset, seed=cfg.seed)

    @property
    def dut(self):
        """The device between the wired terminals (a memristor of the die, or a calibration load)."""
        if self.die is None:
            return self.open_load
        if hasattr(self.die, "device"):
            self.touched.add(self.config.device_index)
            return self.die.device(self.config.device_index)
        return self.die

    def reset_all(self) -> None:
        """``*RST``: SMUs to power-on defaults, no channel defined, buffers and errors cleared, DE page."""
        self.smus = {n: SmuState() for n in self.cards}
        self.mode, self.page = "SYS", "DE"
        self.setup = TestSetup()
        self.integration_plc = PLC[1]
        self.resolution = 7
        self.exit_on_compliance = False
        self.srq_on_data = False          # DR1
        self.buffer = TestBuffer()
        self.status = 0
        self._ready_at: float | None = None
        self.last_error: tuple[int, str] = (0, "")
        self.pmu.init(0)   # *RST clears PMU data and deletes Segment-Arb sequences (KXCI-E p. 4-5)

    @property
    def pmu_out(self) -> dict[int, bool]:
        return {n: c.output for n, c in self.pmu.ch.items()}

    # --- fault injection ----------------------------------------------------------------------------
    def _fault_for(self, key: str, cmd: str) -> dict | None:
        f = self.faults.get(key)
        if not f or not cmd.upper().startswith(str(f.get("match", "")).upper()):
            return None
        hit = self._fault_hits.get(key, 0)
        self._fault_hits[key] = hit + 1
        after, count = int(f.get("after", 0)), f.get("count", 1)
        if hit < after or (count is not None and hit >= after + int(count)):
            return None
        return f

    def _start_test_hook(self) -> None:
        """Called when a test (``:PMU:EXECUTE``, ``ME1``/``ME3``) starts: injects a device fault on cue."""
        self._n_tests += 1
        f = self.faults.get("device")
        if f and int(f.get("at_execute", 1)) == self._n_tests and hasattr(self.dut, "force_fault"):
            self.dut.force_fault(f.get("kind", "short"))

    # --- entry point ------------------------------------------------------------------------------
    def handle(self, message: str) -> str | None:
        """Execute one message (possibly several commands); return its data reply or None (= ACK)."""
        reply = None
        for cmd in split_commands(message):
            if self._dropped or self._fault_for("drop", cmd):
                self._dropped = True
                raise ConnectionDropped(cmd)
            if self._fault_for("no_reply", cmd):
                return NO_REPLY
            f = self._fault_for("error", cmd)
            try:
                if f:
                    raise KxciFault(int(f.get("code", E_COMMAND)), "injected")
                r = self.execute(cmd)
            except KxciFault as f:
                self._error(f.code, cmd)
                r = None
            except (ValueError, IndexError, KeyError, TypeError, OverflowError):
                self._error(E_ARGUMENT, cmd)
                r = None
            except Exception as exc:  # noqa: BLE001 - a simulator bug must not hang the client
                self.internal_errors.append(f"{cmd!r}: {type(exc).__name__}: {exc}")
                self._error(E_SETUP, cmd)
                r = None
            if r is not None:
                reply = r
            self.clock_s += self.config.command_latency_s
        return reply

    def _error(self, code: int, cmd: str) -> None:
        self.last_error = (code, ERROR_TEXT.get(code, "KXCI error."))
        self.status |= 2 | 64   # B1 syntax error + RQS

    # --- status byte (KXCI-E p. 3-3, 3-4; reference §1.6) ---------------------------------------------
    def _data_ready(self) -> None:
        """B0 data ready; with ``DR1`` it also requests service (B6, the GPIB SRQ)."""
        self.status |= 1 | (64 if self.srq_on_data else 0)

    def _test_done_at(self, wall_end: float) -> None:
        if wall_end > time.monotonic():
            self._ready_at = wall_end          # data ready when the paced test ends
        else:
            self._data_ready()

    def _refresh_status(self) -> None:
        if self._ready_at is not None and time.monotonic() >= self._ready_at:
            self._ready_at = None
            self._data_ready()

    def serial_poll(self) -> int:
        """The status byte; reading it clears B0, B1 and RQS (KXCI-E p. 3-3)."""
        self._refresh_status()
        st = self.status | (16 if self.buffer_busy() else 0)
        self.status &= ~(1 | 2 | 64)
        return st

    def service_requested(self) -> bool:
        """RQS pending (not cleared): what a GPIB SRQ line shows; used by the library's wait_on_event."""
        self._refresh_status()
        return bool(self.status & 64)

    def buffer_busy(self) -> bool:
        b = self.buffer
        return (self.config.realtime_factor > 0 and b.n > 0
                and time.monotonic() < b.wall_start + b.wall_duration)

    # --- dispatcher -------------------------------------------------------------------------------
    def execute(self, cmd: str) -> str | None:
        if not cmd:
            return None
        head = re.match(r"^[:*]?[A-Za-z:?*]*", cmd).group(0)
        if head != head.upper():   # commands must be upper case (SBX observed -992 for 'ul')
            raise KxciFault(E_COMMAND, "lower case")
        up = cmd.upper()
        if up == "*IDN?":
            return f"KEITHLEY INSTRUMENTS,KI4200A,{self.config.serial},{self.config.firmware}"
        if up == "ID":
            return f"KI4200A {self.config.firmware}"
        if up == "*OPT?":
            return ",".join(self.config.options())
        if up == "*RST":
            self._require_idle()
            self.reset_all()
            return None
        if up == "SP":
            return str(self.serial_poll())
        if up == ":ERROR:LAST:GET":
            code, msg = self.last_error
            return f"{msg} ({code})" if code else "No error. (0)"
        if up == ":ERROR:LAST:CLEAR":
            self.last_error = (0, "")
            return None
        if up.startswith(":PMU:"):
            return self._pmu(up)
        if up.startswith(":CVU:"):
            return self._cvu(up)
        if up in ("DE", "SS", "SM", "MD"):
            self._require_idle()
            self.mode, self.page = "SYS", up
            return None
        if up == "US":
            self._require_idle()
            self.mode, self.page = "US", None
            return None
        if up == "UL":
            raise KxciFault(E_UNSUPPORTED, "user libraries are not simulated")
        m = re.match(r"^([A-Z]{2})\s*(.*)$", cmd, re.DOTALL)
        if not m:
            raise KxciFault(E_COMMAND, cmd)
        mnem, rest = m.group(1), m.group(2).strip()
        if mnem in _LEGACY_PGU:
            return self._legacy_pgu(mnem, rest)
        handler = getattr(self, f"_cmd_{mnem}", None)
        if handler is None:
            raise KxciFault(E_UNSUPPORTED if mnem in _KNOWN_UNSIMULATED else E_COMMAND, mnem)
        return handler(rest)

    def _require_idle(self) -> None:
        if self.buffer_busy():
            raise KxciFault(E_DURING_TEST)

    def _page(self, *pages: str) -> None:
        self._require_idle()
        if self.mode != "SYS":
            raise KxciFault(E_USER_MODE)
        if self.page not in pages:
            raise KxciFault(E_PAGE)

    def _user(self) -> None:
        self._require_idle()
        if self.mode != "US":
            raise KxciFault(E_SYSTEM_MODE)

    # --- cards and channels -------------------------------------------------------------------------
    def _smu(self, text: str) -> int:
        """An installed SMU number; an SMU the chassis does not have is −979 (KXCI-E p. 2-13)."""
        n = int(text)
        if n not in self.cards:
            raise KxciFault(E_NO_SMU)
        return n

    def _mapped(self, kind: str, text: str) -> int:
        """Number of a VS/VM channel some SMU is mapped to (``MP``); otherwise −988 "not mapped"."""
        m = int(text)
        if f"{kind}{m}" not in self.mapping.values():
            raise KxciFault(E_NOT_MAPPED, f"{kind}{m} is not mapped")
        return m

    def _physical(self, key: tuple[str, int]) -> int:
        kind, m = key
        if kind == "CH":
            return m
        return next(n for n, f in self.mapping.items() if f == f"{kind}{m}")

    def _comp_min(self, key: tuple[str, int], kind: str) -> float:
        card = self.cards.get(self._physical(key))
        return card.comp_min_a if (card and kind == "V") else 0.0

    def _wiring(self) -> tuple[int | None, int | None]:
        """(top SMU, bottom SMU or 0 for the ground unit) from the configured probes."""
        def terminal(name: str) -> int | None:
            if name.upper() == "GNDU":
                return 0
            m = re.match(r"^SMU(\d)$", name.upper())
            return int(m.group(1)) if m and int(m.group(1)) in self.cards else None
        return terminal(self.config.top), terminal(self.config.bottom)

    def _cmd_MP(self, rest: str) -> None:
        """``MP ch, SMUn|VSn|VMn``: map SMU ``ch`` to a KCon function (any page; KXCI-E p. 5-14)."""
        self._require_idle()
        a = args(rest)
        if len(a) != 2:
            raise KxciFault(E_ARGUMENT)
        n = self._smu(a[0])
        m = re.fullmatch(r"(SMU|VS|VM)([1-8])", a[1].strip().upper())
        if not m:
            raise KxciFault(E_ARGUMENT)
        function = "SMU" if m.group(1) == "SMU" else m.group(0)
        for k, f in self.mapping.items():      # a function is on one SMU at a time
            if f == function and function != "SMU":
                self.mapping[k] = "SMU"
        old = self.mapping[n]
        self.mapping[n] = function
        keys = [("CH", n)] + ([(old[:2], int(old[2:]))] if old != "SMU" else [])
        for key in keys:
            self._define(key, None)
        self.smus[n] = SmuState()

    def _new_buffer(self) -> TestBuffer:
        return TestBuffer()

    # --- the device -----------------------------------------------------------------------------------
    def _noise(self, n: int) -> np.ndarray:
        return self.open_load.apply_segments(np.zeros(n), np.full(n, 1e-9), np.inf).i_a

    def _apply(self, v_dev: np.ndarray, dt: np.ndarray, icc: np.ndarray):
        dut = self.dut
        if dut.t_s < self.clock_s:
            dut.idle(self.clock_s - dut.t_s)
        k = drive_period(v_dev, dt, icc)
        if k and hasattr(dut, "apply_cycles"):   # a burst of identical cycles: the vectorized path
            r = dut.apply_cycles(v_dev[:k], dt[:k], icc[:k], v_dev.size // k)
            return type(r)(*(a.reshape(-1) for a in (r.i_a, r.v_dev_v, r.compliance)))
        return dut.apply_segments(v_dev, dt, icc)

    # --- other cards ----------------------------------------------------------------------------------
    def _pmu(self, up: str) -> str | None:
        """``:PMU:`` commands go to the pulse card (sim_backend/pmu.py)."""
        return self.pmu.handle(up)

    def _legacy_pgu(self, mnem: str, rest: str) -> str | None:
        """Legacy two-letter PGU commands (KXCI-E p. 7-59): the pulse card's ``legacy`` handler."""
        handler = getattr(self.pmu, "legacy", None)
        if handler is None:
            raise KxciFault(E_UNSUPPORTED, f"legacy PGU command {mnem}")
        return handler(mnem, rest)

    def _cvu(self, up: str) -> str | None:
        """``:CVU:`` commands. Without a CVU card: −988 "instrument not mapped" [inference: the manual
        lists no CVU-specific "not present" code]; with one: −986, C-V measurement is not simulated."""
        if not self.config.installed("CVU"):
            raise KxciFault(E_NOT_MAPPED, "no CVU in this chassis")
        raise KxciFault(E_UNSUPPORTED, "C-V measurement is not simulated")
