"""The simulated 4225-PMU (+ 4225-RPM), behind :class:`sim_backend.kxci.Kxci4200`.

Answers the ``:PMU:`` commands of KXCI-E chapter 7 (``shared/reference/keithley4200-kxci.md`` §4):
channel state (ranges, load, RPM, output), ``:PMU:EXECUTE`` in either mode — standard pulse
(``sim_backend/pmu_pulse.py``) or Segment-Arb (``sim_backend/pmu_sarb.py``) — played on the device in
virtual time by ``sim_backend/pmu_wave.py``, and the data: ``:PMU:DATA:COUNT?`` and
``:PMU:DATA:GET ch[, start[, n[, fields…]]]`` in blocks of ≤ 2048 points (``pmu_format.py``).

Wiring: channel ``config.pmu_top_channel`` reaches the top electrode (through its RPM), the bottom
electrode is grounded, the other channel sees an open circuit. The PMU has no compliance.

Cards (KXCI-E p. 4-4, 7-2, 7-22): the PMUs are those of the chassis' ``*OPT?`` entries
(``config.installed("PMU")``); with no pulse card every ``:PMU:`` command is −978 (VPU not present),
and ``:PMU:RPM:CONFIGURE PMUn-c`` naming a card that is not installed is −988 (instrument not mapped)
and changes nothing. RPMs are those listed after the card (``PMU1RPM1-2``); a chassis whose cards are
not configured is the labrc test chassis, one PMU with an RPM on each channel.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import pmu_pulse, pmu_sarb
from .pgu import LegacyPgu
from .errors import KxciFault
from .pmu_errors import (E_DURING_TEST, E_MAX_SAMPLES, E_MODE, E_NO_PULSE_CARD, E_PMU_ARG, E_RATE_PULSE,
                         E_RATE_SARB, E_UNSUPPORTED, PMU_ERROR_TEXT)
from .pmu_format import format_fields, format_points  # noqa: F401 - format_points is public API
from .pmu_pulse import PulseSettings
from .pmu_wave import MAX_POINTS, RATE_MAX_HZ, RATE_MIN_HZ, choose_rate, n_samples, play
from .replies import E_NOT_MAPPED
from .replies import args as split_args

MAX_GET = 2048
MAX_SIM_SEGMENTS = 50_000_000   # evaluations per execute the simulator accepts (1e12 loops are not simulated)
# fixed current measure ranges (KXCI-E p. 7-15; REF-C p. 6-73; reference §4.5)
I_RANGES = {(10.0, False): (10e-3, 0.2), (40.0, False): (100e-6, 10e-3, 0.8),
            (10.0, True): (100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 0.2), (40.0, True): (100e-6, 10e-3, 0.8)}
RANGE_CODE = {100e-9: 0, 1e-6: 1, 10e-6: 2, 100e-6: 3, 1e-3: 4, 10e-3: 5, 0.2: 6, 0.8: 7}
_ACCEPTED = {"CONNECTION:COMP", "MEASURE:CONNECTION:COMP", "RETAIN:CONFIG"}   # stored by the card, no effect here


@dataclass
class PmuChannel:
    range_v: float = 10.0
    i_range_a: float = 10e-3
    i_range_type: int = 2               # 0 auto, 1 limited auto (i_range_a = lowest), 2 fixed
    load_ohm: float = 1e6
    rpm: bool = False
    output: bool = False
    seqs: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    wfm: list[tuple[int, int]] = field(default_factory=list)
    pulse: PulseSettings = field(default_factory=PulseSettings)
    cols: dict[str, np.ndarray] | None = None    # measured columns by field name (V, I, T, S, VH, …)
    fields: list[str] = field(default_factory=list)   # default field order of :PMU:DATA:GET
    t_rows: np.ndarray | None = None              # time of each row from the test start (streaming)

    @property
    def data(self) -> np.ndarray | None:
        """The rows as (n, fields) float64 (for tests and tools)."""
        return None if self.cols is None else np.column_stack([self.cols[f] for f in self.fields])


class SimPmu:
    """The pulse card(s) of a :class:`Kxci4200` chassis; channels 1 and 2 of card 1 are simulated."""

    def __init__(self, chassis: Any):
        self.k = chassis
        self.n_executes = 0
        self.init(0)

    def init(self, mode: int) -> None:
        """``:PMU:INIT``: channels to the mode's defaults, data and sequences cleared, outputs off."""
        self.mode = mode
        self.ch = {1: PmuChannel(), 2: PmuChannel()}
        self.period_s = 1e-6
        self.burst = 1
        self.meas_mode = 1
        self.rate_hz = RATE_MAX_HZ
        self.running_until = 0.0
        self.t_start_wall = 0.0
        self.duration_s = 0.0
        self.family: str | None = None    # "pmu" after :PMU:INIT, "pgu" after PS: never both (p. 7-2)
        self.pgu = LegacyPgu(self)

    def legacy(self, mnem: str, rest: str) -> None:
        """A legacy two-letter PGU command (``sim_backend/pgu.py``), routed here by the chassis."""
        if not self._cards():
            raise KxciFault(E_NO_PULSE_CARD)
        return self.pgu.handle(mnem, rest)

    # --- the chassis' cards ---------------------------------------------------------------------------
    def _cards(self) -> list[int]:
        cfg = self.k.config
        return cfg.installed("PMU") if hasattr(cfg, "installed") else [1]

    def _has_rpm(self, card: int, channel: int) -> bool:
        cfg = self.k.config
        if getattr(cfg, "cards", None) is None:
            return True
        for entry in cfg.options():
            m = re.match(rf"^PMU{card}RPM([12](?:-[12])?)$", entry.upper())
            if m and (m.group(1) == "1-2" or m.group(1) == str(channel)):
                return True
        return False

    # --- helpers ------------------------------------------------------------------------------------
    def chan(self, text: str) -> PmuChannel:
        c = int(text)
        if c not in (1, 2):
            raise KxciFault(E_PMU_ARG, "channel")
        return self.ch[c]

    def running(self) -> bool:
        return time.monotonic() < self.running_until

    def _require_idle(self) -> None:
        if self.running():
            raise KxciFault(E_DURING_TEST, "test running")

    # --- dispatcher ---------------------------------------------------------------------------------
    def handle(self, up: str) -> str | None:
        """One ``:PMU:`` command (upper case); its data reply, or None for ``ACK``."""
        if not self._cards():
            raise KxciFault(E_NO_PULSE_CARD)
        head, _, rest = up[len(":PMU:"):].partition(" ")
        args = split_args(rest)
        if self.family == "pgu" and head != "INIT":
            raise KxciFault(E_MODE, ":PMU: commands cannot be mixed with the legacy PGU commands")
        if head == "TEST:STATUS?":
            return "1" if self.running() else "0"
        if head == "DATA:COUNT?":
            return str(self._available(self.chan(args[0])))
        if head == "DATA:GET":
            return self._get(args)
        if head == "ABORT":
            self.abort()
            return None
        if head == "OUTPUT:STATE":
            c, s = self.chan(args[0]), int(args[1])
            if s not in (0, 1):
                raise KxciFault(E_PMU_ARG)
            c.output = bool(s)          # off acts at once; on acts at :PMU:EXECUTE (p. 7-16)
            return None
        self._require_idle()
        if head == "INIT":
            if len(args) != 1 or int(args[0]) not in (0, 1):
                raise KxciFault(E_PMU_ARG)
            self.init(int(args[0]))
            self.family = "pmu"
        elif head == "EXECUTE":
            self.execute()
        elif head.startswith("SARB:"):
            if self.mode != 1:
                raise KxciFault(E_MODE, "not in Segment-Arb mode")
            pmu_sarb.command(self.chan(args[0]), head[5:], args)
        else:
            self._setting(head, args)
        return None

    def _setting(self, head: str, args: list[str]) -> None:
        if head == "RPM:CONFIGURE":
            self._rpm_configure(args)
        elif head == "SOURCE:RANGE":
            c, r = self.chan(args[0]), float(args[1])
            if r not in (10.0, 40.0):
                raise KxciFault(E_PMU_ARG)
            c.range_v = r
        elif head == "MEASURE:RANGE":
            self._measure_range(args)
        elif head == "LOAD":
            c, r = self.chan(args[0]), float(args[1])
            if not 1.0 <= r <= 1e7:
                raise KxciFault(E_PMU_ARG)
            c.load_ohm = r
        elif head == "SAMPLE:RATE":
            r = float(args[0])
            if not RATE_MIN_HZ <= r <= RATE_MAX_HZ:
                raise KxciFault(E_PMU_ARG, "sample rate 1e3 … 200e6")
            self.rate_hz = r
        elif head == "MEASURE:MODE":
            m = int(args[0])
            if m not in (0, 1, 2, 3, 4):
                raise KxciFault(E_PMU_ARG)
            self.meas_mode = m
        elif head in _ACCEPTED:
            self.chan(args[0])
        elif self.mode == 0 and pmu_pulse.command(self, head, args):
            pass
        elif self.mode == 1 and head.startswith(("PULSE:", "SWEEP:", "STEP:", "TIMES:", "MEASURE:PIV", "LLEC:")):
            raise KxciFault(E_MODE, "standard-pulse command in Segment-Arb mode")
        else:
            raise KxciFault(E_UNSUPPORTED, head)

    def _rpm_configure(self, args: list[str]) -> None:
        """``:PMU:RPM:CONFIGURE HRID, mode`` (p. 7-22): mode 0 PMU, 1 CV-2W, 2 SMU, 3 CV-4W."""
        if len(args) != 2 or int(args[1]) not in (0, 1, 2, 3):
            raise KxciFault(E_PMU_ARG)
        m = re.match(r"^PMU(\d)-([12])$", args[0])
        if not m:
            raise KxciFault(E_PMU_ARG, "HRID PMUn-1 | PMUn-2")
        card, channel = int(m.group(1)), int(m.group(2))
        if card not in self._cards() or card != 1 or not self._has_rpm(card, channel):
            raise KxciFault(E_NOT_MAPPED, f"{args[0]}: no such pulse card / RPM in this chassis")
        self.ch[channel].rpm = int(args[1]) == 0

    def _measure_range(self, args: list[str]) -> None:
        """``:PMU:MEASURE:RANGE ch, type[, I]`` (p. 7-15); Segment Arb needs a fixed range (p. 7-2)."""
        c, typ = self.chan(args[0]), int(args[1])
        if typ not in (0, 1, 2) or (typ != 0 and len(args) < 3):
            raise KxciFault(E_PMU_ARG)
        if typ != 2 and self.mode == 1:
            raise KxciFault(E_MODE, "Segment Arb needs a fixed range")
        c.i_range_type = typ
        if typ:
            c.i_range_a = float(args[2])

    # --- execution ----------------------------------------------------------------------------------
    def _check_range(self, c: PmuChannel) -> tuple[float, ...]:
        ranges = I_RANGES[(c.range_v, c.rpm)]
        if c.i_range_type != 0 and not any(abs(c.i_range_a - r) <= 1e-6 * r for r in ranges):
            raise KxciFault(E_PMU_ARG, "current range")
        return ranges

    def execute(self) -> None:
        """``:PMU:EXECUTE``: verify, clear the buffers, run the test on the device in virtual time."""
        if self.mode == 1:
            active = [n for n, c in self.ch.items() if c.wfm]
        else:
            active = [n for n, c in self.ch.items() if c.output]
        plans = {}
        points = pmu_pulse.test_points({n: self.ch[n] for n in active}) if self.mode == 0 else {}
        for n in active:
            c = self.ch[n]
            self._check_range(c)
            plans[n] = self._plan_sarb(c) if self.mode == 1 else self._plan_pulse(c, *points[n])
        for c in self.ch.values():
            c.cols, c.fields, c.t_rows = None, [], None
        self.n_executes += 1
        self.k._start_test_hook()
        top = int(getattr(self.k.config, "pmu_top_channel", 1))
        t_start = self.k.clock_s
        duration = 0.0
        for n, passes in plans.items():
            c = self.ch[n]
            drive = self._drive if (n == top and c.output) else None
            pts, dur = play(passes, drive, self._noise, t_start)
            duration = max(duration, dur)
            self._store(n, c, pts)
        duration += 10e-9 if self.mode == 1 else 0.0   # the extra 10 ns after the last segment (p. 7-40)
        self.k.clock_s = t_start + duration
        f = self.k.config.realtime_factor
        self.t_start_wall = time.monotonic()
        self.running_until = self.t_start_wall + duration * f if f > 0 else 0.0
        self.duration_s = duration

    def _plan_sarb(self, c: PmuChannel):
        pmu_sarb.check(c)
        spot, wins, mult = pmu_sarb.windows(c)
        if spot > MAX_POINTS:
            raise KxciFault(E_MAX_SAMPLES)
        rate = choose_rate(self.rate_hz, spot, wins, mult)
        if rate is None:
            raise KxciFault(E_RATE_SARB)
        passes = pmu_sarb.passes(c, rate)
        if sum(p.v.size * loops for p, loops, _ in passes) > MAX_SIM_SEGMENTS:
            raise KxciFault(E_UNSUPPORTED, "waveform too long for the simulator")
        return passes

    def _plan_pulse(self, c: PmuChannel, base: np.ndarray, top: np.ndarray, dc: bool):
        p, mode, burst = c.pulse, self.meas_mode, self.burst
        pmu_pulse.check_times(self.period_s, p, c.range_v)
        rate = self.rate_hz
        if mode in (1, 3):
            pmu_pulse.spot_points(mode, burst, base.size, p)
        elif mode in (2, 4):
            pieces = np.array(pmu_pulse.waveform_pieces(self.period_s, p, mode))
            reps = base.size * (1 if mode == 4 else burst)
            rate = choose_rate(self.rate_hz, 0, pieces, np.full(pieces.size, reps))
            if rate is None:
                raise KxciFault(E_RATE_PULSE)
        passes = pmu_pulse.passes(self.period_s, p, mode, burst, base, top, dc, rate)
        if sum(q.v.size * loops for q, loops, _ in passes) > MAX_SIM_SEGMENTS:
            raise KxciFault(E_UNSUPPORTED, "pulse test too long for the simulator")
        return passes

    def _noise(self, n: int) -> np.ndarray:
        """An unwired channel reads the chassis' open-circuit noise (the same source as an open SMU)."""
        return self.k._noise(n)

    def _drive(self, v: np.ndarray, dt: np.ndarray, loops: int, t_at: float):
        """Integrate the device over ``loops`` passes of (v, dt); results shaped (loops, len(v))."""
        dut = self.k.dut
        if dut.t_s < t_at:
            dut.idle(t_at - dut.t_s)
        with np.errstate(invalid="ignore"):
            if loops > 1 and hasattr(dut, "apply_cycles"):
                res = dut.apply_cycles(v, dt, np.full(v.size, np.inf), loops)
            else:
                res = dut.apply_segments(np.tile(v, loops), np.tile(dt, loops), np.inf)
        return np.asarray(res.i_a).reshape(loops, v.size), np.asarray(res.v_dev_v).reshape(loops, v.size)

    def _status(self, n: int, c: PmuChannel, v: np.ndarray, i: np.ndarray, kind: np.ndarray):
        """Status words ``ABCDEFGH`` (REF-C p. 6-78) and the current clipped to its range."""
        ranges = np.array(I_RANGES[(c.range_v, c.rpm)])
        if c.i_range_type == 2:
            fs = np.full(i.size, c.i_range_a)
        else:   # auto range: the lowest range holding the reading (limited auto: not below i_range_a)
            allowed = ranges[ranges >= (c.i_range_a * (1 - 1e-6) if c.i_range_type == 1 else 0)]
            fs = allowed[np.minimum(np.searchsorted(allowed, np.abs(i)), allowed.size - 1)]
        over = np.where(i > fs, 8, 0) | np.where(i < -fs, 4, 0) \
            | np.where(v > c.range_v, 2, 0) | np.where(v < -c.range_v, 1, 0)
        codes = np.array([RANGE_CODE[min(RANGE_CODE, key=lambda r: abs(r - x))] for x in ranges])
        g = codes[np.searchsorted(ranges, fs * (1 - 1e-6))]
        llec = 3 if (self.mode == 0 and c.pulse.llec) else 0
        word = (llec << 28) | (int(c.rpm) << 24) | (n if c.range_v == 10.0 else n + 4)
        status = (np.uint32(word) | (kind.astype(np.uint32) << np.uint32(16)) | (over.astype(np.uint32) << 8)
                  | (g.astype(np.uint32) << 4))
        return status.astype(np.uint32), np.clip(i, -1.05 * fs, 1.05 * fs)

    def _store(self, n: int, c: PmuChannel, pts: dict[str, np.ndarray]) -> None:
        if pts["t"].size == 0:
            return
        status, i = self._status(n, c, pts["v"], pts["i"], pts["kind"])
        cols = {"V": pts["v"], "I": i, "T": pts["t"], "S": status}
        if self.mode == 0 and self.meas_mode in (1, 3):   # pulse I-V: one row = high and low spot means
            cols = {f"{k}{suffix}": a[pts["tag"] == tag] for k, a in cols.items()
                    for suffix, tag in (("H", 0), ("L", 1))}
            cols = {k: a for k, a in cols.items() if a.size}
            c.fields = pmu_pulse.piv_fields(c.pulse)
        else:
            c.fields = ["V", "I", "T", "S"]
        c.cols = cols
        c.t_rows = cols[c.fields[2]]

    def abort(self) -> None:
        """``:PMU:ABORT``: stop the test, outputs off; the data measured so far stays readable."""
        if self.running():
            for c in self.ch.values():
                k = self._available(c)
                if c.cols is not None:
                    c.cols = {f: a[:k] for f, a in c.cols.items()}
                    c.t_rows = c.t_rows[:k]
        self.running_until = 0.0
        for c in self.ch.values():
            c.output = False

    # --- data ---------------------------------------------------------------------------------------
    def _available(self, c: PmuChannel) -> int:
        if c.cols is None:
            return 0
        if not self.running():
            return int(c.t_rows.size)
        elapsed = (time.monotonic() - self.t_start_wall) / self.k.config.realtime_factor
        return int(np.searchsorted(c.t_rows, elapsed, side="right"))

    def _get(self, args: list[str]) -> str:
        """``:PMU:DATA:GET ch[, start[, n[, fields…]]]`` (p. 7-7, 7-37): empty past the data."""
        c = self.chan(args[0])
        start = int(args[1]) if len(args) > 1 else 0
        count = int(args[2]) if len(args) > 2 else MAX_GET
        if not 1 <= count <= MAX_GET or start < 0:
            raise KxciFault(E_PMU_ARG)
        fields = args[3:] or c.fields
        if c.cols is not None and any(f not in c.cols for f in fields):
            raise KxciFault(E_PMU_ARG, f"fields {fields}")
        avail = self._available(c)
        if c.cols is None or start >= avail:
            return ""
        stop = min(avail, start + count)
        return format_fields({f: c.cols[f][start:stop] for f in fields}, fields)


__all__ = ["SimPmu", "PmuChannel", "PMU_ERROR_TEXT", "n_samples"]
