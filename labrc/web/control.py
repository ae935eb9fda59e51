"""Stop a run from the page: exactly the path of Ctrl-C.

Decision (issue 15): the server sends the run's writer process **SIGINT**, the signal Ctrl-C sends, and
nothing else. labrc.signals turns it into a stop request; the run loop stops at the next block boundary,
runs the verified safe shutdown, records "SIGINT received: stopping after the current block" and the safe
state, and the run ends ``aborted`` (exit 130) — the same file, events and exit code as a Ctrl-C at the
terminal, because it *is* that path. A stop-request file polled by the run loop was the alternative; it would
be a second stop path in the loop the lead owns, and a signal needs no write into the run directory (the
server writes nothing there).

Before signalling, the writer must be proven to be that run's: the state file says ``running`` on this host,
the pid is alive with the start time the writer recorded (labrc.store.state._pid_alive: no recycled pid is
ever signalled), and the process catches SIGTERM (/proc/<pid>/status SigCgt) — i.e. it installed labrc's stop
handlers (``labrc run``/``resume``, or ``labrc.run`` from a main thread). A writer without them (the API
called from another thread) would take SIGINT as a KeyboardInterrupt somewhere else: refused, with the reason.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from ..store.state import _pid_alive, _read_state


class StopRefused(Exception):
    """The run cannot be stopped from here; the message says why (HTTP 409)."""


def catches(pid: int, signum: int) -> bool | None:
    """Whether process ``pid`` has a handler for ``signum`` (None: /proc cannot tell)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except (OSError, ValueError):
        return None
    return None


def stop_run(run_dir: Path) -> dict:
    """Send the run's writer SIGINT after proving it is that run's live writer; returns what was done."""
    st = _read_state(run_dir)
    if not st:
        raise StopRefused("no run.state.json: this run has no writer to stop")
    if st.get("status") != "running":
        raise StopRefused(f"the run is {st.get('status')}, not running")
    host, pid, start = st.get("host", ""), int(st.get("pid", -1)), st.get("pid_start")
    if host != socket.gethostname():
        raise StopRefused(f"the run is written on {host!r}, not on this computer: stop it there")
    if pid <= 0 or start is None:
        raise StopRefused("the state file does not identify its writer (pid and start time)")
    if not _pid_alive(pid, host, start):
        raise StopRefused("the writer is no longer alive (the run is interrupted): `labrc resume` or `labrc close`")
    if catches(pid, signal.SIGTERM) is False:
        raise StopRefused(f"the writer (pid {pid}) has no labrc stop handlers (API from a thread?): stop it where "
                          "it runs")
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        raise StopRefused("the writer ended just now") from None
    except PermissionError:
        raise StopRefused(f"not allowed to signal the writer (pid {pid}, another user)") from None
    return {"signal": "SIGINT", "pid": pid,
            "message": "stop requested: the run stops after the current block, then the safe shutdown"}
