"""System mode, measurement control (``MD`` page, ``ME``): the defined test, run on the device model.

A test is a sweep (one VAR1 channel: ``VR``/``IR`` linear or log, or a ``VL``/``IL`` list; optionally
one VAR2 stepper ``VP``/``IP`` — a family of curves, VAR2 outer, VAR1 inner — and VAR1′ channels
following VAR1 · ratio + offset) or, when every channel is constant, a sampling test of ``NR``
readings ``IN`` apart after ``WT`` (KXCI-E p. 5-7 … 5-28, reference §2.2 – §2.4). Every point is one
constant segment of the virtual clock (delay + integration), the hold time comes before each VAR1
sweep, and all channels go through one :func:`sim_backend.circuit.solve`.

A setup the instrument rejects, or one this simulator cannot emulate faithfully, ends ``ME`` with
−991 and no data — never a different test.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .circuit import Source, solve, status_normal
from .errors import KxciFault
from .replies import E_ARGUMENT, E_SETUP, E_UNSUPPORTED, args, eng, quoted, sci_list
from .smu_pages import LIST_MAX, ChannelDef, Sweep, TestSetup

PLC = {1: 0.1, 2: 1.0, 3: 10.0}
DEFAULT_CONST = {"V": (0.0, 105e-6), "I": (0.0, 20.0)}   # a constant never given VC/IC [inference]


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
        if factor <= 0 or self.n == 0 or self.wall_duration <= 0:
            return self.n
        frac_t = (time.monotonic() - self.wall_start) / factor
        return int(np.searchsorted(self.t_points, frac_t, side="right"))


@dataclass
class Plan:
    drives: dict[tuple[str, int], Sweep]    # per channel: kind, values per point, compliance
    dt: np.ndarray                          # duration of each point's segment


def _tiled(values: np.ndarray, n: int) -> np.ndarray:
    """``np.tile(values, n)`` (a copy for n = 1, without tile's overhead)."""
    return values.copy() if n == 1 else np.tile(values, n)


class MeasurementControl:
    """``ME``, ``DO``, ``RD`` of :class:`sim_backend.kxci.Kxci4200` (a mixin)."""

    def _t_int(self) -> float:
        return self.integration_plc / self.config.line_frequency_hz

    # --- the plan -----------------------------------------------------------------------------------
    def _plan(self) -> Plan:
        s: TestSetup = self.setup
        if not s.chans:
            raise KxciFault(E_SETUP, "no channel defined")
        by_func: dict[int, list] = {}
        for k, d in s.chans.items():
            by_func.setdefault(d.function, []).append(k)
        var1, var2, var1p = by_func.get(1, []), by_func.get(2, []), by_func.get(4, [])
        if len(var1) > 1 or len(var2) > 1 or ((var2 or var1p) and not var1):
            raise KxciFault(E_SETUP, "one VAR1, at most one VAR2, VAR1' only with VAR1")
        if not var1:
            return self._sampling_plan()
        k1 = var1[0]
        d1 = s.chans[k1]
        sweep = s.lists.get(k1) or s.var1
        if sweep is None or sweep.kind != d1.source:
            raise KxciFault(E_SETUP, "VAR1 channel without a sweep of its source mode")
        n1 = sweep.values.size
        steps = np.zeros(1)
        drives: dict[tuple[str, int], Sweep] = {}
        if var2:
            d2 = s.chans[var2[0]]
            if s.var2 is None or s.var2.kind != d2.source:
                raise KxciFault(E_SETUP, "VAR2 channel without a VP/IP of its source mode")
            steps = s.var2.values
            drives[var2[0]] = Sweep(d2.source, np.repeat(steps, n1), s.var2.comp)
        n2 = steps.size
        if n1 * n2 > LIST_MAX:
            raise KxciFault(E_SETUP, f"{n1 * n2} points > the {LIST_MAX}-reading buffer")
        drives[k1] = Sweep(d1.source, _tiled(sweep.values, n2), sweep.comp)
        for k in var1p:
            d = s.chans[k]
            if d.source != d1.source:
                raise KxciFault(E_SETUP, "VAR1' must source what VAR1 sources")
            ratio = s.ratio.get(k[1] if k[0] == "CH" else None, s.ratio.get(None, 1.0))
            offset = s.offset.get(k[1] if k[0] == "CH" else None, s.offset.get(None, 0.0))
            values = sweep.values * ratio + offset
            self._check_level(d.source, values, sweep.comp)
            drives[k] = Sweep(d.source, np.tile(values, n2), sweep.comp)
        for k, d in s.chans.items():
            if k in drives:
                continue
            if k in s.lists:           # a subordinate list steps with the master, point for point
                sub = s.lists[k]
                if sub.values.size != n1 or sub.kind != d.source:
                    raise KxciFault(E_SETUP, "subordinate list of another length or source mode")
                drives[k] = Sweep(d.source, _tiled(sub.values, n2), sub.comp)
            else:
                drives[k] = self._const_drive(k, d, n1 * n2)
        t = self._t_int()
        dt = np.full(n1 * n2, s.delay_s + t)
        if s.hold_s != 0.0:                     # (x + 0.0 is x for these positive durations)
            dt[::n1] += s.hold_s                # the hold time precedes every VAR1 sweep [inference]
        return Plan(drives, dt)

    def _sampling_plan(self) -> Plan:
        s: TestSetup = self.setup
        n = s.n_readings
        drives = {k: self._const_drive(k, d, n) for k, d in s.chans.items()}
        t = self._t_int()
        dt = np.full(n, max(s.interval_s, t))   # a reading longer than the interval stretches it
        dt[0] = s.hold_s + s.wait_s + t
        return Plan(drives, dt)

    def _const_drive(self, k: tuple[str, int], d: ChannelDef, n: int) -> Sweep:
        if d.source == "COM":
            card = self.cards.get(self._physical(k))
            return Sweep("V", np.zeros(n), card.i_max_a if card else 0.105)
        if d.source == "M":
            return Sweep("M", np.zeros(n), 0.0)
        c = self.setup.consts.get(k)
        if c is not None and c.kind != d.source:
            raise KxciFault(E_SETUP, f"{k}: constant of the wrong source mode")
        value, comp = (float(c.values[0]), c.comp) if c is not None else DEFAULT_CONST[d.source]
        return Sweep(d.source, np.full(n, value), comp)

    # --- running it ---------------------------------------------------------------------------------
    def _cmd_ME(self, rest: str) -> None:
        code = int(rest)
        if code == 4:
            self._abort_test()
            return
        self._page("MD")
        if code not in (1, 3):
            raise KxciFault(E_UNSUPPORTED if code == 2 else E_ARGUMENT)
        plan = self._plan()            # refuses before anything is sourced
        self._start_test_hook()
        self._run(plan, append=(code == 3))

    def _abort_test(self) -> None:
        b = self.buffer
        if self.buffer_busy():   # abort: keep what was measured, stop being busy
            k = b.available(self.config.realtime_factor)
            b.n, b.wall_duration = k, 0.0
            for d in (b.values, b.status):
                for key in d:
                    d[key] = d[key][:k]
            self._ready_at = None
            self._data_ready()

    def _run(self, plan: Plan, append: bool) -> None:
        sources: dict[int, Source] = {}
        for k, sw in plan.drives.items():
            comp = np.maximum(sw.comp, self._comp_min(k, sw.kind))   # raised silently (KXCI-E p. 5-20)
            sources[self._physical(k)] = Source(sw.kind, sw.values, np.full(sw.values.shape, comp))
        for n, smu in self.smus.items():
            smu.on = n in sources
        t0 = self.clock_s
        readings = solve(sources, *self._wiring(), plan.dt, self._apply, self._noise)
        t_points = self._t_points(plan.dt)
        cols: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for k, d in self.setup.chans.items():
            r = readings[self._physical(k)]
            cols[d.vname] = (r.v, r.status)
            if d.iname:
                cols[d.iname] = (r.i, r.status)
            if k[0] == "CH":
                cols[f"CH{k[1]}T"] = (t_points, status_normal(t_points.size))
        npts = t_points.size
        if self.exit_on_compliance:    # EC 1: the test ends at the first point in compliance
            hit = np.zeros(npts, bool)
            for r in readings.values():
                hit |= r.status == "C"
            if hit.any():
                npts = int(np.argmax(hit)) + 1
        self.clock_s = t0 + float(t_points[npts - 1])
        self._store(cols, t_points[:npts], npts, append)
        for n, src in sources.items():   # outputs stay at the last point (ST standby not simulated)
            self.smus[n].value = float(src.value[npts - 1])

    def _t_points(self, dt: np.ndarray) -> np.ndarray:
        """``np.cumsum(dt)``, remembered for the last ``dt`` (an endurance run plans the same points burst after
        burst; the sum of 2,856 points costs more than comparing them). Read-only: test buffers keep it."""
        last = getattr(self, "_last_t_points", None)
        if last is not None and last[0].shape == dt.shape and bool((last[0] == dt).all()):
            return last[1]
        t = np.cumsum(dt)
        t.setflags(write=False)
        self._last_t_points = (dt.copy(), t)
        return t

    def _store(self, cols: dict, t_points: np.ndarray, npts: int, append: bool) -> None:
        buf = self.buffer if append else self._new_buffer()
        for name, (vals, st) in cols.items():
            vals, st = vals[:npts], st[:npts]
            if append and name in buf.values:
                buf.values[name] = np.concatenate([buf.values[name], vals])
                buf.status[name] = np.concatenate([buf.status[name], st])
            else:
                buf.values[name], buf.status[name] = vals, st
        buf.n = max(len(v) for v in buf.values.values())
        buf.t_points = np.concatenate([buf.t_points, t_points]) if append and buf.t_points.size else t_points
        buf.wall_start = time.monotonic()
        buf.wall_duration = float(t_points[-1]) * self.config.realtime_factor
        self.buffer = buf
        self._test_done_at(buf.wall_start + buf.wall_duration)

    # --- reading back -------------------------------------------------------------------------------
    def _cmd_DO(self, rest: str) -> str:
        name = quoted(rest)
        vals, stat = self._buffer_column(name)
        k = self.buffer.available(self.config.realtime_factor)
        if k < len(vals):                       # a paced test still running: the rest is not measured
            vals, stat = vals.copy(), stat.copy()
            vals[k:] = 0.0                      # 0 = not measured yet (KXCI-E p. 5-38)
            stat[k:] = "N"
        self.status &= ~1                       # start of data transfer clears B0
        if name.endswith("T") and name.startswith("CH"):
            return sci_list(vals, self.resolution)
        return sci_list(vals, self.resolution, stat)

    def _cmd_RD(self, rest: str) -> str:
        parts = args(rest)
        if len(parts) != 2:
            raise KxciFault(E_ARGUMENT)
        name, k = quoted(parts[0]), int(parts[1])
        vals, _ = self._buffer_column(name)
        if k < 1 or k > min(len(vals), self.buffer.available(self.config.realtime_factor)):
            return "0"                          # not (yet) measured (Tek examples loop until "0")
        return eng(vals[k - 1:k], self.resolution)[0]

    def _buffer_column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        b = self.buffer
        if name in b.values:
            return b.values[name], b.status[name]
        if name.endswith("S") and name[:-1] in b.status:   # status column 'nameS'
            st = b.status[name[:-1]]
            return (st == "C").astype(np.float64), np.full(st.shape, "N")
        raise KxciFault(E_ARGUMENT, f"no data named {name!r}")
