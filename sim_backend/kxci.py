"""The simulated 4200A-SCS: a KXCI command interpreter in front of a die of memristors.

It answers what the instrument answers (KXCI-E Rev. E, see ``shared/reference/keithley4200-kxci.md``):
``ACK`` to set commands on Ethernet (nothing on GPIB), data replies in the instrument's formats
(status letter kept), the status byte, and the instrument's error codes, stored for
``:ERROR:LAST:GET``. A failed command still answers ``ACK`` on Ethernet (the manual is silent; this
is the conservative choice that forces clients to check the status byte) and sets bit B1.

Time is virtual: every source step, delay and integration advances :attr:`Kxci4200.clock_s`, and
the device under test is integrated over those segments. Nothing sleeps unless
``realtime_factor > 0``, in which case a test stays *busy* for ``virtual duration × factor`` of
wall time (for rehearsing polling, Ctrl-C and live views).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConnectionDropped, KxciFault
from .loads import OpenCircuit
from .pmu import PMU_ERROR_TEXT, SimPmu

# error codes (KXCI-E p. 2-12, 2-13)
E_ARGUMENT, E_COMMAND, E_SETUP, E_PAGE, E_UNSUPPORTED = -993, -992, -991, -989, -986
E_DURING_TEST, E_NO_SMU, E_USER_MODE, E_SYSTEM_MODE = -980, -979, -975, -974
ERROR_TEXT = {
    E_ARGUMENT: "KXCI argument error.", E_COMMAND: "KXCI command error.", E_SETUP: "Illegal setup.",
    E_PAGE: "Command not valid on this page.", E_UNSUPPORTED: "Unsupported command.",
    E_DURING_TEST: "Command not valid during test execution.", E_NO_SMU: "SMU not present.",
    E_USER_MODE: "Command not valid in User mode.", E_SYSTEM_MODE: "Command not valid in System mode.",
    **PMU_ERROR_TEXT,
}
PLC = {1: 0.1, 2: 1.0, 3: 10.0}
MAX_V, MIN_ICC_A, LIST_MAX = 210.0, 100e-9, 4096
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[Ee][-+]?\d+)?"


class _NoReply:
    """Reply sentinel for an injected timeout: the VISA layer queues nothing, so the client's read
    times out as on a hung instrument."""

    def __repr__(self) -> str:
        return "NO_REPLY"


NO_REPLY = _NoReply()


@dataclass
class SimConfig:
    """What the simulated instrument is: cards, die, wiring, timing. Plain data, JSON-able."""

    n_smus: int = 4
    preset: str = "OGB-Ag"
    n_devices: int = 25
    seed: int = 0
    device_index: int = 0
    top: str = "SMU1"                 # terminal on the Ag top electrode
    bottom: str = "SMU2"              # SMU on the ITO bottom electrode, or "GNDU"
    line_frequency_hz: float = 60.0
    command_latency_s: float = 1e-3   # virtual time each command takes on the instrument
    realtime_factor: float = 0.0      # 0 = as fast as possible
    serial: str = "1442736"
    firmware: str = "V1.13"
    tcpip_resource: str = "TCPIP0::k4200.sim::1225::SOCKET"
    gpib_resource: str = "GPIB0::17::INSTR"
    load: str = "memristor"           # "memristor", "open", or "resistor:<ohms>" (calibration load)
    pmu_top_channel: int = 1          # PMU channel wired (through its RPM) to the top electrode; bottom grounded
    faults: dict = field(default_factory=dict)   # fault injection, see Kxci4200.faults

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SmuState:
    on: bool = False
    mode: str = "V"          # V or I source
    value: float = 0.0       # programmed V (V-source) or I (I-source)
    comp: float = 105e-6     # compliance (A for V-source, V for I-source); power-on default 105 µA
    last_v: float = 0.0
    last_i: float = 0.0
    last_status: str = "N"


@dataclass
class ChannelDef:
    vname: str
    iname: str
    source_mode: int   # 1 V, 2 I, 3 common
    function: int      # 1 VAR1, 2 VAR2, 3 const, 4 VAR1'


@dataclass
class TestBuffer:
    """Readings of the last system-mode test, by channel name (plus ``CHnT`` timestamps)."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    status: dict[str, np.ndarray] = field(default_factory=dict)
    n: int = 0
    wall_start: float = 0.0
    wall_duration: float = 0.0
    t_points: np.ndarray = field(default_factory=lambda: np.empty(0))

    def available(self, factor: float) -> int:
        """Points measured so far (all when not paced)."""
        if factor <= 0 or self.n == 0:
            return self.n
        if self.wall_duration <= 0:
            return self.n
        frac_t = (time.monotonic() - self.wall_start) / factor
        return int(np.searchsorted(self.t_points, frac_t, side="right"))


