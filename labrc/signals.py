"""Stop requests from signals: a handler sets a flag and records the signal, nothing else.

Why nothing else: a signal handler runs between two bytecodes of whatever the main thread is doing —
possibly in the middle of an HDF5 append. A handler that logs to the run file re-enters the writer
and corrupts it (measured: duplicate and misaligned rows after two SIGINTs 2–10 ms apart). So the
handler only counts; the run loop writes the "SIGINT received" events itself, between blocks.

The ``labrc`` command installs the handlers as its very first action (:mod:`labrc.entry`) and keeps
them until the process exits, so a signal at any moment — during imports, during the safe shutdown,
during finalization — is a stop request, never a KeyboardInterrupt and never a kill. SIGHUP (the
operator's terminal closed) is treated like SIGTERM.
"""

from __future__ import annotations

import signal
import threading
import time

STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


class StopFlag:
    """Set by signal handlers or a caller; checked by the run loop between blocks and by the driver while
    it polls a running test. ``pending()`` hands the received signals to the main loop for logging."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self.count = 0
        self._received: list[tuple[float, str]] = []   # list.append is atomic: safe inside a handler
        self._logged = 0

    def set(self, reason: str) -> None:
        self.count += 1
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()

    def note_signal(self, name: str) -> None:
        """Called from a signal handler: record and set, no I/O."""
        self._received.append((time.monotonic(), name))
        self.set(f"{name} (operator stop)")

    def pending(self) -> list[str]:
        """Signals received since the last call (for the run loop to log), oldest first."""
        new = self._received[self._logged:]
        self._logged += len(new)
        return [name for _, name in new]


PROCESS_STOP = StopFlag()   # the labrc command's flag: set by its handlers from the first instant


_active: list[StopFlag] = []   # the flag the installed handlers feed (innermost last)


def install(stop: StopFlag) -> dict:
    """Route SIGINT/SIGTERM/SIGHUP to ``stop``; returns the previous handlers (main thread only, else {})."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum, _frame) -> None:
        stop.note_signal(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    _active.append(stop)
    return old


def restore(old: dict) -> None:
    """Put back the handlers ``install`` replaced."""
    if not old:
        return
    for s, h in old.items():
        signal.signal(s, h)
    if _active:
        _active.pop()


def active() -> StopFlag | None:
    """The flag the current handlers feed (e.g. the CLI's), or None when labrc installed none."""
    return _active[-1] if _active else None
