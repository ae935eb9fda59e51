"""Free-space guard of a run writer: the disk reserve it holds back, and the rule that stops writing *before*
the data disk is full (HDF5 does not survive ENOSPC inside a flush: measured, a segfault on a full tmpfs)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

RESERVE_NAME = "run.reserve"       # space held back during the run, released to finalize after a full disk
RESERVE_BYTES = 1 << 20


def _make_reserve(path: Path) -> None:
    """Hold back up to 1 MiB (less on a nearly full disk), released at close so that finalization can
    write status and safe state even when the disk filled up. Best effort: no reserve is no error."""
    try:
        size = int(min(RESERVE_BYTES, shutil.disk_usage(path.parent).free // 8))
        if size <= 0:
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        path.unlink(missing_ok=True)


class _SpaceGuard:
    """The free-space rule of one writer: a block is written only if the data disk still has room for it.

    Needed for a block = the block in the journal + the buffered rows and one more chunk per column in
    HDF5 + ``min_free_bytes`` (room to finalize, for the OS and other runs). Free space is measured at
    every append (statvfs, ~3 µs: 10 ms over a 3,425-burst run), so another program filling the disk is
    seen at the next block, not only when this writer's own bookkeeping says so."""

    def __init__(self, run_dir: Path, min_free_bytes: int) -> None:
        self.run_dir, self.min_free_bytes = run_dir, int(min_free_bytes)

    def shortfall(self, n: int, buffered: int, row_bytes: int, chunk_bytes: int) -> str:
        """Why n more rows (``buffered`` rows then staged, ``row_bytes`` each, one partial chunk per column of
        ``chunk_bytes``) must not be written: "" when they fit (or the disk cannot be measured)."""
        need = n * row_bytes + 20 + buffered * row_bytes + chunk_bytes + self.min_free_bytes
        try:
            free = shutil.disk_usage(self.run_dir).free     # what this user may still write (POSIX and Windows)
        except OSError:
            return ""
        if free < need:
            return (f"disk full: {free / 1e6:.3g} MB free on the data disk, {need / 1e6:.3g} MB needed "
                    f"(data.min_free_bytes={self.min_free_bytes})")
        return ""
