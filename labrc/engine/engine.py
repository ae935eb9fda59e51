"""The one engine: executes a protocol's plan against a station, block by block.

It alone owns what every run shares — the plan holds none of it:

* **stop checks** before every message (a list sweep in flight is aborted with ``ME4``); a block
  cut short by a stop is not stored (its checkpoint is the previous block's, so a resume repeats it);
* **seq**: every stored row is numbered here, per stream, continuing across a resume;
* **the run clock**: list timestamps and waits on one instrument-time axis, checkpointed;
* **checkpoints and resume**: after every block (:mod:`labrc.engine.checkpoint`), and on resume the
  restored station state, carry and clock, with the rows already on disk skipped, not stored twice;
* **device failure** (a :class:`DeviceFailed` message) and the end of the run;
* **progress**: a callback with the units and the rows of every committed block.

The sink decides what a committed block becomes: rows in the run file (:class:`StoreSink`) or counts
for a dry run (:class:`PlanSink`, with :class:`labrc.stations.PlanningStation`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checkpoint import Cursor
from .checkpoint import write as write_checkpoint
from .messages import DeviceFailed, Emit, ListSweep, Log, SelectDevice, Sweep, Wait

__all__ = ["BlockStopped", "EngineResult", "PlanSink", "RunEngine", "StoreSink"]


class BlockStopped(Exception):
    """A stop request arrived inside a block: the block is abandoned, nothing of it is stored."""


@dataclass
class EngineResult:
    """How the plan ended: ``stopped`` (a stop request), ``failure`` (a DeviceFailed that ended or was
    recorded), the reason line, and the blocks committed by this engine."""

    stopped: bool = False
    reason: str = ""
    failure: dict | None = None
    blocks: int = 0
    clock_s: float = 0.0


class StoreSink:
    """Committed blocks go to the run file: checkpoint first (with the rows after the block), then the
    rows (the journal makes each append durable); a kill between the two leaves a checkpoint ahead of
    the file, which resume never picks (:func:`labrc.engine.checkpoint.choose`)."""

    planning = False

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def commit(self, entry: dict | None, rows: list[tuple[str, dict]]) -> None:
        if entry is not None:
            self.checkpoint(entry)
        for stream, cols in rows:
            self.writer.append(stream, cols)

    def checkpoint(self, entry: dict) -> None:
        write_checkpoint(self.writer.run_dir, entry)


class PlanSink:
    """A dry run keeps only counts: rows per stream and blocks."""

    planning = True

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.blocks = 0

    def checkpoint(self, entry: dict) -> None:
        pass

    def commit(self, entry: dict | None, rows: list[tuple[str, dict]]) -> None:
        self.blocks += 1
        for stream, cols in rows:
            self.rows[stream] = self.rows.get(stream, 0) + len(next(iter(cols.values())))


@dataclass
class RunEngine:
    """Execute ``protocol`` on ``station``; ``log(message, level)`` is the run's event log,
    ``on_block(units, block)`` the progress callback, ``between_blocks()`` runs after every commit
    (the runner writes signal events there)."""

    protocol: Any
    station: Any
    sink: Any
    stop: Callable[[], bool]
    log: Callable[..., None]
    on_block: Callable[[int, dict], None] | None = None
    between_blocks: Callable[[], None] | None = None
    clock_s: float = field(default=0.0, init=False)

    def run(self, cursor: Cursor | None = None, only: list[int] | None = None) -> EngineResult:
        """Execute the blocks from the cursor on (``only``: just these block indices — a pre-flight)."""
        cur = cursor or Cursor()
        proto = self.protocol
        blocks = proto.blocks()
        carry = dict(cur.carry) if cur.carry is not None else dict(proto.initial_carry())
        rows = {s: int(cur.rows.get(s, 0)) for s in proto.schema()}
        disk = {s: int(cur.disk_rows.get(s, rows[s])) for s in rows}
        self.clock_s = float(cur.clock_s)
        out = EngineResult()
        order = list(only) if only is not None else range(cur.block, len(blocks))
        last_index = order[-1] if len(order) else -1
        # A checkpoint after every block would cost more than the block on a fast station (the simulator's
        # snapshot is tens of kB of JSON); any checkpoint at or before the rows on disk resumes exactly
        # (the rows after it are re-measured identically and skipped), so the station says how often:
        # every block on hardware (no snapshot, nothing to re-measure identically), at most every
        # ``checkpoint_interval_s`` of host time on the simulator, and always after the last block and
        # before a clean stop or a failure end.
        interval = float(getattr(self.station, "checkpoint_interval_s", 0.0))
        last_ckpt = -float("inf")
        pending: dict | None = None          # the newest committed block's checkpoint, not yet written
        for index in order:
            if self.stop():
                out.stopped = True
                break
            try:
                carry, emitted, failed = self._run_block(blocks[index], carry)
            except BlockStopped:
                out.stopped = True
                pending = None               # the station moved on inside the block: the last written one stands
                self.log(f"block {index} stopped before its end: its measurements are not stored; "
                         "a resume repeats it from its start", "warning")
                break
            committed = self._number(emitted, rows, disk)
            json.dumps(carry)                 # a carry must be plain values (it is the resume record)
            pending = {"block": index + 1, "carry": carry, "clock_s": self.clock_s, "rows": dict(rows)}
            due = not self.sink.planning and (index == last_index or time.monotonic() - last_ckpt >= interval)
            if due:
                pending["station"] = self.station.snapshot()
                last_ckpt = time.monotonic()
            self.sink.commit(pending if due else None, committed)
            pending = None if due else pending
            out.blocks += 1
            if self.on_block is not None and committed:
                self.on_block(max(len(next(iter(c.values()))) for _, c in committed), dict(committed))
            if self.between_blocks is not None:
                self.between_blocks()
            if failed is not None and out.failure is None:
                out.failure, out.reason = dict(failed.info), failed.reason
                if failed.end:
                    break
                out.reason += "; the run continued (stop_on_failure=false)"
                self.log(out.reason, "warning")
        if pending is not None:              # the station is still as the last committed block left it
            pending["station"] = self.station.snapshot()
            self.sink.checkpoint(pending)
        out.clock_s = self.clock_s
        return out

    # -- one block ---------------------------------------------------------------------------------
    def _run_block(self, spec: Any, carry: dict) -> tuple[dict, list[Emit], DeviceFailed | None]:
        gen = self.protocol.block(spec, dict(carry))
        emitted: list[Emit] = []
        failed: DeviceFailed | None = None
        reply: Any = None
        while True:
            if self.stop():
                gen.close()
                raise BlockStopped
            try:
                msg = gen.send(reply)
            except StopIteration as done:
                return dict(done.value or {}), emitted, failed
            reply = None
            if isinstance(msg, ListSweep):
                reply = self._sweep(msg)
            elif isinstance(msg, Emit):
                emitted.append(msg)
            elif isinstance(msg, Wait):
                self.station.wait(float(msg.duration_s), self.stop)
                self.clock_s += max(float(msg.duration_s), 0.0)
            elif isinstance(msg, SelectDevice):
                self.station.select_device(int(msg.index))
            elif isinstance(msg, Log):
                if not self.sink.planning:
                    self.log(msg.message, msg.level)
            elif isinstance(msg, DeviceFailed):
                if not self.sink.planning and failed is None:   # a dry run plans the whole run
                    failed = msg
            else:
                gen.close()
                raise TypeError(f"{type(self.protocol).__name__} yielded {msg!r}, not a plan message")

    def _sweep(self, msg: ListSweep) -> Sweep:
        t0, wall = self.clock_s, time.time()
        r = self.station.list_sweep(msg, self.stop)
        last = float(r.t_s[-1]) if len(r.v_set_v) and "T" in msg.fetch else math.nan
        self.clock_s = t0 + (last if math.isfinite(last) else msg.nominal_s)
        return Sweep(r.v_set_v, r.v_meas_v, r.i_meas_a, t0 + r.t_s, r.status, t0, self.clock_s, wall)

    # -- numbering ---------------------------------------------------------------------------------
    def _number(self, emitted: list[Emit], rows: dict[str, int], disk: dict[str, int]) -> list[tuple[str, dict]]:
        """Give each emitted row its ``seq`` (per stream, from the rows before it) and drop rows a killed
        attempt at this block already stored (resume); merge a stream's emits of one block."""
        by_stream: dict[str, list[dict]] = {}
        for e in emitted:
            if e.stream not in rows:
                raise KeyError(f"{type(self.protocol).__name__} emitted stream {e.stream!r}, not in its schema")
            if "seq" in e.columns:
                raise ValueError(f"stream {e.stream!r}: seq is numbered by the engine, not the plan")
            lens = {len(np.asarray(v)) for v in e.columns.values()}
            if len(lens) != 1:
                raise ValueError(f"stream {e.stream!r}: columns of unequal length {sorted(lens)}")
            n = lens.pop()
            start = rows[e.stream]
            rows[e.stream] = start + n
            skip = min(max(disk.get(e.stream, 0) - start, 0), n)
            if skip == n:
                continue
            cols = {"seq": np.arange(start + skip, start + n, dtype=np.int64)}
            cols.update({k: np.asarray(v)[skip:] for k, v in e.columns.items()})
            by_stream.setdefault(e.stream, []).append(cols)
        out = []
        for stream, parts in by_stream.items():
            if len(parts) == 1:
                out.append((stream, parts[0]))
            else:
                out.append((stream, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}))
        return out
