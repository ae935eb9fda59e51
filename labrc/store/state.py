"""run.state.json: who writes a run, how far it got, and whether that writer is still alive."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from .schema import STATE_NAME

def _proc_start(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except Exception:
        return None


def _pid_alive(pid: int, host: str, start: str | None) -> bool:
    """True if the writer process recorded in the state file still runs (same host; guards pid reuse
    and zombies via /proc on Linux). Another host's writer cannot be checked and counts as alive."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        st = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if st[0] in ("Z", "X"):
            return False
        return start is None or st[19] == start
    except OSError:
        return True  # no /proc (Windows/mac): trust kill(0)


def _write_state(path: Path, state: dict, fsync: bool = True) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(state, fh, indent=1)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read_state(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / STATE_NAME).read_text())
    except (OSError, ValueError):
        return None


def _effective_status(state: dict | None, file_status: str | None) -> str:
    if state is not None:
        s = state.get("status", "running")
        if s == "running" and not _pid_alive(state.get("pid", -1), state.get("host", ""), state.get("pid_start")):
            return "interrupted"
        return s
    if file_status in (None, "running"):
        return "interrupted"  # no live writer can be proven without the state file
    return file_status


def _fsync_path(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


