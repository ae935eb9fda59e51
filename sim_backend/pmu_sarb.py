"""Segment-Arb (``:PMU:INIT 1``) on the simulated PMU: sequence tables, the instrument's checks at
``:PMU:EXECUTE``, and the passes the waveform engine plays (KXCI-E p. 7-39 … 7-58, reference §4.3).

Checks and codes: −958 < 3 segments, −962 invalid segment (column lengths, segment time, SSR
transition < 25 µs), −956 not seamless, −959 slew below the minimum, −957 measurement window outside
its segment, −954 > 2048 segments, −955 SSR opened on an RPM range, −969 a value outside ±range.

**Span (reference §4.3, §4.5, §7, §10.2).** The manual gives every STARTV/STOPV value the range
"−10 to 10" (10 V) or "−40 to 40" (40 V) and states a span rule only for ``:PMU:PULSE:TRAIN`` and the
pulse sweeps (KXCI-E p. 7-21, 7-29). So a Segment-Arb value is checked against ±range alone: ±35 V on
the 40 V range, or +5 V and −7 V on the 10 V range, run. The span rule lives in ``pmu_pulse.py``.
"""

from __future__ import annotations

import numpy as np

from .errors import KxciFault
from .pmu_errors import (E_MAX_SEGMENTS, E_MAX_SEQ, E_MEAS_TIME, E_MIN_SEGMENTS, E_PMU_ARG, E_SEAMLESS,
                         E_SEGMENT, E_SLEW, E_SSR_RPM, E_UNKNOWN_SEQ, E_UNSUPPORTED)
from .pmu_wave import KIND_SPOT, KIND_WAVEFORM, Pass, PassBuilder

MAX_VALUES = 128                       # values per command, :ADD appends (KXCI-E p. 7-40)
SEG_MIN_S = {10.0: 20e-9, 40.0: 50e-9}
SEG_MAX_S = 1.0
SLEW_MIN = {10.0: 1.0 / 2.7e-3, 40.0: 1.0 / 500e-6}
SSR_TRANSITION_MIN_S = 25e-6           # a segment in which the output relay changes (KXCI-E p. 7-46)
RPM_RANGES_MAX_A = 10e-3               # RPM ranges are 100 nA … 10 mA; above, the RPM is bypassed
COLS = {"STARTV": "start", "STOPV": "stop", "TIME": "time", "MEAS:TYPE": "mtype",
        "MEAS:START": "mstart", "MEAS:STOP": "mstop", "SSR": "ssr", "TRIG": "trig"}
DEFAULT = {"mtype": 0.0, "mstart": 0.0, "mstop": 0.0, "ssr": 1.0, "trig": 1.0}   # per segment
LEVELS = {"mtype": (0, 1, 2, 3, 4), "ssr": (0, 1), "trig": (0, 1)}


def command(ch, what: str, args: list[str]) -> None:
    """``:PMU:SARB:SEQ:<col>[:ADD] ch, seq, v…`` and ``:PMU:SARB:WFM:SEQ:LIST[:ADD] ch, seq, loops, …``."""
    add = what.endswith(":ADD")
    base = what[:-4] if add else what
    if base == "WFM:SEQ:LIST":
        vals = args[1:]
        if not vals or len(vals) % 2 or len(vals) > MAX_VALUES:
            raise KxciFault(E_PMU_ARG, "sequence, loops pairs")
        pairs = [(int(vals[k]), int(float(vals[k + 1]))) for k in range(0, len(vals), 2)]
        for s, loops in pairs:
            if s not in ch.seqs:
                raise KxciFault(E_UNKNOWN_SEQ)
            if not 1 <= loops <= 1e12:
                raise KxciFault(E_PMU_ARG, "loops 1 … 1e12")
        ch.wfm = (ch.wfm + pairs) if add else pairs
        return
    if not base.startswith("SEQ:") or base[4:] not in COLS:
        raise KxciFault(E_UNSUPPORTED, what)
    col = COLS[base[4:]]
    s = int(args[1])
    vals = [float(x) for x in args[2:]]
    if not 1 <= s <= 512:
        raise KxciFault(E_MAX_SEQ)
    if not vals or len(vals) > MAX_VALUES:
        raise KxciFault(E_PMU_ARG, "1 to 128 values per command")
    if col in LEVELS and any(v not in LEVELS[col] for v in vals):
        raise KxciFault(E_PMU_ARG, f"{base[4:]} values {LEVELS[col]}")
    seq = ch.seqs.setdefault(s, {k: [] for k in COLS.values()})
    seq[col] = (seq[col] + vals) if add else vals


