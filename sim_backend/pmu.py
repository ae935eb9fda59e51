"""The simulated 4225-PMU (+ 4225-RPM) in Segment-Arb mode, behind :class:`sim_backend.kxci.Kxci4200`.

Answers the ``:PMU:`` commands of KXCI-E chapter 7 (see ``shared/reference/keithley4200-kxci.md`` §4):
state per channel (ranges, load, sequences, sequence list), ``:PMU:EXECUTE`` checks the Segment-Arb
rules with the instrument's error codes (−958 < 3 segments, −956 not seamless, −959 slew, −954 segments,
−963 samples, −961 unknown sequence, −962 invalid segment, −969 invalid argument), then integrates the
device over the waveform in virtual time. Data come back as ``V,I,T,S`` points (``;`` between points,
8-hex-digit status word) in ``:PMU:DATA:GET`` blocks of ≤ 2048.

Device drive: channel ``config.pmu_top_channel`` is wired (through its RPM) to the top electrode, the
bottom electrode is grounded; the other channel sees an open circuit. The PMU has no compliance, so the
device model is called with ``icc_a = inf``. Each segment is split into sub-segments: ramps into
``RAMP_STEPS`` constant steps, and each measurement window into ``WINDOW_STEPS`` pieces whose results are
averaged (the spot mean reflects the state *during* the window). A looped sequence is evaluated with the
model's ``apply_cycles`` (vectorized over loops) when the load has it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import KxciFault

E_PMU_ARG, E_PULSE_CONFIG, E_ABORTED, E_MODE = -969, -967, -966, -965
E_MAX_SAMPLES, E_SEGMENT, E_UNKNOWN_SEQ, E_MAX_SEQ, E_SLEW = -963, -962, -961, -960, -959
E_MIN_SEGMENTS, E_MEAS_TIME, E_SEAMLESS, E_MAX_SEGMENTS = -958, -957, -956, -954
PMU_ERROR_TEXT = {
    E_PMU_ARG: "Invalid PMU argument.", E_PULSE_CONFIG: "Invalid pulse parameter configuration.",
    E_ABORTED: "Execution aborted.", E_MODE: "Command not valid in present pulse mode.",
    E_MAX_SAMPLES: "Max samples per channel exceeded.", E_SEGMENT: "Invalid segment.",
    E_UNKNOWN_SEQ: "Unknown sequence.", E_MAX_SEQ: "Max sequences exceeded.",
    E_SLEW: "Segment-Arb start/stop values violate minimum slew rate.",
    E_MIN_SEGMENTS: "At least 3 segments per sequence.", E_MEAS_TIME: "Sequence time too short for measurement.",
    E_SEAMLESS: "Segment start value does not match previous segment stop value.",
    E_MAX_SEGMENTS: "Max segments per PMU channel exceeded.",
}
RAMP_STEPS = 4
WINDOW_STEPS = 2
MAX_POINTS, MAX_GET, MAX_VALUES = 65_536, 2048, 128
SEG_MIN_S = {10.0: 20e-9, 40.0: 50e-9}
SLEW_MIN = {10.0: 1.0 / 2.7e-3, 40.0: 1.0 / 500e-6}
I_RANGES = {10.0: (0.2, 10e-3, 1e-3, 100e-6, 10e-6, 1e-6, 100e-9), 40.0: (0.8, 10e-3, 100e-6)}
RANGE_CODE = {100e-9: 0, 1e-6: 1, 10e-6: 2, 100e-6: 3, 1e-3: 4, 10e-3: 5, 0.2: 6, 0.8: 7}
MAX_SIM_SEGMENTS = 50_000_000   # evaluations per execute the simulator accepts (1e12 loops are not simulated)
_SEQ_COLS = {"STARTV": "start", "STOPV": "stop", "TIME": "time", "MEAS:TYPE": "mtype",
             "MEAS:START": "mstart", "MEAS:STOP": "mstop"}


@dataclass
class PmuChannel:
    range_v: float = 10.0
    i_range_a: float = 10e-3
    load_ohm: float = 1e6
    rpm: bool = False
    output: bool = False
    seqs: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    wfm: list[tuple[int, int]] = field(default_factory=list)
    data: np.ndarray | None = None      # (n, 4): V, I, T, status


def fmt_fixed(x: np.ndarray, sig: int) -> np.ndarray:
    """Vectorized ``%+.{sig-1}e``-style text as a (n, sig + 6) uint8 matrix (e.g. ``+1.234567e-06``)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    a = np.abs(x)
    nz = a > 0
    e = np.zeros(n, np.int64)
    e[nz] = np.floor(np.log10(a[nz])).astype(np.int64)
    scale = sig - 1 - e
    m = np.rint(a * np.power(10.0, scale.astype(np.float64)))
    hi = m >= 10.0 ** sig
    e[hi] += 1
    m[hi] = np.rint(m[hi] / 10.0)
    lo = nz & (m < 10.0 ** (sig - 1))
    e[lo] -= 1
    m[lo] = np.rint(a[lo] * np.power(10.0, (sig - 1 - e[lo]).astype(np.float64)))
    e = np.clip(e, -99, 99)
    mi = m.astype(np.int64)
    w = sig + 6
    out = np.empty((n, w), np.uint8)
    out[:, 0] = np.where(x < 0, ord("-"), ord("+"))
    p = 10 ** np.arange(sig - 1, -1, -1, dtype=np.int64)
    digs = (mi[:, None] // p[None, :]) % 10 + 48
    out[:, 1] = digs[:, 0]
    out[:, 2] = ord(".")
    out[:, 3:2 + sig] = digs[:, 1:]
    out[:, 2 + sig] = ord("e")
    out[:, 3 + sig] = np.where(e < 0, ord("-"), ord("+"))
    ae = np.abs(e)
    out[:, 4 + sig] = ae // 10 + 48
    out[:, 5 + sig] = ae % 10 + 48
    return out


def format_points(v: np.ndarray, i: np.ndarray, t: np.ndarray, status: np.ndarray) -> str:
    """``V,I,T,S;V,I,T,S;…`` built as one byte matrix (no per-value Python formatting)."""
    n = v.size
    if n == 0:
        return ""
    parts = [fmt_fixed(v, 7), fmt_fixed(i, 7), fmt_fixed(t, 10)]
    st = status.astype(np.uint32)
    hexd = np.frombuffer(b"0123456789ABCDEF", np.uint8)
    shifts = np.arange(7, -1, -1, dtype=np.uint32) * np.uint32(4)
    parts.append(hexd[(st[:, None] >> shifts[None, :]) & np.uint32(0xF)])
    comma = np.full((n, 1), ord(","), np.uint8)
    semi = np.full((n, 1), ord(";"), np.uint8)
    row = np.hstack([parts[0], comma, parts[1], comma, parts[2], comma, parts[3], semi])
    return row.tobytes()[:-1].decode("ascii")


class SimPmu:
    """One simulated PMU card (two channels) of a :class:`Kxci4200` chassis."""

    def __init__(self, chassis: Any):
        self.k = chassis
        self.init(0)

    def init(self, mode: int) -> None:
        """``:PMU:INIT``: channels to defaults, data and sequences cleared, outputs off."""
        self.mode = mode
        self.ch = {1: PmuChannel(), 2: PmuChannel()}
        self.running_until = 0.0
        self.t_points: np.ndarray | None = None
        self.n_executes = getattr(self, "n_executes", 0)

    # --- helpers ------------------------------------------------------------------------------------
    def _chan(self, text: str) -> PmuChannel:
        c = int(text)
        if c not in (1, 2):
            raise KxciFault(E_PMU_ARG, "channel")
        return self.ch[c]

    def running(self) -> bool:
        return time.monotonic() < self.running_until

    def _require_idle(self) -> None:
        if self.running():
            raise KxciFault(-980, "test running")

    # --- dispatcher ---------------------------------------------------------------------------------
    def handle(self, up: str) -> str | None:
        body = up[len(":PMU:"):]
        head, _, rest = body.partition(" ")
        args = [x.strip() for x in rest.split(",")] if rest.strip() else []
        if head == "INIT":
            self._require_idle()
            m = int(args[0])
            if m not in (0, 1) or len(args) != 1:
                raise KxciFault(E_PMU_ARG)
            self.init(m)
            return None
        if head == "TEST:STATUS?":
            return "1" if self.running() else "0"
        if head == "DATA:COUNT?":
            return str(self._available(int(args[0])))
        if head == "DATA:GET":
            return self._get(args)
        if head == "ABORT":
            if self.running():
                self._truncate_to_now()
            self.running_until = 0.0
            for c in self.ch.values():
                c.output = False
            return None
        if head == "OUTPUT:STATE":
            c, s = self._chan(args[0]), int(args[1])
            if s not in (0, 1):
                raise KxciFault(E_PMU_ARG)
            c.output = bool(s)
            return None
        self._require_idle()
        if head == "RPM:CONFIGURE":
            m = re.match(r"^PMU(\d)-([12])$", args[0])
            if not m or int(args[1]) not in (0, 1, 2, 3):
                raise KxciFault(E_PMU_ARG)
            self.ch[int(m.group(2))].rpm = int(args[1]) == 0
            return None
        if head == "SOURCE:RANGE":
            c, r = self._chan(args[0]), float(args[1])
            if r not in (10.0, 40.0):
                raise KxciFault(E_PMU_ARG)
            c.range_v = r
            return None
        if head == "MEASURE:RANGE":
            c, typ = self._chan(args[0]), int(args[1])
            if typ != 2:
                # auto / limited auto exist, but Segment Arb needs a fixed range (KXCI-E p. 7-2)
                raise KxciFault(E_MODE if self.mode == 1 else E_PMU_ARG, "SARB needs a fixed range")
            c.i_range_a = float(args[2])
            return None
        if head == "LOAD":
            c, r = self._chan(args[0]), float(args[1])
            if not 1.0 <= r <= 1e7:
                raise KxciFault(E_PMU_ARG)
            c.load_ohm = r
            return None
        if head.startswith("SARB:"):
            if self.mode != 1:
                raise KxciFault(E_MODE, "not in Segment-Arb mode")
            return self._sarb(head[5:], args)
        if head == "EXECUTE":
            self.execute()
            return None
        raise KxciFault(-986, head)

    def _sarb(self, what: str, args: list[str]) -> None:
        add = what.endswith(":ADD")
        base = what[:-4] if add else what
        if base == "WFM:SEQ:LIST":
            c = self._chan(args[0])
            vals = args[1:]
            if not vals or len(vals) % 2 or len(vals) > MAX_VALUES:
                raise KxciFault(E_PMU_ARG)
            pairs = [(int(vals[k]), int(float(vals[k + 1]))) for k in range(0, len(vals), 2)]
            for s, loops in pairs:
                if s not in c.seqs:
                    raise KxciFault(E_UNKNOWN_SEQ)
                if not 1 <= loops <= 1e12:
                    raise KxciFault(E_PMU_ARG)
            c.wfm = (c.wfm + pairs) if add else pairs
            return None
        if not base.startswith("SEQ:") or base[4:] not in _SEQ_COLS:
            raise KxciFault(-986, what)
        col = _SEQ_COLS[base[4:]]
        c = self._chan(args[0])
        s = int(args[1])
        vals = [float(x) for x in args[2:]]
        if not 1 <= s <= 512:
            raise KxciFault(E_MAX_SEQ)
        if not vals or len(vals) > MAX_VALUES:
            raise KxciFault(E_PMU_ARG, "1 to 128 values per command")
        seq = c.seqs.setdefault(s, {k: [] for k in _SEQ_COLS.values()})
        seq[col] = (seq[col] + vals) if add else vals
        return None

    # --- execution ----------------------------------------------------------------------------------
    def _check(self, c: PmuChannel) -> None:
        """The instrument's verification at :PMU:EXECUTE."""
        if c.i_range_a not in I_RANGES[c.range_v] or (not c.rpm and c.i_range_a < 10e-3 and c.range_v == 10.0):
            raise KxciFault(E_PMU_ARG, "current range")
        nseg = 0
        for s, q in c.seqs.items():
            n = len(q["start"])
            if n < 3:
                raise KxciFault(E_MIN_SEGMENTS)
            if any(len(q[k]) != n for k in ("stop", "time")):
                raise KxciFault(E_SEGMENT, "STARTV/STOPV/TIME lengths differ")
            for k in ("mtype", "mstart", "mstop"):
                if len(q[k]) not in (0, n):
                    raise KxciFault(E_SEGMENT)
            nseg += n
        if nseg > 2048:
            raise KxciFault(E_MAX_SEGMENTS)
        prev = None
        vmin, vmax = np.inf, -np.inf
        for s, loops in c.wfm:
            q = self._arrays(c.seqs[s])
            st, sp, t = q["start"], q["stop"], q["time"]
            if np.any(np.abs(st) > c.range_v) or np.any(np.abs(sp) > c.range_v):
                raise KxciFault(E_PMU_ARG, "voltage outside range")
            if np.any(t < SEG_MIN_S[c.range_v] - 1e-12) or np.any(t > 1.0):
                raise KxciFault(E_SEGMENT, "segment time")
            if np.any(np.abs(sp[:-1] - st[1:]) > 1e-9) or (prev is not None and abs(prev - st[0]) > 1e-9) \
                    or (loops > 1 and abs(sp[-1] - st[0]) > 1e-9):
                raise KxciFault(E_SEAMLESS)
            dv = np.abs(sp - st)
            if np.any((dv > 1e-9) & (dv / t < SLEW_MIN[c.range_v])):
                raise KxciFault(E_SLEW)
            m = q["mtype"] != 0
            if np.any(m & ((q["mstart"] < 0) | (q["mstop"] <= q["mstart"]) | (q["mstop"] > t + 1e-12))):
                raise KxciFault(E_MEAS_TIME)
            prev = sp[-1]
            vmin, vmax = min(vmin, st.min(), sp.min()), max(vmax, st.max(), sp.max())
        # conservative reading of the uncertain span rule (reference §10.2), as in the driver
        if vmax - vmin > (10.0 if c.range_v == 10.0 else 40.0) + 1e-9:
            raise KxciFault(E_PULSE_CONFIG, "span exceeds the range")

    @staticmethod
    def _arrays(q: dict[str, list[float]]) -> dict[str, np.ndarray]:
        n = len(q["start"])
        out = {k: np.asarray(v, dtype=np.float64) for k, v in q.items()}
        for k in ("mtype", "mstart", "mstop"):
            if out[k].size == 0:
                out[k] = np.zeros(n)
        return out

    @staticmethod
    def _subsegments(q: dict[str, np.ndarray]):
        """One pass of a sequence as constant sub-segments: (v, dt, meas index or -1, meas time)."""
        v_l, dt_l, mi_l = [], [], []
        t_meas = []
        t0 = 0.0
        k_meas = 0
        for st, sp, T, mt, ms, me in zip(*(q[c].tolist() for c in ("start", "stop", "time", "mtype",
                                                                    "mstart", "mstop"))):
            cuts = [0.0, T] if mt == 0 else sorted({0.0, ms, me, T})
            ramp = abs(sp - st) > 1e-12
            for a, b in zip(cuts[:-1], cuts[1:]):
                if b - a <= 0:
                    continue
                in_win = mt != 0 and a >= ms - 1e-15 and b <= me + 1e-15
                steps = WINDOW_STEPS if in_win else (RAMP_STEPS if ramp else 1)
                edges = np.linspace(a, b, steps + 1)
                mids = 0.5 * (edges[:-1] + edges[1:])
                v_l.extend((st + (sp - st) * mids / T).tolist())
                dt_l.extend(np.diff(edges).tolist())
                mi_l.extend([k_meas if in_win else -1] * steps)
            if mt != 0:
                t_meas.append(t0 + 0.5 * (ms + me))
                k_meas += 1
            t0 += T
        return np.array(v_l), np.array(dt_l), np.array(mi_l, np.int64), np.array(t_meas), t0

    def execute(self) -> None:
        """``:PMU:EXECUTE``: verify, clear the buffers, run the waveform on the device in virtual time."""
        self._require_idle()
        if self.mode != 1:
            raise KxciFault(E_MODE, "only Segment-Arb is simulated")
        active = [n for n, c in self.ch.items() if c.wfm]
        for n in active:
            self._check(self.ch[n])
        for c in self.ch.values():
            c.data = None
        self.n_executes += 1
        self.k._start_test_hook()
        top = int(getattr(self.k.config, "pmu_top_channel", 1))
        t_start = self.k.clock_s
        duration = 0.0
        for n in active:
            c = self.ch[n]
            plan = []
            npts = 0
            total = 0
            for s, loops in c.wfm:
                v, dt, mi, tm, T = self._subsegments(self._arrays(c.seqs[s]))
                plan.append((v, dt, mi, tm, T, loops))
                npts += tm.size * loops
                total += v.size * loops
            if npts > MAX_POINTS:
                raise KxciFault(E_MAX_SAMPLES)
            if total > MAX_SIM_SEGMENTS:
                raise KxciFault(-986, "waveform too long for the simulator")
            wired = n == top and c.output
            cols_v, cols_i, cols_t = [], [], []
            t_off = 0.0
            for v, dt, mi, tm, T, loops in plan:
                if tm.size == 0 and not wired:
                    t_off += T * loops
                    continue
                if wired:
                    i_a, v_dev = self._drive(v, dt, loops, t_start + t_off)
                else:   # open circuit: noise on the measure range, programmed voltage
                    res = self.k.open_load.apply_segments(np.zeros(v.size * loops), np.full(v.size * loops, 1e-9),
                                                          np.inf)
                    i_a, v_dev = res.i_a.reshape(loops, v.size), np.tile(v, (loops, 1))
                if tm.size:
                    sel = mi >= 0
                    cnt = np.bincount(mi[sel], minlength=tm.size).astype(np.float64)
                    # window average per measurement: sum the window sub-segments of each pass
                    w = np.zeros((v.size, tm.size))
                    w[np.flatnonzero(sel), mi[sel]] = 1.0 / cnt[mi[sel]]
                    cols_i.append((i_a @ w).ravel())
                    cols_v.append((v_dev @ w).ravel())
                    cols_t.append((t_off + T * np.arange(loops)[:, None] + tm[None, :]).ravel())
                t_off += T * loops
            duration = max(duration, t_off)
            if cols_t:
                v_m, i_m, t_m = (np.concatenate(x) for x in (cols_v, cols_i, cols_t))
                fs = c.i_range_a
                over = np.where(i_m > fs, 8, 0) | np.where(i_m < -fs, 4, 0) \
                    | np.where(v_m > c.range_v, 2, 0) | np.where(v_m < -c.range_v, 1, 0)
                i_m = np.clip(i_m, -1.05 * fs, 1.05 * fs)
                code_h = (n if c.range_v == 10.0 else n + 4)
                word = (int(c.rpm) << 24) | (1 << 16) | (RANGE_CODE[c.i_range_a] << 4) | code_h
                status = (np.uint32(word) | (over.astype(np.uint32) << np.uint32(8))).astype(np.uint32)
                c.data = np.column_stack([v_m, i_m, t_m, status.astype(np.float64)])
        duration += 10e-9   # the extra 10 ns after the last segment (KXCI-E p. 7-40)
        self.k.clock_s = t_start + duration
        f = self.k.config.realtime_factor
        self.t_start_wall = time.monotonic()
        self.running_until = self.t_start_wall + duration * f if f > 0 else 0.0
        self.duration_s = duration

    def _drive(self, v: np.ndarray, dt: np.ndarray, loops: int, t_at: float):
        """Integrate the device over ``loops`` passes of (v, dt); results shaped (loops, len(v))."""
        dut = self.k.dut
        if dut.t_s < t_at:
            dut.idle(t_at - dut.t_s)
        with np.errstate(invalid="ignore"):
            if loops > 1 and hasattr(dut, "apply_cycles"):
                res = dut.apply_cycles(v, dt, np.full(v.size, np.inf), loops)
                return np.asarray(res.i_a).reshape(loops, v.size), np.asarray(res.v_dev_v).reshape(loops, v.size)
            res = dut.apply_segments(np.tile(v, loops), np.tile(dt, loops), np.inf)
        return res.i_a.reshape(loops, v.size), res.v_dev_v.reshape(loops, v.size)

    # --- data ---------------------------------------------------------------------------------------
    def _available(self, n: int) -> int:
        c = self.ch.get(n)
        if c is None:
            raise KxciFault(E_PMU_ARG)
        if c.data is None:
            return 0
        if not self.running():
            return int(c.data.shape[0])
        elapsed = (time.monotonic() - self.t_start_wall) / self.k.config.realtime_factor
        return int(np.searchsorted(c.data[:, 2], elapsed, side="right"))

    def _truncate_to_now(self) -> None:
        for n, c in self.ch.items():
            if c.data is not None:
                c.data = c.data[: self._available(n)]

    def _get(self, args: list[str]) -> str:
        n = int(args[0])
        start = int(args[1]) if len(args) > 1 else 0
        count = int(args[2]) if len(args) > 2 else MAX_GET
        if len(args) > 3:
            raise KxciFault(-986, "field selection is not simulated")
        if not 1 <= count <= MAX_GET or start < 0:
            raise KxciFault(E_PMU_ARG)
        avail = self._available(n)
        c = self.ch[n]
        if c.data is None or start >= avail:
            return ""
        d = c.data[start:min(avail, start + count)]
        return format_points(d[:, 0], d[:, 1], d[:, 2], d[:, 3].astype(np.uint32))
