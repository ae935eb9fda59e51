"""4225-PMU Segment-Arb over KXCI: segments, sequences, looped waveforms, execution and data.

Attached to the driver as ``k4200.pmu`` (:class:`PMU`). Syntax from the KXCI manual 4200A-KXCI-907-01
Rev. E chapter 7 (page numbers in the comments; collected in ``shared/reference/keithley4200-kxci.md``
§4.3, §4.4, §7):

* ``:PMU:INIT 1`` Segment-Arb mode (p. 7-9), ``:PMU:RPM:CONFIGURE PMU1-1, 0`` (p. 7-22),
  ``:PMU:SOURCE:RANGE ch, 10|40`` (p. 7-24), ``:PMU:MEASURE:RANGE ch, 2, I`` fixed (p. 7-15; SARB needs a
  fixed range, p. 7-2), ``:PMU:LOAD ch, ohms`` (p. 7-11);
* ``:PMU:SARB:SEQ:STARTV|STOPV|TIME|MEAS:TYPE|MEAS:START|MEAS:STOP ch, seq, v1, …`` with ``:ADD``
  chunks of ≤ 128 values (p. 7-40 … 7-56); ``:PMU:SARB:WFM:SEQ:LIST ch, seq, loops, …`` (p. 7-55);
* ``:PMU:OUTPUT:STATE ch, 1`` (acts at execute), ``:PMU:EXECUTE``, poll ``:PMU:TEST:STATUS?`` until 0,
  ``:PMU:DATA:COUNT? ch``, ``:PMU:DATA:GET ch, start, n`` in ≤ 2048-point blocks (p. 7-6 … 7-8, 7-37);
  ``:PMU:OUTPUT:STATE ch, 0`` and ``:PMU:ABORT`` (outputs off) on the way out (p. 7-4, 7-16).

Every §7 limit the engine touches is checked in :meth:`PMU.plan_segment_arb` before the first byte is
sent; a violation raises :class:`~instruments.limits.LimitError` naming the parameter and its range.

**Span (reference §4.3, §4.5, §7, §10.2).** The manual states a span rule ("start/stop within 10 V /
40 V of each other", KXCI-E p. 7-21, 7-29) only for standard-pulse trains and sweeps; a Segment-Arb
value may be anywhere in ±range (p. 7-48). So on the 40 V range this driver checks each value against
±40 V alone (±35 V runs, as on the instrument). On the 10 V range it keeps one conservative extra
rule: whether one 10 V-range waveform may hold values 12 V apart (+5 V write, −7 V erase) is listed
as unverified on hardware (§10.2), so a channel waveform whose span (max − min) exceeds 10 V is refused
before anything is sent, asking for the 40 V range (:data:`PMU_SPAN_MAX_V`). The simulator follows
the documented rule and accepts it; drop this check once hardware shows the card takes it.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Callable, Sequence as TSequence

import numpy as np

from .limits import (
    PMU_GET_BLOCK_MAX,
    PMU_I_RANGES_A,
    PMU_LOAD_OHM,
    PMU_MEAS_TYPES,
    PMU_POINTS_MAX,
    PMU_RANGE_V,
    PMU_RPM_I_RANGES_A,
    PMU_SARB_LOOPS_MAX,
    PMU_SARB_SEG_MAX_S,
    PMU_SARB_SEG_MIN_S,
    PMU_SARB_SEGMENTS_PER_CHANNEL_MAX,
    PMU_SARB_SEGMENTS_PER_SEQ_MIN,
    PMU_SARB_SEQ_NUMBERS,
    PMU_SARB_SLEW_MIN_V_PER_S,
    PMU_SARB_TIME_RES_S,
    PMU_SARB_VALUES_PER_COMMAND,
    PMU_SPAN_MAX_V,
    LimitError,
    check_array_range,
    check_range,
    fmt_num,
)

if TYPE_CHECKING:  # pragma: no cover
    from .keithley4200 import Keithley4200

__all__ = ["Segment", "SarbSequence", "ChannelSetup", "SarbPlan", "PmuData", "PMU", "parse_pmu_data",
           "decode_status", "fmt_time"]

from .pmu_data import (  # noqa: E402 - the data types live beside the driver, re-exported here
    _GRID_TOL,
    ChannelSetup,
    PmuData,
    SarbPlan,
    SarbSequence,
    Segment,
    _chunks,
    decode_status,
    fmt_time,
    parse_pmu_data,
)


class PMU:
    """A 4225-PMU card (two channels) in Segment-Arb mode, talking through its :class:`Keithley4200`."""

    def __init__(self, parent: "Keithley4200", card: int = 1):
        self.parent = parent
        self.card = int(card)
        self.used = False      # a test was started: the safe shutdown then also sends :PMU:ABORT

    # --- validation ------------------------------------------------------------------------------
    @staticmethod
    def validate_sequence(seq: SarbSequence, range_v: float, name: str = "sequence") -> None:
        """Check one sequence against the Segment-Arb limits (KXCI-E p. 7-40 … 7-56)."""
        n = len(seq)
        if n < PMU_SARB_SEGMENTS_PER_SEQ_MIN:
            raise LimitError(f"{name} has {n} segments; a Segment-Arb sequence needs at least "
                             f"{PMU_SARB_SEGMENTS_PER_SEQ_MIN} (error -958)")
        for col in ("stop_v", "time_s", "meas_type", "meas_start_s", "meas_stop_s"):
            if getattr(seq, col).shape != seq.start_v.shape:
                raise LimitError(f"{name}.{col} has {getattr(seq, col).size} values, start_v has {n}")
        vmax = float(range_v)
        check_array_range(seq.start_v, -vmax, vmax, f"{name}.start_v", "V")
        check_array_range(seq.stop_v, -vmax, vmax, f"{name}.stop_v", "V")
        tmin = PMU_SARB_SEG_MIN_S[range_v]
        check_array_range(seq.time_s, tmin, PMU_SARB_SEG_MAX_S, f"{name}.time_s", "s")
        for col in ("time_s", "meas_start_s", "meas_stop_s"):
            ticks = getattr(seq, col) / PMU_SARB_TIME_RES_S
            off = np.abs(ticks - np.round(ticks)) > _GRID_TOL
            if np.any(off):
                k = int(np.flatnonzero(off)[0])
                raise LimitError(f"{name}.{col}[{k}]={getattr(seq, col)[k]:g} s is not on the 10 ns grid")
        bad = ~np.isin(seq.meas_type, PMU_MEAS_TYPES)
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            raise LimitError(f"{name}.meas_type[{k}]={seq.meas_type[k]} is outside {PMU_MEAS_TYPES}")
        m = seq.measured
        tol = PMU_SARB_TIME_RES_S * _GRID_TOL
        wbad = m & ((seq.meas_start_s < -tol) | (seq.meas_stop_s <= seq.meas_start_s + tol)
                    | (seq.meas_stop_s > seq.time_s + tol))
        if np.any(wbad):
            k = int(np.flatnonzero(wbad)[0])
            raise LimitError(f"{name} segment {k}: measurement window [{seq.meas_start_s[k]:g}, "
                             f"{seq.meas_stop_s[k]:g}] s must satisfy 0 <= start < stop <= time_s="
                             f"{seq.time_s[k]:g} s")
        if n > 1:
            gap = np.abs(seq.stop_v[:-1] - seq.start_v[1:]) > 1e-9
            if np.any(gap):
                k = int(np.flatnonzero(gap)[0])
                raise LimitError(f"{name} is not seamless: segment {k} stops at {seq.stop_v[k]:g} V, segment "
                                 f"{k + 1} starts at {seq.start_v[k + 1]:g} V (error -956)")
        dv = np.abs(seq.stop_v - seq.start_v)
        ramp = dv > 1e-9
        slew = np.where(ramp, dv / seq.time_s, np.inf)
        smin = PMU_SARB_SLEW_MIN_V_PER_S[range_v]
        if np.any(slew < smin):
            k = int(np.flatnonzero(slew < smin)[0])
            raise LimitError(f"{name} segment {k}: slew {slew[k]:.4g} V/s is below the minimum {smin:.4g} V/s "
                             f"on the {range_v:g} V range (a {dv[k]:g} V ramp may last at most "
                             f"{dv[k] / smin:.4g} s; error -959)")

    def validate_channel(self, ch: ChannelSetup) -> int:
        """Validate one channel setup; return the number of points it will return."""
        check_range(ch.channel, 1, 2, "channel")
        if ch.range_v not in PMU_RANGE_V:
            raise LimitError(f"range_v={ch.range_v:g} V must be one of {PMU_RANGE_V} V")
        ranges = (PMU_RPM_I_RANGES_A if ch.rpm else PMU_I_RANGES_A)[ch.range_v]
        if not any(math.isclose(ch.i_range_a, r, rel_tol=1e-9) for r in ranges):
            raise LimitError(f"i_range_a={ch.i_range_a:g} A is not a fixed measure range of the "
                             f"{'PMU+RPM' if ch.rpm else 'PMU'} on the {ch.range_v:g} V range: {ranges} A")
        check_range(ch.load_ohm, *PMU_LOAD_OHM, "load_ohm", "Ω")
        lo, hi = PMU_SARB_SEQ_NUMBERS
        for s, seq in ch.sequences.items():
            check_range(s, lo, hi, "sequence number")
            self.validate_sequence(seq, ch.range_v, f"channel {ch.channel} sequence {s}")
        nseg = sum(len(q) for q in ch.sequences.values())
        if nseg > PMU_SARB_SEGMENTS_PER_CHANNEL_MAX:
            raise LimitError(f"channel {ch.channel} defines {nseg} segments; the PMU holds at most "
                             f"{PMU_SARB_SEGMENTS_PER_CHANNEL_MAX} per channel (error -954)")
        if not ch.waveform:
            raise LimitError(f"channel {ch.channel}: the waveform (sequence list) is empty")
        points = 0
        order: list[SarbSequence] = []
        for s, loops in ch.waveform:
            if s not in ch.sequences:
                raise LimitError(f"channel {ch.channel}: waveform uses sequence {s}, which is not defined")
            if int(loops) != loops:
                raise LimitError(f"loops={loops!r} must be an integer")
            check_range(loops, 1, PMU_SARB_LOOPS_MAX, "loops")
            q = ch.sequences[s]
            if loops > 1 and abs(q.stop_v[-1] - q.start_v[0]) > 1e-9:
                raise LimitError(f"channel {ch.channel} sequence {s} is looped but stops at {q.stop_v[-1]:g} V "
                                 f"and starts at {q.start_v[0]:g} V (not seamless; error -956)")
            if order and abs(order[-1].stop_v[-1] - q.start_v[0]) > 1e-9:
                raise LimitError(f"channel {ch.channel}: sequence {s} starts at {q.start_v[0]:g} V but the "
                                 f"previous sequence stops at {order[-1].stop_v[-1]:g} V (error -956)")
            order.append(q)
            points += q.points_per_pass() * int(loops)
        if points > PMU_POINTS_MAX:
            raise LimitError(f"channel {ch.channel} would return {points} points; KXCI returns at most "
                             f"{PMU_POINTS_MAX} per channel per execute (error -963): split into bursts")
        used = [ch.sequences[s] for s, _ in ch.waveform]
        vmax = max(float(max(q.start_v.max(), q.stop_v.max())) for q in used)
        vmin = min(float(min(q.start_v.min(), q.stop_v.min())) for q in used)
        span = PMU_SPAN_MAX_V[ch.range_v]
        # reference §4.3/§10.2 (module docstring): no span rule for Segment-Arb on the 40 V range (values
        # ±40 V); the 10 V range keeps the conservative span check until hardware settles §10.2
        if ch.range_v == 10.0 and vmax - vmin > span + 1e-9:
            raise LimitError(f"channel {ch.channel} waveform spans {vmin:g} V … {vmax:g} V "
                             f"({vmax - vmin:g} V) on the {ch.range_v:g} V range; the conservative limit is a "
                             f"{span:g} V span (reference §10.2: undocumented whether one 10 V-range "
                             f"waveform may exceed it) — use range_v=40")
        return points

    # --- command stream --------------------------------------------------------------------------
    def _seq_commands(self, ch: int, s: int, seq: SarbSequence) -> list[str]:
        cols = (
            ("STARTV", [fmt_num(v, "start_v") for v in seq.start_v.tolist()]),
            ("STOPV", [fmt_num(v, "stop_v") for v in seq.stop_v.tolist()]),
            ("TIME", [fmt_time(t, "time_s") for t in seq.time_s.tolist()]),
            ("MEAS:TYPE", [str(int(m)) for m in seq.meas_type.tolist()]),
            ("MEAS:START", [fmt_time(t, "meas_start_s") for t in seq.meas_start_s.tolist()]),
            ("MEAS:STOP", [fmt_time(t, "meas_stop_s") for t in seq.meas_stop_s.tolist()]),
        )
        out = []
        for name, vals in cols:
            for k, chunk in enumerate(_chunks(vals)):
                add = ":ADD" if k else ""
                out.append(f":PMU:SARB:SEQ:{name}{add} {ch}, {s}, " + ", ".join(chunk))
        return out

    def plan_segment_arb(self, channels: TSequence[ChannelSetup]) -> SarbPlan:
        """Validate a whole Segment-Arb test and return its exact command stream (nothing is sent)."""
        if not channels:
            raise LimitError("a Segment-Arb test needs at least one channel")
        nums = [c.channel for c in channels]
        if len(set(nums)) != len(nums):
            raise LimitError(f"channel listed twice: {nums}")
        points = {c.channel: self.validate_channel(c) for c in channels}
        cmds = [":ERROR:LAST:CLEAR", ":PMU:INIT 1"]
        for c in channels:
            if c.rpm:
                cmds.append(f":PMU:RPM:CONFIGURE PMU{self.card}-{c.channel}, 0")
        for c in channels:
            cmds += [f":PMU:SOURCE:RANGE {c.channel}, {fmt_num(c.range_v)}",
                     f":PMU:MEASURE:RANGE {c.channel}, 2, {fmt_num(c.i_range_a, 'i_range_a')}",
                     f":PMU:LOAD {c.channel}, {fmt_num(c.load_ohm, 'load_ohm')}"]
        for c in channels:
            for s in sorted(c.sequences):
                cmds += self._seq_commands(c.channel, s, c.sequences[s])
            pairs = [f"{s}, {int(loops)}" for s, loops in c.waveform]
            for k in range(0, len(pairs), PMU_SARB_VALUES_PER_COMMAND // 2):
                add = ":ADD" if k else ""
                cmds.append(f":PMU:SARB:WFM:SEQ:LIST{add} {c.channel}, "
                            + ", ".join(pairs[k:k + PMU_SARB_VALUES_PER_COMMAND // 2]))
        for c in channels:
            cmds.append(f":PMU:OUTPUT:STATE {c.channel}, 1")
        cmds.append(":PMU:EXECUTE")
        durations = [sum(c.sequences[s].duration_s * int(l) for s, l in c.waveform) for c in channels]
        return SarbPlan(cmds, nums, [n for n, p in points.items() if p > 0], points,
                        max(durations) + PMU_SARB_TIME_RES_S)

    # --- execution -------------------------------------------------------------------------------
    def run(self, plan: SarbPlan, should_stop: Callable[[], bool] | None = None,
            timeout_s: float | None = None) -> dict[int, PmuData]:
        """Send a plan, poll until the test completes, read every measured channel, outputs off.

        On a stop request or a timeout the test is aborted (``:PMU:ABORT``, outputs off) and the error
        is raised; outputs are switched off in every case.
        """
        from .keithley4200 import InstrumentAborted

        k = self.parent
        self.used = True
        for cmd in plan.commands[:-1]:
            k.command(cmd)
        k.check_errors("Segment-Arb setup")
        try:
            k.command(plan.commands[-1])
            k.check_errors(":PMU:EXECUTE")
            deadline = time.monotonic() + (timeout_s if timeout_s is not None else 10.0 + 3.0 * plan.duration_s)
            pause = 0.0005
            while self.test_running():
                if should_stop is not None and should_stop():
                    self.abort()
                    raise InstrumentAborted("Segment-Arb test aborted on request (:PMU:ABORT)")
                if time.monotonic() > deadline:
                    self.abort()
                    raise TimeoutError(f"PMU test still running after the timeout; aborted")
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
            data = {ch: self.fetch(ch, plan.points[ch]) for ch in plan.measured_channels}
        finally:
            for ch in plan.channels:
                try:
                    k.command(f":PMU:OUTPUT:STATE {ch}, 0")
                except Exception:  # noqa: BLE001 - never mask the original error on the safe path
                    pass
        return data

    def test_running(self) -> bool:
        """``:PMU:TEST:STATUS?``: 1 while running, 0 idle/complete (KXCI-E p. 7-36)."""
        return int(float(self.parent.query(":PMU:TEST:STATUS?"))) != 0

    def data_count(self, channel: int) -> int:
        """``:PMU:DATA:COUNT? ch``: points in the buffer (works while the test runs)."""
        check_range(channel, 1, 2, "channel")
        return int(float(self.parent.query(f":PMU:DATA:COUNT? {channel}")))

    def get_block(self, channel: int, start: int, n: int) -> tuple[np.ndarray, ...]:
        """One ``:PMU:DATA:GET ch, start, n`` call (n ≤ 2048), parsed."""
        check_range(n, 1, PMU_GET_BLOCK_MAX, "n")
        check_range(start, 0, PMU_POINTS_MAX - 1, "start")
        reply = self.parent.query(f":PMU:DATA:GET {channel}, {int(start)}, {int(n)}")
        return parse_pmu_data(reply)

    def fetch(self, channel: int, expected: int | None = None) -> PmuData:
        """Read every point of a channel in ≤ 2048-point blocks (KXCI-E p. 7-7)."""
        count = self.data_count(channel)
        if expected is not None and count != expected:
            from .keithley4200 import KXCIError
            raise KXCIError(-963 if count > expected else -966,
                            f"PMU channel {channel} returned {count} points, expected {expected}")
        cols: list[list[np.ndarray]] = [[], [], [], []]
        got = 0
        while got < count:
            n = min(PMU_GET_BLOCK_MAX, count - got)
            block = self.get_block(channel, got, n)
            if block[0].size == 0:
                break
            for c, a in zip(cols, block):
                c.append(a)
            got += block[0].size
        if got != count:
            from .keithley4200 import KXCIError
            raise KXCIError(-966, f"PMU channel {channel}: read {got} of {count} points")
        if not cols[0]:
            e = np.empty(0)
            return PmuData(e, e.copy(), e.copy(), np.empty(0, np.uint32))
        return PmuData(*(np.concatenate(c) for c in cols))

    def output(self, channel: int, on: bool) -> None:
        """``:PMU:OUTPUT:STATE ch, 0|1`` (off acts at once; on acts at ``:PMU:EXECUTE``)."""
        check_range(channel, 1, 2, "channel")
        self.parent.command(f":PMU:OUTPUT:STATE {channel}, {1 if on else 0}")

    def abort(self) -> None:
        """``:PMU:ABORT``: stop the test and switch the outputs off; data so far stays readable."""
        self.parent.command(":PMU:ABORT")
