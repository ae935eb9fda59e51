"""The ``labrc`` console command's first instructions: stop handlers before any heavy import.

A Ctrl-C while numpy/h5py/pymeasure import (the first ~0.4 s) used to raise KeyboardInterrupt with a
traceback and exit 1; with the handlers installed first it is an ordinary stop request (exit 130).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from .signals import PROCESS_STOP, STOP_SIGNALS, install
    install(PROCESS_STOP)
    try:
        _main()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    import signal
    if signal.getsignal(STOP_SIGNALS[-1]) in (signal.SIG_DFL, signal.default_int_handler, None) \
            or not hasattr(signal, "pthread_sigmask"):
        sys.exit(code)              # a command that gave the defaults back (ls, watch, ...), or not POSIX
    # A run/resume keeps labrc's handlers to the end. Python's finalization would put SIG_DFL back while
    # helper threads may still take a process signal — measured: a SIGINT in that window turned exit 130
    # into -2. Everything is closed and on disk by now: block the signals, flush, and leave at once.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _main() -> None:
    from .cli import main as cli_main
    from .store import StoreError
    try:
        cli_main(standalone_mode=True)
    except KeyboardInterrupt:       # a handler elsewhere restored Python's default: still an abort
        sys.exit(130)
    except StoreError as exc:       # a run file that cannot be read: one line, whichever command met it
        print(f"labrc: error: {exc}", file=sys.stderr)
        sys.exit(2)
