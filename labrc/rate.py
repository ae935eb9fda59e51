"""Units per second of a growing run file, as ``labrc watch`` and ``labrc serve`` show it."""

from __future__ import annotations

from collections import deque

__all__ = ["RateMeter"]


class RateMeter:
    """Units per second over a sliding window of the count's *changes*.

    The file grows in steps, one per flush (data.flush_interval_s), so the difference of two refreshes
    alternates between 0 and a whole flush (measured before: 0 and 4,014 rows/s for a run doing ~1,850
    cycles/s). Timing between the first and the last change seen within the window measures whole
    flush periods instead; no change for ``stall_s`` gives 0 (the run stalled or waits)."""

    def __init__(self, window_s: float, stall_s: float) -> None:
        self.window_s, self.stall_s = float(window_s), float(stall_s)
        self._changes: deque[tuple[float, int]] = deque()

    def add(self, t: float, n: int) -> None:
        if not self._changes or n != self._changes[-1][1]:
            self._changes.append((t, n))
        while len(self._changes) > 2 and t - self._changes[1][0] > self.window_s:
            self._changes.popleft()

    def rate(self, t: float) -> float | None:
        """None until two changes were seen; 0.0 once nothing changed for ``stall_s``."""
        if len(self._changes) < 2:
            return None
        (t0, n0), (t1, n1) = self._changes[0], self._changes[-1]
        if t - t1 > self.stall_s:
            return 0.0
        return (n1 - n0) / max(t1 - t0, 1e-9)
