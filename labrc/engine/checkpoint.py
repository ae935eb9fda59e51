"""Checkpoints: where a run can continue, one per committed block, kept beside the run file.

A checkpoint is taken at the end of every block, before the block's rows are appended, and records
the cursor (next block), the plan's carry (the typed values one block hands the next), the run
clock, the rows per stream once the block is stored, and the station's state (the simulator's
clock, devices and random streams; None on hardware). The last :data:`KEEP` are kept, replaced
atomically; whatever point a kill leaves the rows on disk at, :func:`choose` finds the newest
checkpoint at or before it, and the engine re-runs from there, skipping rows already on disk —
on the simulator those are the same rows bit for bit (the station state is restored).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CHECKPOINT_NAME", "KEEP", "Cursor", "choose", "read_all", "write"]

CHECKPOINT_NAME = "run.checkpoint.json"
KEEP = 3


@dataclass
class Cursor:
    """Where the engine starts: block index, the carry into it, the run clock, the rows the block
    starts from (logical) and the rows already on disk (skipped when the block re-runs)."""

    block: int = 0
    carry: dict | None = None
    clock_s: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    disk_rows: dict[str, int] = field(default_factory=dict)
    station: dict | None = None


def write(run_dir: Path, entry: dict) -> None:
    """Add ``entry`` (keyed by its ``block``) and keep the newest :data:`KEEP`; atomic replace.

    Not fsynced: a checkpoint older than the rows on disk is still a valid start (the rows after it
    are skipped, not stored twice), so durability of the newest one is not needed for exactness."""
    path = Path(run_dir) / CHECKPOINT_NAME
    kept = read_all(run_dir)
    kept[int(entry["block"])] = entry
    keep = {str(k): kept[k] for k in sorted(kept)[-KEEP:]}
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(keep, allow_nan=True))   # dumps: the C encoder (json.dump streams in Python)
    os.replace(tmp, path)


def read_all(run_dir: Path) -> dict[int, dict]:
    path = Path(run_dir) / CHECKPOINT_NAME
    try:
        return {int(k): v for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError):
        return {}


def choose(run_dir: Path, disk_rows: dict[str, int]) -> Cursor | None:
    """The newest checkpoint whose rows are all at or below the rows on disk, as a cursor; a fresh
    cursor when nothing is on disk; None when rows are on disk but no checkpoint can continue them."""
    fit = [e for _, e in sorted(read_all(run_dir).items())
           if all(int(n) <= int(disk_rows.get(s, 0)) for s, n in e["rows"].items())]
    if not fit:
        if not any(disk_rows.values()):
            return Cursor(disk_rows=dict(disk_rows))
        return None
    e = fit[-1]
    return Cursor(block=int(e["block"]), carry=e["carry"], clock_s=float(e["clock_s"]),
                  rows={s: int(n) for s, n in e["rows"].items()}, disk_rows=dict(disk_rows),
                  station=e.get("station"))
