"""The ``labrc`` console command's first instructions: stop handlers before any heavy import.

A Ctrl-C while numpy/h5py/pymeasure import (the first ~0.4 s) used to raise KeyboardInterrupt with a
traceback and exit 1; with the handlers installed first it is an ordinary stop request (exit 130).
"""

from __future__ import annotations

import sys


def main() -> None:
    from .signals import PROCESS_STOP, install
    install(PROCESS_STOP)
    from .cli import main as cli_main
    from .store import StoreError
    try:
        cli_main(standalone_mode=True)
    except KeyboardInterrupt:       # a handler elsewhere restored Python's default: still an abort
        sys.exit(130)
    except StoreError as exc:       # a run file that cannot be read: one line, whichever command met it
        print(f"labrc: error: {exc}", file=sys.stderr)
        sys.exit(2)
