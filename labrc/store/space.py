"""Free-space guard of a run writer: the disk reserve it holds back, and the rule that stops writing *before*
the data disk is full (HDF5 does not survive ENOSPC inside a flush: measured, a segfault on a full tmpfs)."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

RESERVE_NAME = "run.reserve"       # space held back during the run, released to finalize after a full disk
RESERVE_BYTES = 1 << 20
SPACE_CHECK_S = 0.1                # free space measured again at least this often while appending
_H5_META_BYTES = 64 << 10          # upper bound of HDF5 metadata (chunk index, headers) one flush adds per stream
_EVENT_H5_BYTES = 256 * (8 + 16 + 256)  # an event may allocate a whole /entry/events chunk (256 rows)


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
    """Free-space bookkeeping of one writer between two measurements of the data disk.

    Needed for a block = the block in the journal + the buffered rows and one more chunk per column in
    HDF5 + ``min_free_bytes`` (room to finalize, for the OS and other runs).

    When the free space is measured (statvfs, ~5 µs, which was every append): the first append, then
    whenever our own writes since the last measurement could have used half of the headroom it found
    (free − need), and at least every ``SPACE_CHECK_S``. "Our own writes" is an upper bound, counted in
    ``spent`` by the writer: every journal frame, every HDF5 flush (its rows + one partial chunk per column +
    ``_H5_META_BYTES`` of metadata), every event (+ a whole events chunk). Between two measurements the
    disk therefore still has ≥ need + half the old headroom unless *other* programs wrote that half
    within SPACE_CHECK_S; with little headroom left the measurements come ever closer (the headroom
    halves each time), so the last block before a full disk is still refused before its bytes."""

    def __init__(self, run_dir: Path, min_free_bytes: int) -> None:
        self.run_dir, self.min_free_bytes = run_dir, int(min_free_bytes)
        self.at = -SPACE_CHECK_S      # monotonic time of the last measurement (none yet)
        self.free = 0                 # bytes free then
        self.slack = 0                # half the headroom then: what our own writes may use unmeasured
        self.spent = 0                # upper bound of the bytes this writer wrote since then

    def shortfall(self, n: int, buffered: int, row_bytes: int, chunk_bytes: int) -> str:
        """Why n more rows (``buffered`` rows then staged, ``row_bytes`` each, one partial chunk per column of
        ``chunk_bytes``) must not be written: "" when they fit (or the disk cannot be measured)."""
        need = n * row_bytes + 20 + buffered * row_bytes + chunk_bytes + self.min_free_bytes
        now = time.monotonic()
        if now - self.at < SPACE_CHECK_S and self.free - self.spent - need >= self.slack:
            return ""
        try:
            free = shutil.disk_usage(self.run_dir).free     # what this user may still write (POSIX and Windows)
        except OSError:
            return ""
        self.at, self.free, self.spent = now, free, 0
        self.slack = max(0, free - need) // 2
        if free < need:
            return (f"disk full: {free / 1e6:.3g} MB free on the data disk, {need / 1e6:.3g} MB needed "
                    f"(data.min_free_bytes={self.min_free_bytes})")
        return ""