def arrays(q: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """A sequence's columns as arrays; unset optional columns take their per-segment default."""
    n = len(q["start"])
    out = {k: np.asarray(v, dtype=np.float64) for k, v in q.items()}
    for k, d in DEFAULT.items():
        if out[k].size == 0:
            out[k] = np.full(n, d)
    return out


def check(ch) -> None:
    """The instrument's verification of one channel at ``:PMU:EXECUTE``."""
    nseg = 0
    for q in ch.seqs.values():
        n = len(q["start"])
        if n < 3:
            raise KxciFault(E_MIN_SEGMENTS)
        if any(len(q[k]) != n for k in ("stop", "time")):
            raise KxciFault(E_SEGMENT, "STARTV/STOPV/TIME lengths differ")
        if any(len(q[k]) not in (0, n) for k in DEFAULT):
            raise KxciFault(E_SEGMENT, "MEAS/SSR/TRIG length")
        nseg += n
    if nseg > 2048:
        raise KxciFault(E_MAX_SEGMENTS)
    prev_v, prev_ssr = None, None
    for s, loops in ch.wfm:
        q = arrays(ch.seqs[s])
        st, sp, t = q["start"], q["stop"], q["time"]
        if np.any(np.abs(st) > ch.range_v + 1e-9) or np.any(np.abs(sp) > ch.range_v + 1e-9):
            raise KxciFault(E_PMU_ARG, "voltage outside ±range")   # per value, no span rule: module doc
        if np.any(t < SEG_MIN_S[ch.range_v] - 1e-12) or np.any(t > SEG_MAX_S):
            raise KxciFault(E_SEGMENT, "segment time")
        if np.any(np.abs(sp[:-1] - st[1:]) > 1e-9) or (prev_v is not None and abs(prev_v - st[0]) > 1e-9) \
                or (loops > 1 and abs(sp[-1] - st[0]) > 1e-9):
            raise KxciFault(E_SEAMLESS)
        dv = np.abs(sp - st)
        if np.any((dv > 1e-9) & (dv / t < SLEW_MIN[ch.range_v])):
            raise KxciFault(E_SLEW)
        m = q["mtype"] != 0
        if np.any(m & ((q["mstart"] < 0) | (q["mstop"] <= q["mstart"]) | (q["mstop"] > t + 1e-12))):
            raise KxciFault(E_MEAS_TIME)
        ssr = q["ssr"]
        if np.any(ssr == 0) and ch.rpm and ch.i_range_a <= RPM_RANGES_MAX_A:
            raise KxciFault(E_SSR_RPM)
        before = np.r_[ssr[-1] if loops > 1 else (ssr[0] if prev_ssr is None else prev_ssr), ssr[:-1]]
        if np.any((ssr != before) & (t < SSR_TRANSITION_MIN_S - 1e-12)):
            raise KxciFault(E_SEGMENT, "SSR transition segment < 25 µs")
        prev_v, prev_ssr = sp[-1], ssr[-1]


def windows(ch) -> tuple[int, np.ndarray, np.ndarray]:
    """(spot-mean points, waveform window lengths, how often each is returned) of the whole test."""
    spot, wins, mult = 0, [], []
    for s, loops in ch.wfm:
        q = arrays(ch.seqs[s])
        mt = q["mtype"]
        spot += int(np.count_nonzero((mt == 1) | (mt == 3))) * loops
        wf = (mt == 2) | (mt == 4)
        wins.extend((q["mstop"][wf] - q["mstart"][wf]).tolist())
        mult.extend([loops] * int(wf.sum()))
    return spot, np.array(wins), np.array(mult, np.int64)


def passes(ch, rate_hz: float) -> list[tuple[Pass, int, bool]]:
    """One :class:`Pass` per sequence of the waveform list, each played ``loops`` times.

    Measure types 3 and 4 (spot-mean / waveform *average*) are returned per pass like 1 and 2: how the
    card averages Segment-Arb loops is not in the reference, and the driver counts them per pass."""
    out = []
    for s, loops in ch.wfm:
        q = arrays(ch.seqs[s])
        b = PassBuilder(rate_hz)
        for st, sp, T, mt, ms, me, ssr in zip(*(q[c].tolist() for c in ("start", "stop", "time", "mtype",
                                                                         "mstart", "mstop", "ssr"))):
            win = () if mt == 0 else ((ms, me, KIND_WAVEFORM if mt in (2, 4) else KIND_SPOT, 0),)
            b.segment(st, sp, T, win, connected=bool(ssr))
        out.append((b.build(), int(loops), False))
    return out
