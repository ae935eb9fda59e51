"""Real `labrc` subprocesses and conditions to wait on (rows on disk, handlers installed) — never a sleep
that assumes a machine's speed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from labrc.store import RunReader


def labrc_cmd() -> list[str]:
    exe = shutil.which("labrc")
    return [exe] if exe else [sys.executable, "-m", "labrc"]


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "LABRC_CONFIG"}


def labrc(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(labrc_cmd() + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=_env())


def start(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(labrc_cmd() + list(args), cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until(cond, what: str, timeout_s: float = 120.0, proc: subprocess.Popen | None = None):
    """Poll ``cond()`` until it returns a truthy value; fail naming ``what`` (or the process' early exit)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process exited ({proc.returncode}) before {what}: {err[-2000:]}")
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def rows_on_disk(run_root: Path, stream: str) -> tuple[Path | None, int]:
    files = list(run_root.rglob("run.h5"))
    if not files:
        return None, 0
    try:
        with RunReader(files[0]) as r:
            return files[0], r.n_rows(stream)
    except Exception:  # noqa: BLE001 - the file may be mid-creation
        return files[0], 0


def wait_for_rows(run_root: Path, stream: str, min_rows: int, proc: subprocess.Popen | None = None,
                  timeout_s: float = 120.0) -> Path:
    """Wait until a live run file holds at least ``min_rows`` rows of ``stream`` (read through SWMR)."""
    def cond():
        path, n = rows_on_disk(run_root, stream)
        return path if n >= min_rows else None
    return wait_until(cond, f"{min_rows} rows of {stream!r} on disk", timeout_s, proc)


def handlers_installed(pid: int) -> bool:
    """True once labrc.entry installed its stop handlers: Python alone never catches SIGHUP (bit 0 of
    SigCgt in /proc/<pid>/status), labrc's handlers do. Linux only."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & 1)
    except OSError:
        return False
    return False
