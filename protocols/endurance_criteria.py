"""Endurance failure criteria and bookkeeping of values across bursts, as pure numpy functions.

Per-cycle failure codes (stuck ON / stuck OFF / ON/OFF collapse), the early-life ON/OFF reference,
consecutive failing-cycle runs, log-spaced detail cycles and bounded-memory running statistics. Every
value one burst hands the next is exact and plain (the endurance carry, stored in checkpoints), so a
resumed or split run computes the same columns bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FAIL_NONE", "FAIL_STUCK_ON", "FAIL_STUCK_OFF", "FAIL_LOW_ON_OFF", "FAIL_NAMES", "detail_cycles",
           "classify", "early_reference", "run_lengths", "RunningStats"]

FAIL_NONE, FAIL_STUCK_ON, FAIL_STUCK_OFF, FAIL_LOW_ON_OFF = 0, 1, 2, 3
FAIL_NAMES = {FAIL_STUCK_ON: "stuck ON", FAIL_STUCK_OFF: "stuck OFF", FAIL_LOW_ON_OFF: "ON/OFF collapse"}


def detail_cycles(n_cycles: int, n_detail: int) -> np.ndarray:
    """Log-spaced cycle indices (0, 1, 2, … 10ᵏ …) where the full trace is kept."""
    if n_detail <= 0:
        return np.empty(0, np.int64)
    return np.unique(np.round(np.geomspace(1, n_cycles, n_detail)).astype(np.int64) - 1)


def classify(stuck_on: np.ndarray, stuck_off: np.ndarray, collapsed: np.ndarray) -> np.ndarray:
    """Per-cycle failure code: 0 ok, else why this cycle did not switch (stuck ON before stuck OFF before
    collapse: a cycle whose OFF state is lost is stuck ON whatever its write did). The codes of the later
    criteria are written first, so an earlier one overwrites them (``np.select``'s order, without its cost)."""
    code = np.zeros(np.shape(stuck_on), np.uint8)
    code[collapsed] = FAIL_LOW_ON_OFF
    code[stuck_off] = FAIL_STUCK_OFF
    code[stuck_on] = FAIL_STUCK_ON
    return code


def early_reference(on_off: np.ndarray, first_cycle: int, ref_prev: float, ref_cycles: int) -> np.ndarray:
    """Early-life ON/OFF reference at each cycle of a burst: the geometric mean over cycles
    0 … min(c, ref_cycles − 1), continued from ``ref_prev`` (the last row's value).

    Computed by one recurrence per cycle (at most ``ref_cycles`` of them in a whole run), so the value
    carried between bursts is exactly the stored one: a run resumed at any burst, or split by a stop,
    gives the same reference bit for bit."""
    ref = np.empty(on_off.size, np.float64)
    m = max(0, min(on_off.size, ref_cycles - first_cycle))
    if m == 0:                                       # the reference is complete: constant from here on
        ref.fill(ref_prev)
        return ref
    r = ref_prev
    for j in range(m):
        k = first_cycle + j                          # cycles already in the reference
        x = math.log(max(float(on_off[j]), 1e-300))
        r = math.exp(x) if k == 0 else math.exp((math.log(r) * k + x) / (k + 1))
        ref[j] = r
    ref[m:] = r
    return ref


def run_lengths(bad: np.ndarray, carry: int) -> np.ndarray:
    """Consecutive failing cycles up to and including each cycle, continuing ``carry`` from the last burst."""
    if not bad.any():                                # a healthy burst: every run is 0 (the carry ends here)
        return np.zeros(bad.size, np.int64)
    idx = np.arange(bad.size)
    last_good = np.maximum.accumulate(np.where(~bad, idx, -1))
    runs = idx - last_good
    head = int(np.argmin(bad)) if not bad.all() else bad.size       # the first good cycle
    runs[:head] += carry
    return np.where(bad, runs, 0).astype(np.int64)


class RunningStats:
    """Bounded-memory running statistics of the run's cycles: count, minimum, failing cycles and the
    median ON/OFF of the burst that crossed the last power of ten; a log line whenever the cycle count passes 10ᵏ. Its state is part
    of the endurance carry (a resumed run logs what the uninterrupted one would)."""

    def __init__(self) -> None:
        self.n, self.n_bad, self.min, self.median_recent = 0, 0, math.inf, math.nan
        self._decade = -1

    def state(self) -> dict:
        return {"n": self.n, "n_bad": self.n_bad, "min": self.min, "median_recent": self.median_recent,
                "decade": self._decade}

    @classmethod
    def from_state(cls, d: dict) -> RunningStats:
        out = cls()
        out.n, out.n_bad, out.min, out.median_recent = int(d["n"]), int(d["n_bad"]), float(d["min"]), float(d["median_recent"])
        out._decade = int(d["decade"])
        return out

    def add(self, on_off: np.ndarray, fail: np.ndarray) -> bool:
        """Add a burst; True when the total crossed a power of ten (time to log a line)."""
        if not on_off.size:
            return False
        self.n += on_off.size
        self.n_bad += int(np.count_nonzero(fail != FAIL_NONE))
        self.min = min(self.min, float(np.fmin.reduce(on_off)))     # nanmin's value (NaN only if all are)
        d = int(math.log10(self.n))
        crossed, self._decade = d > self._decade, max(d, self._decade)
        if crossed:     # only the logged line shows it (a median per burst was 0.5 s of 2×10⁶ cycles)
            self.median_recent = float(np.nanmedian(on_off))
        return crossed