def eng(values: np.ndarray, digits: int = 5) -> list[str]:
    """Engineering notation as the 4200 prints it (``54.978E-15``): exponent a multiple of 3."""
    v = np.asarray(values, dtype=np.float64)
    a = np.abs(v)
    nz = a > 0
    e3 = np.zeros(v.shape, dtype=np.int64)
    e3[nz] = (np.floor(np.log10(a[nz]) / 3.0) * 3.0).astype(np.int64)
    mant = np.where(nz, v / 10.0 ** e3, 0.0)
    int_digits = 1 + (np.abs(mant) >= 10) + (np.abs(mant) >= 100)
    dec = np.maximum(digits - int_digits, 0)
    # a mantissa that rounds up to 1000 moves to the next exponent
    bump = np.abs(np.round(mant * 10.0 ** dec) / 10.0 ** dec) >= 1000.0
    if bump.any():
        mant, e3 = np.where(bump, mant / 1000.0, mant), e3 + 3 * bump
        dec = np.where(bump, digits - 1, dec)
    return [f"{m:.{d}f}E{e:+03d}" for m, d, e in zip(mant.tolist(), dec.tolist(), e3.tolist())]


_POW10 = 10.0 ** np.arange(-300, 308, dtype=np.float64)   # _POW10[k] = 10**(k-300)


