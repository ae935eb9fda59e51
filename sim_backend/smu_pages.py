"""System mode, the 4145-style pages: channel definition (``DE``), source setup (``SS``), measurement
setup (``SM``). They only *define* a test; :mod:`sim_backend.smu_test` runs it at ``ME``.

Commands and limits are those of KXCI-E p. 5-7 … 5-28 (reference §2.2 – §2.4). A command on the wrong
page is −989, in user mode −975, a bad argument −993. What a command defines is checked against the
channel definitions only when the test starts (``ME``), as the instrument does (−991 "illegal setup").

One module over ~400 lines on purpose: the three pages share one setup record and one page state, and
each page's commands are a few lines each; the list text's parsing is :mod:`sim_backend.list_text`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import KxciFault
from .list_text import list_values
from .replies import E_ARGUMENT, E_NOT_MAPPED, E_UNSUPPORTED, args, numbers, quoted

MAX_V, MAX_VS_V, VAR1_MAX, VAR2_MAX, LIST_MAX = 210.0, 200.0, 1024, 32, 4096
LOG_POINTS_PER_DECADE = {2: 10, 3: 25, 4: 50}   # VR/IR modes 2 log10, 3 log25, 4 log50 (4145B sweep modes)
# VR/IR in a log mode take no compliance (KXCI-E p. 5-16, reference §2.3); a 4th value is taken as the
# compliance the 4145B form carries, otherwise the SMU sources with 100 mA, Clarius' default [inference].
LOG_DEFAULT_COMP_A = 0.1


@dataclass
class ChannelDef:
    """One defined channel: SMU (``CH``), voltage source (``VS``) or voltmeter (``VM``)."""

    kind: str            # "CH", "VS", "VM"
    number: int          # channel number within its kind
    vname: str
    iname: str           # "" for VS and VM (they have no current function)
    source: str          # "V", "I", "COM" (common = 0 V), "M" (voltmeter)
    function: int        # 1 VAR1, 2 VAR2, 3 constant, 4 VAR1'; 0 for a voltmeter


@dataclass
class Sweep:
    kind: str            # "V" or "I"
    values: np.ndarray
    comp: float


@dataclass
class TestSetup:
    """Everything the DE/SS/SM pages define; ``*RST`` replaces it with an empty one."""

    chans: dict[tuple[str, int], ChannelDef] = field(default_factory=dict)
    var1: Sweep | None = None                       # VR / IR
    lists: dict[tuple[str, int], Sweep] = field(default_factory=dict)   # VL / IL per channel
    var2: Sweep | None = None                       # VP / IP
    consts: dict[tuple[str, int], Sweep] = field(default_factory=dict)  # VC / IC / SC (one value)
    ratio: dict[int | None, float] = field(default_factory=dict)   # RT per SMU channel (None = all)
    offset: dict[int | None, float] = field(default_factory=dict)  # FS per SMU channel (None = all)
    hold_s: float = 0.0
    delay_s: float = 0.0
    n_readings: int = 1          # NR; sampling-mode defaults NR 1, IN 10 ms, WT 0 [inference]
    interval_s: float = 0.01
    wait_s: float = 0.0
    list_names: list[str] = field(default_factory=list)

    def var1_key(self) -> tuple[str, int] | None:
        keys = [k for k, d in self.chans.items() if d.function == 1]
        return keys[0] if len(keys) == 1 else None


def _zero_small_v(v: np.ndarray) -> np.ndarray:
    """Voltage start/step values below 1 mV are set to zero (KXCI-E p. 5-17, 5-19)."""
    v = np.array(v, dtype=np.float64)
    v[np.abs(v) < 1e-3] = 0.0
    return v


def _sweep_dict(sw: Sweep | None) -> dict | None:
    return None if sw is None else {"kind": sw.kind, "values": sw.values.tolist(), "comp": sw.comp}


def _sweep_of(d: dict | None) -> Sweep | None:
    return None if d is None else Sweep(d["kind"], np.array(d["values"], dtype=np.float64), float(d["comp"]))


class SystemPages:
    """The DE / SS / SM page commands of :class:`sim_backend.kxci.Kxci4200` (a mixin)."""

    # --- the pages as state -------------------------------------------------------------------------
    # The pages keep what was sent until it is sent again, *RST or DCL (reference §1.7, §2.1, ME3 in
    # §2.4), so they are part of the instrument's future: a station that restores a checkpoint restores
    # them too, and a driver on that station may then keep the setup it held (Keithley4200.adopt_held),
    # sending what an uninterrupted run sends at that burst. JSON-able; floats round-trip exactly.
    def pages_snapshot(self) -> dict[str, Any]:
        """Mode, page, modeless test settings and every page entry, as plain data."""
        s = self.setup
        pairs = lambda table: [[k[0], k[1], _sweep_dict(v)] for k, v in table.items()]   # noqa: E731
        return {
            "mode": self.mode, "page": self.page, "integration_plc": self.integration_plc,
            "resolution": self.resolution, "exit_on_compliance": self.exit_on_compliance,
            "srq_on_data": self.srq_on_data, "mapping": [[n, f] for n, f in self.mapping.items()],
            "chans": [asdict(d) for d in s.chans.values()], "var1": _sweep_dict(s.var1),
            "lists": pairs(s.lists), "var2": _sweep_dict(s.var2), "consts": pairs(s.consts),
            "ratio": [[k, v] for k, v in s.ratio.items()], "offset": [[k, v] for k, v in s.offset.items()],
            "hold_s": s.hold_s, "delay_s": s.delay_s, "n_readings": s.n_readings, "interval_s": s.interval_s,
            "wait_s": s.wait_s, "list_names": list(s.list_names),
        }

    def pages_restore(self, snap: dict[str, Any]) -> None:
        """Put the pages back as :meth:`pages_snapshot` recorded them (the reading buffer stays empty)."""
        self.mode, self.page = snap["mode"], snap["page"]
        self.integration_plc, self.resolution = float(snap["integration_plc"]), int(snap["resolution"])
        self.exit_on_compliance, self.srq_on_data = bool(snap["exit_on_compliance"]), bool(snap["srq_on_data"])
        self.mapping = {int(n): str(f) for n, f in snap["mapping"]}
        chans = {(d["kind"], int(d["number"])): ChannelDef(**d) for d in snap["chans"]}
        self.setup = TestSetup(
            chans=chans, var1=_sweep_of(snap["var1"]), var2=_sweep_of(snap["var2"]),
            lists={(k, int(n)): _sweep_of(v) for k, n, v in snap["lists"]},
            consts={(k, int(n)): _sweep_of(v) for k, n, v in snap["consts"]},
            ratio={k: float(v) for k, v in snap["ratio"]}, offset={k: float(v) for k, v in snap["offset"]},
            hold_s=float(snap["hold_s"]), delay_s=float(snap["delay_s"]), n_readings=int(snap["n_readings"]),
            interval_s=float(snap["interval_s"]), wait_s=float(snap["wait_s"]), list_names=list(snap["list_names"]))

    # --- DE ---------------------------------------------------------------------------------------
    def _define(self, key: tuple[str, int], d: ChannelDef | None) -> None:
        s = self.setup
        for table in (s.chans, s.lists, s.consts):
            table.pop(key, None)
        if d is not None:
            s.chans[key] = d

    def _cmd_CH(self, rest: str) -> None:
        self._page("DE")
        a = args(rest)
        n = self._smu(a[0])
        if self.mapping.get(n, "SMU") != "SMU":
            raise KxciFault(E_NOT_MAPPED, f"SMU{n} is mapped to {self.mapping[n]}")
        if len(a) == 1:
            self._define(("CH", n), None)
            return
        if len(a) != 5:
            raise KxciFault(E_ARGUMENT)
        vname, iname, mode, func = quoted(a[1]), quoted(a[2]), int(a[3]), int(a[4])
        if mode not in (1, 2, 3) or func not in (1, 2, 3, 4) or (mode == 3 and func != 3):
            raise KxciFault(E_ARGUMENT)
        if not (0 < len(vname) <= 6 and 0 < len(iname) <= 6) or vname == iname:
            raise KxciFault(E_ARGUMENT)
        self._define(("CH", n), ChannelDef("CH", n, vname, iname, {1: "V", 2: "I", 3: "COM"}[mode], func))

    def _cmd_VS(self, rest: str) -> None:
        self._page("DE")
        a = args(rest)
        m = self._mapped("VS", a[0])
        if len(a) == 1:
            self._define(("VS", m), None)
            return
        if len(a) != 3:
            raise KxciFault(E_ARGUMENT)
        name, func = quoted(a[1]), int(a[2])
        if func not in (1, 2, 3, 4) or not 0 < len(name) <= 6:
            raise KxciFault(E_ARGUMENT)
        self._define(("VS", m), ChannelDef("VS", m, name, "", "V", func))

    def _cmd_VM(self, rest: str) -> None:
        self._page("DE")
        a = args(rest)
        m = self._mapped("VM", a[0])
        if len(a) == 1:
            self._define(("VM", m), None)
            return
        if len(a) != 2:
            raise KxciFault(E_ARGUMENT)
        name = quoted(a[1])
        if not 0 < len(name) <= 6:
            raise KxciFault(E_ARGUMENT)
        self._define(("VM", m), ChannelDef("VM", m, name, "", "M", 0))

    # --- SS: VAR1 ---------------------------------------------------------------------------------
    def _var1_range(self, kind: str, rest: str) -> None:
        a = numbers(rest, 3, 5)
        mode = int(a[0])
        if mode == 1:
            if len(a) not in (4, 5):
                raise KxciFault(E_ARGUMENT)
            start, stop, step = a[1:4]
            comp = a[4] if len(a) == 5 else (0.105 if kind == "V" else MAX_V)
            if kind == "V":
                start, step = _zero_small_v([start, step])
            if step == 0 or (stop - start) * step < 0:
                raise KxciFault(E_ARGUMENT)
            n = int(abs((stop - start) / step) + 1.5)   # KXCI-E p. 5-16
            values = start + step * np.arange(n, dtype=np.float64)
        elif mode in LOG_POINTS_PER_DECADE:
            if len(a) not in (3, 4):
                raise KxciFault(E_ARGUMENT)
            start, stop = a[1], a[2]
            comp = a[3] if len(a) == 4 else (LOG_DEFAULT_COMP_A if kind == "V" else 20.0)
            if start == 0 or stop == 0 or start * stop < 0:
                raise KxciFault(E_ARGUMENT, "log sweep limits must be non-zero and of one sign")
            ppd = LOG_POINTS_PER_DECADE[mode]
            k = np.floor(abs(np.log10(stop / start)) * ppd + 1e-9)
            values = start * 10.0 ** (np.sign(np.log10(abs(stop / start))) * np.arange(k + 1) / ppd)
            n = values.size
        else:
            raise KxciFault(E_ARGUMENT)
        if n > VAR1_MAX:
            raise KxciFault(E_ARGUMENT, f"{n} VAR1 points > {VAR1_MAX}")
        self._check_level(kind, values, comp)
        self.setup.var1 = Sweep(kind, values, abs(comp))
        k1 = self.setup.var1_key()
        if k1 is not None:                     # the last VAR1 definition wins over an earlier list
            self.setup.lists.pop(k1, None)

    def _cmd_VR(self, rest: str) -> None:
        self._page("SS")
        self._var1_range("V", rest)

    def _cmd_IR(self, rest: str) -> None:
        self._page("SS")
        self._var1_range("I", rest)

    def _check_level(self, kind: str, values: np.ndarray, comp: float) -> None:
        """Source values and compliance within the SMU's ranges (reference §7)."""
        i_max = max(c.i_max_a for c in self.cards.values())
        v_lim, c_lim = (MAX_V, i_max) if kind == "V" else (i_max, MAX_V)
        if np.any(np.abs(values) > v_lim) or not 0 < abs(comp) <= c_lim:
            raise KxciFault(E_ARGUMENT)

    # --- SS: lists, VAR2, constants, VAR1' ----------------------------------------------------------
    def _list_values(self, kind: str, text: str) -> np.ndarray:
        """The values of a list's text (:func:`.list_text.list_values`: each field as float() reads it,
        spaces allowed; ValueError for anything else), voltages below 1 mV set to zero (KXCI-E p. 5-17).

        The last text's values are kept: an endurance run sends the same list burst after burst, and
        parsing 4096 fields costs more than the model's cycles (a host-speed cache; the command is still
        interpreted in full: master, compliance and levels are checked at every list)."""
        last = getattr(self, "_last_list", None)
        if last is not None and last[0] == (kind, text):
            return last[1].copy()
        values = list_values(text)
        if kind == "V":
            values = _zero_small_v(values)
        self._last_list = ((kind, text), values)
        return values.copy()

    def _list(self, kind: str, rest: str) -> None:
        a = rest.split(",", 3)            # channel, master, compliance, then up to 4096 values
        if len(a) < 4:
            raise KxciFault(E_ARGUMENT)
        n = self._smu(a[0].strip())
        try:
            master, comp = int(a[1]), float(a[2])
            values = self._list_values(kind, a[3])
        except ValueError:
            raise KxciFault(E_ARGUMENT, f"not a number in {rest[:40]!r}") from None
        if master not in (0, 1) or values.size > LIST_MAX:
            raise KxciFault(E_ARGUMENT)
        self._check_level(kind, values, comp)     # on the zeroed values: zeroing < 1 mV changes no limit
        self.setup.lists[("CH", n)] = Sweep(kind, values, abs(comp))
        if self.setup.var1_key() == ("CH", n):
            self.setup.var1 = None             # the last VAR1 definition wins

    def _cmd_VL(self, rest: str) -> None:
        self._page("SS")
        self._list("V", rest)

    def _cmd_IL(self, rest: str) -> None:
        self._page("SS")
        self._list("I", rest)

    def _step(self, kind: str, rest: str) -> None:
        a = numbers(rest, 4, 5)
        start, step, n, comp = a[0], a[1], int(a[2]), a[3]
        if len(a) == 5 and int(a[4]) != 1:
            raise KxciFault(E_UNSUPPORTED, "only VAR2 stepper 1 is simulated")
        if not 1 <= n <= VAR2_MAX or a[2] != n:
            raise KxciFault(E_ARGUMENT)
        if kind == "V":
            start, step = _zero_small_v([start, step])
        values = start + step * np.arange(n, dtype=np.float64)
        self._check_level(kind, values, comp)
        self.setup.var2 = Sweep(kind, values, abs(comp))

    def _cmd_VP(self, rest: str) -> None:
        self._page("SS")
        self._step("V", rest)

    def _cmd_IP(self, rest: str) -> None:
        self._page("SS")
        self._step("I", rest)

    def _const(self, kind: str, rest: str) -> None:
        a = args(rest)
        if len(a) != 3:
            raise KxciFault(E_ARGUMENT)
        n = self._smu(a[0])
        value, comp = float(a[1]), float(a[2])
        self._check_level(kind, np.array([value]), comp)
        self.setup.consts[("CH", n)] = Sweep(kind, np.array([value]), abs(comp))

    def _cmd_VC(self, rest: str) -> None:
        self._page("SS")
        self._const("V", rest)

    def _cmd_IC(self, rest: str) -> None:
        self._page("SS")
        self._const("I", rest)

    def _cmd_SC(self, rest: str) -> None:
        """``SC A, V``: the constant of voltage-source channel VS A (±200 V for VS-only channels)."""
        self._page("SS")
        a = args(rest)
        if len(a) != 2:
            raise KxciFault(E_ARGUMENT)
        m = self._mapped("VS", a[0])
        v = float(a[1])
        if abs(v) > MAX_VS_V:
            raise KxciFault(E_ARGUMENT)
        self.setup.consts[("VS", m)] = Sweep("V", np.array([v]), 0.105)

    def _var1p(self, table: dict, rest: str, limit: float) -> None:
        a = numbers(rest, 1, 2)
        if abs(a[0]) > limit:
            raise KxciFault(E_ARGUMENT)
        ch = self._smu(str(int(a[1]))) if len(a) == 2 else None
        table[ch] = a[0]

    def _cmd_RT(self, rest: str) -> None:
        """``RT ±ratio[, ch]``: VAR1′ = VAR1 · ratio + offset (KXCI-E p. 5-13; Tek 'Multi-channel sweep')."""
        self._page("SS")
        self._var1p(self.setup.ratio, rest, 10.0)

    def _cmd_FS(self, rest: str) -> None:
        """``FS ±offset[, ch]``: the VAR1′ offset (±210)."""
        self._page("SS")
        self._var1p(self.setup.offset, rest, MAX_V)

    def _cmd_HT(self, rest: str) -> None:
        self._page("SS")
        self.setup.hold_s = self._time(rest, 0.0, 655.3)

    def _cmd_DT(self, rest: str) -> None:
        self._page("SS")
        self.setup.delay_s = self._time(rest, 0.0, 6.553)

    def _cmd_ST(self, rest: str) -> None:
        self._page("SS")
        a = args(rest)
        self._smu(a[0])
        if len(a) != 2 or int(a[1]) not in (0, 1):
            raise KxciFault(E_ARGUMENT)

    @staticmethod
    def _time(rest: str, lo: float, hi: float) -> float:
        t = numbers(rest, 1)[0]
        if not lo <= t <= hi:
            raise KxciFault(E_ARGUMENT)
        return t

    # --- SM ---------------------------------------------------------------------------------------
    def _cmd_DM(self, rest: str) -> None:
        self._page("SM")
        if int(rest) not in (1, 2):
            raise KxciFault(E_ARGUMENT)

    def _cmd_LI(self, rest: str) -> None:
        self._page("SM")
        names = [quoted(x) for x in args(rest)]
        if not 1 <= len(names) <= 6:
            raise KxciFault(E_ARGUMENT)
        self.setup.list_names = names

    def _axis(self, rest: str, scales: tuple[int, ...]) -> None:
        """``XN``/``YA``/``YB 'name', scale, min, max``: the KXCI console's graph only (KXCI-E p. 5-23)."""
        a = args(rest)
        if len(a) != 4 or int(a[1]) not in scales:
            raise KxciFault(E_ARGUMENT)
        if not 0 < len(quoted(a[0])) <= 6:
            raise KxciFault(E_ARGUMENT)
        float(a[2]), float(a[3])

    def _cmd_XN(self, rest: str) -> None:
        self._page("SM")
        self._axis(rest, (1, 2))

    def _cmd_YA(self, rest: str) -> None:
        self._page("SM")
        self._axis(rest, (1, 2, 3))

    def _cmd_YB(self, rest: str) -> None:
        self._page("SM")
        self._axis(rest, (1, 2, 3))

    def _cmd_XT(self, rest: str) -> None:
        """``XT min, max``: time axis of the console graph (sampling mode)."""
        self._page("SM")
        lo, hi = numbers(rest, 2)
        if not 0 <= lo < hi:
            raise KxciFault(E_ARGUMENT)

    def _cmd_NR(self, rest: str) -> None:
        self._page("SM")
        n = numbers(rest, 1)[0]
        if n != int(n) or not 1 <= n <= LIST_MAX:
            raise KxciFault(E_ARGUMENT)
        self.setup.n_readings = int(n)

    def _cmd_IN(self, rest: str) -> None:
        self._page("SM")
        self.setup.interval_s = self._time(rest, 0.01, 10.0)

    def _cmd_WT(self, rest: str) -> None:
        self._page("SM")
        self.setup.wait_s = self._time(rest, 0.0, 100.0)
