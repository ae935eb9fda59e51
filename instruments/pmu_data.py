"""4225-PMU Segment-Arb data: segments, sequences, channel set-ups, plans, measured data and their text.

The plain values the PMU driver (:mod:`instruments.pmu`) validates, sends and parses: what a
Segment-Arb waveform is (KXCI-E p. 7-40 … 7-56), and the ``:PMU:DATA:GET`` reply format (p. 7-38:
points separated by ``;``, fields by ``,``, an 8-hex-digit status word per point; reference §4.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence as TSequence

import numpy as np

from .limits import PMU_SAMPLE_RATE_DEFAULT_HZ, PMU_SARB_TIME_RES_S, PMU_SARB_VALUES_PER_COMMAND, LimitError, fmt_num

__all__ = ["Segment", "SarbSequence", "ChannelSetup", "SarbPlan", "PmuData", "parse_pmu_data", "decode_status",
           "fmt_time"]

_GRID_TOL = 1e-3   # fraction of 10 ns tolerated when checking that a time is on the grid


# ------------------------------------------------------------------------------------ data classes
@dataclass(frozen=True)
class Segment:
    """One Segment-Arb segment: a linear ramp ``start_v → stop_v`` over ``duration_s`` (KXCI-E p. 7-40).

    ``meas_type``: 0 none, 1 spot-mean discrete, 2 waveform discrete, 3 spot-mean average, 4 waveform
    average; the window ``meas_start_s … meas_stop_s`` is measured from the segment start (p. 7-52).
    """

    start_v: float
    stop_v: float
    duration_s: float
    meas_type: int = 0
    meas_start_s: float = 0.0
    meas_stop_s: float = 0.0


@dataclass
class SarbSequence:
    """A sequence of segments as column arrays (vectorized validation and formatting)."""

    start_v: np.ndarray
    stop_v: np.ndarray
    time_s: np.ndarray
    meas_type: np.ndarray
    meas_start_s: np.ndarray
    meas_stop_s: np.ndarray

    @classmethod
    def from_segments(cls, segments: Iterable[Segment]) -> "SarbSequence":
        segs = list(segments)
        col = lambda name, dt=np.float64: np.array([getattr(s, name) for s in segs], dtype=dt)  # noqa: E731
        return cls(col("start_v"), col("stop_v"), col("duration_s"), col("meas_type", np.int64),
                   col("meas_start_s"), col("meas_stop_s"))

    def __len__(self) -> int:
        return int(self.start_v.size)

    @property
    def duration_s(self) -> float:
        return float(self.time_s.sum())

    @property
    def measured(self) -> np.ndarray:
        return self.meas_type != 0

    def points_per_pass(self, sample_rate_hz: float = PMU_SAMPLE_RATE_DEFAULT_HZ) -> int:
        """Points one pass of this sequence returns: 1 per spot-mean segment, window × rate per waveform
        segment (types 2 and 4 are counted at the sample rate: the conservative estimate)."""
        sm = int(np.count_nonzero((self.meas_type == 1) | (self.meas_type == 3)))
        wf = (self.meas_type == 2) | (self.meas_type == 4)
        n_wf = np.ceil((self.meas_stop_s[wf] - self.meas_start_s[wf]) * sample_rate_hz - 1e-9)
        return sm + int(n_wf.sum())


@dataclass
class ChannelSetup:
    """What one PMU channel does in a Segment-Arb test."""

    channel: int
    sequences: dict[int, SarbSequence]
    waveform: list[tuple[int, int]]          # [(sequence number, loops), ...] in play order
    range_v: float = 10.0
    i_range_a: float = 10e-3
    load_ohm: float = 1e6
    rpm: bool = True


@dataclass
class SarbPlan:
    """A validated Segment-Arb test: its exact command stream and what it will return."""

    commands: list[str]
    channels: list[int]
    measured_channels: list[int]
    points: dict[int, int]              # expected points per channel
    duration_s: float                   # instrument time of the waveform (+10 ns tail)


@dataclass
class PmuData:
    """One channel's data as numpy blocks: V, I, timestamps, raw status words (uint32)."""

    v_v: np.ndarray
    i_a: np.ndarray
    t_s: np.ndarray
    status: np.ndarray
    flags: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.flags = decode_status(self.status)

    def __len__(self) -> int:
        return int(self.v_v.size)

    @property
    def overflow(self) -> np.ndarray:
        """Any over-range flag (digit F: −V, +V, −I, +I)."""
        return self.flags["overflow"] != 0