def sci_list(values: np.ndarray, digits: int = 7, letters: np.ndarray | None = None) -> str:
    """``X±N.NNNNNNE±NN,…``: the ``DO`` data format of KXCI-E p. 3-1, built for a whole block at once.

    The 7-digit case (the 4200A's resolution) is composed as a numpy byte matrix (no Python call per
    value); other resolutions use ``%`` formatting.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n == 0:
        return ""
    v = np.where(np.abs(v) < 1e-99, 0.0, np.clip(v, -9.999999e98, 9.999999e98))
    if digits != 7:
        body = (("%+." + str(max(digits - 1, 2)) + "E,") * n) % tuple(v.tolist())
        rows = np.frombuffer(body.encode("ascii"), dtype=np.uint8).reshape(n, -1)
    else:
        a = np.abs(v)
        nz = a > 0
        e = np.zeros(n, np.int64)
        e[nz] = np.floor(np.log10(a[nz])).astype(np.int64)
        m = np.zeros(n, np.int64)
        m[nz] = np.rint(a[nz] * _POW10[306 - e[nz]]).astype(np.int64)   # a / 10**(e-6)
        over = m >= 10_000_000                 # rounding carried into the next decade
        m[over] //= 10
        e[over] += 1
        under = nz & (m < 1_000_000)           # float error just below a decade
        m[under] *= 10
        e[under] -= 1
        rows = np.empty((n, 14), np.uint8)
        rows[:, 0] = np.where(v < 0, ord("-"), ord("+"))
        for j in range(7):
            rows[:, 1 + j + (j > 0)] = ord("0") + (m // 10 ** (6 - j)) % 10
        rows[:, 2] = ord(".")
        rows[:, 9] = ord("E")
        rows[:, 10] = np.where(e < 0, ord("-"), ord("+"))
        ae = np.abs(e)
        rows[:, 11] = ord("0") + ae // 10
        rows[:, 12] = ord("0") + ae % 10
        rows[:, 13] = ord(",")
    if letters is not None:
        lead = np.ascontiguousarray(letters, dtype="<U1").view(np.uint32).astype(np.uint8).reshape(n, 1)
        rows = np.hstack([lead, rows])
    return rows.tobytes()[:-1].decode("ascii")


class Kxci4200:
    """One simulated 4200A-SCS chassis: SMUs, the KXCI state machine, the die under the probes."""

    def __init__(self, config: SimConfig, die: Any | None = None):
        self.config = config
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
        self.pmu = SimPmu(self)
        self.reset_all()

    # --- construction -----------------------------------------------------------------------------
    @staticmethod
    def _make_die(cfg: SimConfig):
        if cfg.load == "open":
            return None
        if cfg.load.startswith("resistor:"):
            from .loads import Resistor
            return Resistor(float(cfg.load.split(":", 1)[1]), seed=cfg.seed)
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
        """``*RST``: SMUs to power-on defaults, buffers and errors cleared, system mode DE page."""
        self.smus = {n: SmuState() for n in range(1, self.config.n_smus + 1)}
        self.mode = "SYS"
        self.page = "DE"
        # system-mode start-up mimics the 4145B (KXCI-E p. 5-5)
        self.chdefs: dict[int, ChannelDef] = {
            1: ChannelDef("V1", "I1", 3, 3), 2: ChannelDef("V2", "I2", 2, 2),
            3: ChannelDef("V3", "I3", 1, 1), 4: ChannelDef("V4", "I4", 1, 3)}
        self.lists: dict[int, np.ndarray] = {}
        self.list_comp: dict[int, float] = {}
        self.var1_linear: tuple[float, float, int, float] | None = None
        self.consts: dict[int, tuple[float, float]] = {}
        self.hold_s = 0.0
        self.delay_s = 0.0
        self.it = 1
        self.resolution = 7
        self.list_names: list[str] = []
        self.buffer = TestBuffer()
        self.status = 0
        self.last_error: tuple[int, str] = (0, "")
        if hasattr(self, "pmu"):
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
            except (ValueError, IndexError, KeyError, TypeError):
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

    def serial_poll(self) -> int:
        """The status byte; reading it clears B1 and RQS (KXCI-E p. 3-3)."""
        st = self.status
        if self.buffer_busy():
            st |= 16
        else:
            st &= ~16
        self.status &= ~(2 | 64)
        return st

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
            return ",".join([f"SMU{n}" for n in self.smus] + ["PMU1"])
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
        m = re.match(r"^([A-Z]{2})\s*(.*)$", cmd, re.S)
        if not m:
            raise KxciFault(E_COMMAND, cmd)
        mnem, rest = m.group(1), m.group(2).strip()
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

    def _smu(self, text: str) -> int:
        n = int(text)
        if n not in self.smus:
            raise KxciFault(E_NO_SMU)
        return n

    # --- modeless -----------------------------------------------------------------------------------
    def _cmd_BC(self, rest: str) -> None:
        self._require_idle()
        self.buffer = TestBuffer()
        self.status &= ~1

    def _cmd_IT(self, rest: str) -> None:
        code = int(rest.split(",")[0])
        if code not in (1, 2, 3, 4):
            raise KxciFault(E_ARGUMENT)
        self.it = code if code in PLC else 2

    def _cmd_RS(self, rest: str) -> None:
        d = int(rest)
        if not 3 <= d <= 7:
            raise KxciFault(E_ARGUMENT)
        self.resolution = d

    def _cmd_EM(self, rest: str) -> None:
        if [int(x) for x in _args(rest)] not in ([1, 0], [1, 1]):
            raise KxciFault(E_UNSUPPORTED, "4145 emulation is not simulated")

    def _cmd_DR(self, rest: str) -> None:
        if int(rest) not in (0, 1):
            raise KxciFault(E_ARGUMENT)

    def _cmd_EC(self, rest: str) -> None:
        if int(rest) not in (0, 1):
            raise KxciFault(E_ARGUMENT)

    def _cmd_RG(self, rest: str) -> None:
        n, i = _args(rest)
        self._smu(n)
        float(i)

    def _cmd_DO(self, rest: str) -> str:
        name = _quoted(rest)
        vals, stat = self._buffer_column(name)
        k = self.buffer.available(self.config.realtime_factor)
        vals, stat = vals.copy(), stat.copy()
        vals[k:] = 0.0
        stat[k:] = "N"
        self.status &= ~1
        if name.endswith("T") and name.startswith("CH"):
            return sci_list(vals, self.resolution)
        return sci_list(vals, self.resolution, stat)

    def _cmd_RD(self, rest: str) -> str:
        parts = _args(rest)
        name, k = _quoted(parts[0]), int(parts[1])
        vals, _ = self._buffer_column(name)
        if k < 1 or k > min(len(vals), self.buffer.available(self.config.realtime_factor)):
            return "0"
        return eng(vals[k - 1:k], self.resolution)[0]

    def _buffer_column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        b = self.buffer
        if name in b.values:
            return b.values[name], b.status[name]
        if name.endswith("S") and name[:-1] in b.status:   # status column 'nameS'
            st = b.status[name[:-1]]
            return (st == "C").astype(np.float64), np.full(st.shape, "N")
        raise KxciFault(E_ARGUMENT, f"no data named {name!r}")

    # --- system mode: DE ----------------------------------------------------------------------------
    def _cmd_CH(self, rest: str) -> None:
        self._page("DE")
        a = _args(rest)
        n = self._smu(a[0])
        if len(a) == 1:
            self.chdefs.pop(n, None)
            return
        vname, iname = _quoted(a[1]), _quoted(a[2])
        mode, func = int(a[3]), int(a[4])
        if mode not in (1, 2, 3) or func not in (1, 2, 3, 4) or (mode == 3 and func != 3):
            raise KxciFault(E_ARGUMENT)
        if max(len(vname), len(iname)) > 6:
            raise KxciFault(E_ARGUMENT)
        self.chdefs[n] = ChannelDef(vname, iname, mode, func)

    def _cmd_VM(self, rest: str) -> None:
        self._page("DE")

    def _cmd_VS(self, rest: str) -> None:
        self._page("DE")

    # --- system mode: SS ----------------------------------------------------------------------------
    def _cmd_VL(self, rest: str) -> None:
        self._page("SS")
        a = _args(rest)
        n = self._smu(a[0])
        master, comp = int(a[1]), float(a[2])
        vals = np.array(a[3:], dtype=np.float64)
        if master not in (0, 1) or not 1 <= vals.size <= LIST_MAX or np.any(np.abs(vals) > MAX_V):
            raise KxciFault(E_ARGUMENT)
        if abs(comp) > 0.105 or comp == 0:
            raise KxciFault(E_ARGUMENT)
        vals[np.abs(vals) < 1e-3] = 0.0                       # < 1 mV is set to zero (p. 5-17)
        self.lists[n] = vals
        self.list_comp[n] = max(abs(comp), MIN_ICC_A)
        self.var1_linear = None          # the last VAR1 definition wins        # raised silently to the minimum (p. 5-20)

    def _cmd_VR(self, rest: str) -> None:
        self._page("SS")
        a = _args(rest)
        mode, start, stop, step = int(a[0]), float(a[1]), float(a[2]), float(a[3])
        comp = float(a[4]) if len(a) > 4 else 0.105
        if mode != 1 or step == 0:
            raise KxciFault(E_UNSUPPORTED if mode in (2, 3, 4) else E_ARGUMENT)
        npts = int(abs((stop - start) / step) + 1.5)
        if npts > 1024 or max(abs(start), abs(stop)) > MAX_V:
            raise KxciFault(E_ARGUMENT)
        self.var1_linear = (start, step, npts, max(abs(comp), MIN_ICC_A))
        for n, d in self.chdefs.items():     # the last VAR1 definition wins over an earlier VL list
            if d.function == 1:
                self.lists.pop(n, None)

    def _cmd_VC(self, rest: str) -> None:
        self._page("SS")
        a = _args(rest)
        n = self._smu(a[0])
        v, comp = float(a[1]), float(a[2])
        if abs(v) > MAX_V or abs(comp) > 0.105:
            raise KxciFault(E_ARGUMENT)
        self.consts[n] = (v, max(abs(comp), MIN_ICC_A))

    def _cmd_HT(self, rest: str) -> None:
        self._page("SS")
        t = float(rest)
        if not 0 <= t <= 655.3:
            raise KxciFault(E_ARGUMENT)
        self.hold_s = t

    def _cmd_DT(self, rest: str) -> None:
        self._page("SS")
        t = float(rest)
        if not 0 <= t <= 6.553:
            raise KxciFault(E_ARGUMENT)
        self.delay_s = t

    def _cmd_ST(self, rest: str) -> None:
        self._page("SS")

    def _cmd_SR(self, rest: str) -> None:
        a = _args(rest)
        self._smu(a[0])

    # --- system mode: SM / MD -----------------------------------------------------------------------
    def _cmd_DM(self, rest: str) -> None:
        self._page("SM")
        if int(rest) not in (1, 2):
            raise KxciFault(E_ARGUMENT)

    def _cmd_LI(self, rest: str) -> None:
        self._page("SM")
        names = [_quoted(x) for x in _args(rest)]
        if not 1 <= len(names) <= 6:
            raise KxciFault(E_ARGUMENT)
        self.list_names = names

    def _cmd_ME(self, rest: str) -> None:
        code = int(rest)
        if code == 4:
            if self.buffer_busy():   # abort: keep what was measured, stop being busy
                k = self.buffer.available(self.config.realtime_factor)
                self.buffer.n = k
                self.buffer.wall_duration = 0.0
                for d in (self.buffer.values, self.buffer.status):
                    for key in d:
                        d[key] = d[key][:k]
            return None
        self._page("MD")
        if code not in (1, 3):
            raise KxciFault(E_UNSUPPORTED if code == 2 else E_ARGUMENT)
        self._start_test_hook()
        self._run_sweep(append=(code == 3))
        return None

    def _run_sweep(self, append: bool) -> None:
        """Execute the defined test: VAR1 list on one SMU, constants on the others, over the DUT."""
        var1 = [n for n, d in self.chdefs.items() if d.function == 1]
        if len(var1) != 1 or (var1[0] not in self.lists and self.var1_linear is None):
            raise KxciFault(E_SETUP, "need exactly one VAR1 channel with a VL list")
        n1 = var1[0]
        if n1 not in self.lists and self.var1_linear is not None:
            start, step, n, comp = self.var1_linear
            self.lists[n1], self.list_comp[n1] = start + step * np.arange(n), comp
        v_list, icc1 = self.lists[n1], self.list_comp[n1]
        npts = v_list.size
        t_int = PLC[self.it] / self.config.line_frequency_hz
        # programmed terminal voltages for every defined channel over the sweep
        prog = {n1: v_list}
        comps = {n1: icc1}
        for n, d in self.chdefs.items():
            if n == n1:
                continue
            v, c = self.consts.get(n, (0.0, 105e-6))
            prog[n], comps[n] = np.full(npts, v), c
        for n in self.smus:
            self.smus[n].on = n in prog
        dt = np.full(npts, self.delay_s + t_int)
        dt[0] += self.hold_s
        v_dev, icc, flip = self._dut_drive(prog, comps, npts)
        self._v_dev_prog = v_dev
        t0 = self.clock_s
        res = self._apply(v_dev, dt, icc)
        t_points = np.cumsum(dt)
        self.clock_s = t0 + float(t_points[-1])
        buf = self.buffer if append else TestBuffer()
        cols_v, cols_i, cols_s = {}, {}, {}
        for n, d in self.chdefs.items():
            if n not in prog:
                continue
            i_n, v_n, s_n = self._terminal_readings(n, prog[n], res, flip, comps)
            cols_v[d.vname], cols_i[d.iname], cols_s[d.iname] = v_n, i_n, s_n
            cols_v[f"CH{n}T"] = t_points
        for name, vals in list(cols_v.items()) + list(cols_i.items()):
            st = cols_s.get(name, np.full(npts, "N"))
            if append and name in buf.values:
                buf.values[name] = np.concatenate([buf.values[name], vals])
                buf.status[name] = np.concatenate([buf.status[name], st])
            else:
                buf.values[name], buf.status[name] = vals, st
        buf.n = len(next(iter(buf.values.values())))
        buf.t_points = np.concatenate([buf.t_points, t_points]) if append and buf.t_points.size else t_points
        buf.wall_start = time.monotonic()
        buf.wall_duration = float(t_points[-1]) * self.config.realtime_factor
        self.buffer = buf
        self.status |= 1
        for n in prog:   # outputs stay at the last point (no ST standby simulated)
            self.smus[n].value = float(prog[n][-1])

    # --- wiring and the device ----------------------------------------------------------------------
    def _terminal(self, name: str) -> int | None:
        if name.upper() == "GNDU":
            return 0
        m = re.match(r"^SMU(\d)$", name.upper())
        return int(m.group(1)) if m else None

    def _dut_drive(self, prog: dict[int, np.ndarray], comps: dict[int, float], npts: int):
        """Device voltage (top − bottom) and effective compliance from the wired terminals."""
        top, bot = self._terminal(self.config.top), self._terminal(self.config.bottom)
        if top not in prog or (bot != 0 and bot not in prog):
            return np.zeros(npts), np.zeros(npts), None   # a terminal floats: no current can flow
        vb = prog[bot] if bot else np.zeros(npts)
        icc = min(comps[top], comps[bot]) if bot else comps[top]
        return prog[top] - vb, np.full(npts, icc), (top, bot)

    def _apply(self, v_dev: np.ndarray, dt: np.ndarray, icc: np.ndarray):
        dut = self.dut
        if dut.t_s < self.clock_s:
            dut.idle(self.clock_s - dut.t_s)
        open_circuit = not np.any(icc)
        if open_circuit:
            return self.open_load.apply_segments(np.zeros_like(v_dev), dt, np.inf)
        k = _period(v_dev, dt, icc)
        if k and hasattr(dut, "apply_cycles"):   # a burst of identical cycles: the vectorized path
            r = dut.apply_cycles(v_dev[:k], dt[:k], icc[:k], v_dev.size // k)
            return type(r)(*(a.reshape(-1) for a in (r.i_a, r.v_dev_v, r.compliance)))
        return dut.apply_segments(v_dev, dt, icc)

    def _terminal_readings(self, n: int, v_prog: np.ndarray, res, flip, comps):
        """What SMU ``n`` measures: +I at the top, −I at the bottom, noise if not wired."""
        npts = v_prog.size
        if flip is None or n not in flip:
            noise = self.open_load.apply_segments(np.zeros(npts), np.full(npts, 1e-9), np.inf).i_a
            return noise, v_prog.copy(), np.full(npts, "N")
        top, bot = flip
        limiting = top if (not bot or comps[top] <= comps[bot]) else bot
        status = np.where(res.compliance & (n == limiting), "C", "N")
        if n == top:
            # in compliance the terminal voltage falls by what the clamp removed from the device
            v_meas = np.where(res.compliance, v_prog - (self._v_dev_prog - res.v_dev_v), v_prog)
            return res.i_a.copy(), v_meas, status
        return -res.i_a, v_prog.copy(), status

    # --- user mode ----------------------------------------------------------------------------------
    def _cmd_DV(self, rest: str) -> None:
        self._user()
        a = _args(rest)
        n = self._smu(a[0])
        if len(a) == 1:
            self.smus[n] = SmuState(comp=self.smus[n].comp)
            return None
        rng, v, comp = int(a[1]), float(a[2]), float(a[3])
        if rng not in range(0, 6) or abs(v) > MAX_V or comp == 0 or abs(comp) > 0.105:
            raise KxciFault(E_ARGUMENT)
        if rng in (4, 5):
            raise KxciFault(E_SETUP, "range needs a preamp")
        s = self.smus[n]
        s.on, s.mode, s.value, s.comp = True, "V", v, max(abs(comp), MIN_ICC_A)
        self._settle()

    def _cmd_DI(self, rest: str) -> None:
        self._user()
        a = _args(rest)
        n = self._smu(a[0])
        if len(a) == 1:
            self.smus[n] = SmuState()
            return None
        rng, i, vcomp = int(a[1]), float(a[2]), float(a[3])
        if rng not in range(0, 11) or abs(i) > 0.105 or abs(vcomp) > MAX_V:
            raise KxciFault(E_ARGUMENT)
        s = self.smus[n]
        s.on, s.mode, s.value, s.comp = True, "I", i, abs(vcomp)
        self._settle()

    def _user_drive(self) -> tuple[float, float, tuple | None]:
        """(device V, compliance, wiring) for the present user-mode outputs.

        A current source with voltage compliance ``Vc`` is a voltage source at ``±Vc`` limited to
        ``|I|``: the same clamp, seen from the other side.
        """
        top, bot = self._terminal(self.config.top), self._terminal(self.config.bottom)
        st, sb = self.smus.get(top), self.smus.get(bot) if bot else None
        if st is None or not st.on or (bot and (sb is None or not sb.on)):
            return 0.0, 0.0, None

        def as_vsource(s: SmuState) -> tuple[float, float]:
            if s.mode == "V":
                return s.value, s.comp
            return (np.sign(s.value) or 1.0) * s.comp, abs(s.value)

        vt, ct = as_vsource(st)
        vb, cb = as_vsource(sb) if sb else (0.0, np.inf)
        return vt - vb, min(ct, cb), (top, bot)

    def advance(self, dt_s: float) -> None:
        """Let ``dt_s`` of instrument time pass with the present outputs applied (the device relaxes,
        drifts or stays programmed). The simulator's clock interface for waits that a real run spends
        in host time (retention); it is not a KXCI command."""
        if dt_s > 0:
            self._settle(float(dt_s))

    def _settle(self, duration_s: float | None = None) -> None:
        """Apply the present outputs to the DUT for one command latency (or ``duration_s``)."""
        dt = self.config.command_latency_s if duration_s is None else duration_s
        v, icc, wiring = self._user_drive()
        res = self._apply(np.array([v]), np.array([dt]), np.array([icc]))
        self.clock_s += dt
        top, bot = self._terminal(self.config.top), self._terminal(self.config.bottom)
        for n, s in self.smus.items():
            if not s.on:
                s.last_i, s.last_v, s.last_status = 0.0, 0.0, "N"
                continue
            if wiring is None or n not in (top, bot):
                s.last_i = float(self.open_load.apply_segments(np.zeros(1), np.ones(1) * 1e-9, np.inf).i_a[0])
                s.last_v = s.value if s.mode == "V" else np.sign(s.value) * s.comp
                s.last_status = "C" if s.mode == "I" else "N"
                continue
            i = float(res.i_a[0]) if n == top else -float(res.i_a[0])
            clamped = bool(res.compliance[0])
            limiting = top if (not bot or self.smus[top].comp <= self.smus[bot].comp) else bot
            if s.mode == "I":   # an I source is "in compliance" when the voltage limit holds it back
                clamped = not clamped
            s.last_i = i
            v_bottom = self.smus[bot].value if bot and self.smus[bot].mode == "V" else 0.0
            s.last_v = float(res.v_dev_v[0]) + v_bottom if n == top else v_bottom
            s.last_status = "C" if clamped and n == limiting else "N"

    def _reading(self, n: int, qty: str) -> str:
        self._settle(PLC[self.it] / self.config.line_frequency_hz)
        s = self.smus[n]
        val = s.last_i if qty == "I" else s.last_v
        self.status |= 1
        letter = "ABCDEFGH"[n - 1] if qty == "I" else "ABCD"[n - 1]
        text = eng(np.array([val]), self.resolution)[0]
        return f"{s.last_status}{letter}{qty}{'' if text.startswith('-') else ' '}{text}"

    def _cmd_TI(self, rest: str) -> str:
        self._user()
        return self._reading(self._smu(rest), "I")

    def _cmd_TV(self, rest: str) -> str:
        self._user()
        n = int(rest)
        if n > 4:
            raise KxciFault(E_UNSUPPORTED, "voltmeters are not simulated")
        return self._reading(self._smu(rest), "V")

    # --- pulse card: Segment-Arb (sim_backend/pmu.py) -------------------------------------------------
    def _pmu(self, up: str) -> str | None:
        return self.pmu.handle(up)


# commands of the manual that this simulator does not implement: "unsupported", not "syntax"
_KNOWN_UNSIMULATED = {"AC", "RI", "RV", "VP", "IP", "IR", "IL", "IC", "SC", "FS", "RT", "XN", "YA", "YB",
                      "XT", "IN", "NR", "WT", "SV", "GT", "MP", "DS", "EX", "GP", "GN", "GD", "GR", "AB",
                      "PA", "PD", "PE", "PG", "PH", "PN", "PO", "PS", "PT", "PV", "RP", "TO", "TS", "VF"}
_ARGLESS = re.compile(r"^(DE|SS|SM|MD|US|UL|BC|ID|SP|\*RST|\*IDN\?|\*OPT\?|IT[1-3]|DR[01]|ME[1-4]|RS[3-7])$")


def _period(v: np.ndarray, dt: np.ndarray, icc: np.ndarray, k_max: int = 64) -> int:
    """Smallest period k (≥ 2 repeats) of a piecewise-constant drive, or 0 if it is not periodic."""
    n = v.size
    for k in range(1, min(k_max, n // 2) + 1):
        if n % k == 0 and np.array_equal(v[k:], v[:-k]) and np.array_equal(dt[k:], dt[:-k]) \
                and np.array_equal(icc[k:], icc[:-k]):
            return k
    return 0


def split_commands(message: str) -> list[str]:
    """Split a KXCI message into commands: ``;``-separated, and the manual's space-separated forms
    (``IT1 BC DR1``, ``SS VR1,0,1,0.05,50E-3``, ``DE CH1 CH2``)."""
    out: list[str] = []
    for piece in message.split(";"):
        piece = piece.strip()
        while piece:
            head, _, tail = piece.partition(" ")
            if tail and (_ARGLESS.match(head) or re.match(r"^(CH|VS|VM)\d$", head) and re.match(r"^(CH|VS|VM)\d", tail)):
                out.append(head)
                piece = tail.strip()
            else:
                out.append(piece)
                break
    return out


def _args(rest: str) -> list[str]:
    return [x.strip() for x in rest.split(",")] if rest.strip() else []


def _quoted(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    raise KxciFault(E_ARGUMENT, f"expected a quoted name, got {text!r}")