# ------------------------------------------------------------------------------------ formatting
def fmt_time(t_s: float, name: str = "time_s") -> str:
    """A time on the 10 ns grid, exact, in ≤ 12 characters (``5E-03`` style when it is exact, else fixed
    8-decimal notation, which holds every grid value up to 1 s)."""
    ticks = round(float(t_s) / PMU_SARB_TIME_RES_S)
    if ticks == 0:
        return "0"
    short = fmt_num(ticks * PMU_SARB_TIME_RES_S, name)
    if round(float(short) / PMU_SARB_TIME_RES_S) == ticks:
        return short
    text = f"{ticks * PMU_SARB_TIME_RES_S:.8f}".rstrip("0").rstrip(".")
    if len(text) > 12:
        raise LimitError(f"{name}={t_s!r} does not fit the 12-character KXCI numeric field")
    return text


def _chunks(values: TSequence[str], n: int = PMU_SARB_VALUES_PER_COMMAND) -> list[list[str]]:
    return [list(values[k:k + n]) for k in range(0, len(values), n)] or [[]]


# ------------------------------------------------------------------------------------ parsing
_HEX = np.full(256, 255, np.uint8)
for _k, _c in enumerate(b"0123456789ABCDEF"):
    _HEX[_c] = _k
for _k, _c in enumerate(b"abcdef"):
    _HEX[_c] = 10 + _k


def decode_status(words: np.ndarray) -> dict[str, np.ndarray]:
    """Split 8-hex-digit status words ``ABCDEFGH`` into their digits (REF-C p. 6-78; LPT-D pulse_fetch).

    ``llec`` A (0 off, 1 failed, 3 ok, +4 sweep skipped), ``rpm`` B (0 none, 1 RPM, 2-4 bypass),
    ``meas`` D (1 spot mean, 2 waveform), ``threshold`` E (1 source compliance, 2 I, 4 V, 8 power),
    ``overflow`` F (1 −V, 2 +V, 4 −I, 8 +I), ``i_range`` G (0 100 nA … 7 800 mA),
    ``v_range`` H (1 ch1 10 V, 2 ch2 10 V, 5 ch1 40 V, 6 ch2 40 V).
    """
    w = np.asarray(words, dtype=np.uint32)
    d = lambda k: ((w >> np.uint32(4 * (7 - k))) & np.uint32(0xF)).astype(np.uint8)  # noqa: E731
    return {"llec": d(0), "rpm": d(1), "meas": d(3), "threshold": d(4), "overflow": d(5),
            "i_range": d(6), "v_range": d(7)}


def parse_pmu_data(reply: str | bytes, n_fields: int = 4) -> tuple[np.ndarray, ...]:
    """Parse a ``:PMU:DATA:GET`` reply: points separated by ``;``, values by ``,`` (KXCI-E p. 7-38).

    Returns ``(v, i, t, status)`` for the default ``V,I,T,S`` fields: three float64 arrays and the
    status words as uint32 (8 hex digits, decoded by :func:`decode_status`). One split of the whole
    block, C-level ``float`` conversion per column, status words decoded as one byte matrix (a
    vectorized byte-level number parser was measured slower on this class of machine). An empty reply
    gives empty arrays; a malformed one raises ``ValueError``.
    """
    text = reply.decode("ascii") if isinstance(reply, (bytes, bytearray)) else reply
    text = text.strip(" \r\n\0;")
    if not text:
        e = np.empty(0)
        return e, e.copy(), e.copy(), np.empty(0, np.uint32)
    vals = text.replace(";", ",").split(",")
    if len(vals) % n_fields or text.count(";") != len(vals) // n_fields - 1:
        raise ValueError(f"PMU data points do not all hold {n_fields} values: {text[:60]!r}")
    npts = len(vals) // n_fields
    cols = tuple(np.fromiter(map(float, vals[k::n_fields]), np.float64, npts) for k in range(n_fields - 1))
    words = [w.strip() for w in vals[n_fields - 1::n_fields]]
    raw = "".join(words).encode("ascii")
    if len(raw) == 8 * npts:
        hx = _HEX[np.frombuffer(raw, np.uint8).reshape(npts, 8)]
        if np.any(hx == 255):
            raise ValueError(f"PMU status word is not 8 hex digits: {text[:60]!r}")
        status = (hx.astype(np.uint32) << (np.uint32(4) * np.arange(7, -1, -1, dtype=np.uint32))).sum(
            axis=1, dtype=np.uint32)
    else:
        status = np.array([int(w, 16) for w in words], dtype=np.uint32)
    return (*cols, status)


# ------------------------------------------------------------------------------------ the driver
