"""Runs: validate → connect a station → create the run file → the engine → safe state → final status.

Every protocol runs through :func:`run_protocol` (new run), :func:`resume_run` (same file, from the
last checkpoint) or :func:`plan_run` (the dry run against the planning station); the engine
(:mod:`labrc.engine.engine`) executes the plan and this module owns what surrounds it once: the
run file and its metadata, stop handlers, the verified safe state, notifications, compaction. A
first Ctrl-C or SIGTERM stops the plan before its next message (a running sweep is aborted with
``ME4``); further signals during the safe shutdown are recorded but never skip it.
"""

from __future__ import annotations

import dataclasses
import platform
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instruments.keithley4200 import InstrumentAborted
from protocols.base import Protocol

from . import __version__
from .config import Config, run_identity
from .engine import checkpoint
from .engine.engine import RunEngine, StoreSink
from .humanize import format_duration
from .signals import StopFlag, active, install, restore
from .planning import PlanReport, check_station, plan_run
from .stations import Station, connect
from .store import RunWriter

__all__ = [
    "PlanReport",
    "RunOutcome",
    "Station",
    "StopFlag",
    "StoppedBeforeStart",
    "connect",
    "plan_run",
    "resume_run",
    "run_protocol",
]


class StoppedBeforeStart(Exception):
    """A stop request (Ctrl-C, SIGTERM, SIGHUP) arrived before any instrument command: no run was made."""


@dataclass
class RunOutcome:
    """How a run ended: its file, final status (labrc.outcome), reason, safe-state record, device failure."""

    path: Path
    status: str
    reason: str
    safe_state: dict
    failure: dict | None = None


def software_info() -> dict:
    import h5py
    import numpy
    import pymeasure
    import pyvisa
    return {"labrc": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "h5py": h5py.__version__, "pymeasure": pymeasure.__version__, "pyvisa": pyvisa.__version__,
            "host": platform.node()}


TRANSCRIPT_NAME = "transcript.jsonl"


def run_label(identity: dict) -> str:
    """``<sample>_<device>`` (or the device alone) in ASCII letters, digits and ``._-``: the run directory's
    device part and /entry/device. The exact names are in metadata["run"]."""
    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")
    return "_".join(x for x in (clean(identity.get("sample", "")), clean(identity.get("device", ""))) if x) or "unnamed"


def _metadata(cfg: Config, protocol: Protocol, plan, station: Station, identity: dict | None = None) -> dict:
    instr = station.instr
    return {
        "run": identity or run_identity(cfg)[0],   # sample, device, operator, note, die_position (labrc.config)
        "protocol": protocol.name, "parameters": dataclasses.asdict(protocol.params),
        "plan": dataclasses.asdict(plan), "config": cfg.to_dict(),
        "instrument": {"idn": instr.idn, "options": instr.options, "resource": cfg.instrument.resource,
                       "framing": instr.framing, "driver": "instruments.keithley4200.Keithley4200"},
        "backend": station.backend, "station": station.kind, "software": software_info(),
    }


def run_protocol(cfg: Config, protocol: Protocol, *, progress: bool = True,
                 stop: StopFlag | None = None, echo: Callable[[str], None] = print,
                 metadata: dict | None = None) -> RunOutcome:
    """Run ``protocol`` on the configured instrument and stream it to a new run file.

    ``metadata``: extra top-level keys for the run's provenance (e.g. ``replay_of``); they cannot
    replace the keys the runner writes."""
    protocol.validate(cfg.limits)                 # refuse before any command and before any file
    plan = protocol.plan()
    stop = stop or active() or StopFlag()
    if stop():
        raise StoppedBeforeStart(f"{stop.reason}: stopped before any instrument command; no run was made")
    station = connect(cfg)
    identity, warning = run_identity(cfg)      # the simulator's die index or "unnamed" (+ warning) on hardware
    try:
        check_station(cfg, protocol, station)
        if warning:
            echo(warning)
        meta = _metadata(cfg, protocol, plan, station, identity)
        clash = set(metadata or {}) & set(meta)
        if clash:
            raise ValueError(f"metadata keys {sorted(clash)} are the runner's own")
        writer = RunWriter.create(cfg.data_dir, protocol.run_type, run_label(identity), protocol.schema(),
                                  {**meta, **(metadata or {})},
                                  flush_interval_s=cfg.data.flush_interval_s, flush_rows=cfg.data.flush_rows,
                                  min_free_bytes=cfg.data.min_free_bytes)
    except BaseException:
        station.instr.shutdown()
        station.close()
        raise
    if cfg.instrument.transcript:
        station.instr.start_transcript(writer.run_dir / TRANSCRIPT_NAME)
    echo(f"run: {writer.run_dir}")
    echo(f"ETA {format_duration(plan.eta_s)} (instrument time): {plan.n_points:,} {protocol.progress_unit} "
         f"in {plan.n_blocks:,} block{'' if plan.n_blocks == 1 else 's'}")
    return _execute(cfg, protocol, plan, station, writer, checkpoint.Cursor(), progress, stop, echo)


def resume_run(run_dir: Path, *, progress: bool = True, stop: StopFlag | None = None,
               echo: Callable[[str], None] = print) -> RunOutcome:
    """Continue an interrupted (or aborted/failed) run in the same file, from its last checkpoint.

    The configuration and parameters are the run's own (from its metadata). The engine continues at
    the newest checkpoint the rows on disk reach, with its carry and run clock; on the simulator the
    instrument state and random streams are restored too, so the resumed run equals an uninterrupted
    one; on hardware the device is what it is, and the resume is recorded.
    """
    from protocols import get_protocol

    from .store import RunReader, StoreError, is_compacted, recover
    run_dir = Path(run_dir)
    run_dir = run_dir.parent if run_dir.is_file() else run_dir
    try:
        with RunReader(run_dir) as r:
            meta, status = r.metadata, r.status
    except StoreError:                       # a damaged run.h5: the journal is the record, rebuild from it
        if not (run_dir / "run.journal").exists():
            raise
        recover(run_dir)
        with RunReader(run_dir) as r:
            meta, status = r.metadata, r.status
    if status in ("running", "completed", "device_failure"):
        raise StoreError(f"{run_dir.name} is {status}; only interrupted, aborted or failed runs resume")
    if is_compacted(run_dir / "run.h5"):
        raise StoreError(f"{run_dir.name} was compacted (its journal is gone): nothing to resume")
    cfg = Config.model_validate(meta["config"])
    cls = get_protocol(meta["protocol"])
    protocol = cls(cls.Params(**meta["parameters"]))
    protocol.validate(cfg.limits)
    plan = protocol.plan()
    stop = stop or active() or StopFlag()
    if stop():
        raise StoppedBeforeStart(f"{stop.reason}: stopped before any instrument command; {run_dir.name} unchanged")
    # Everything that can refuse happens before the instrument is opened and before the file is reopened
    # for writing: rebuild from the journal, then find the checkpoint the rows on disk continue from.
    recover(run_dir)
    with RunReader(run_dir) as r:
        disk = {s: r.n_rows(s) for s in r.schema}
    cursor = checkpoint.choose(run_dir, disk)
    if cursor is None:
        raise StoreError(f"{run_dir.name}: no checkpoint matches the rows on disk {disk}; it cannot be resumed "
                         "exactly (the run file itself is complete: `labrc close` ends it)")
    station = connect(cfg)
    try:
        check_station(cfg, protocol, station)
        writer = RunWriter.resume(run_dir, reason="resume", flush_interval_s=cfg.data.flush_interval_s,
                                  flush_rows=cfg.data.flush_rows, min_free_bytes=cfg.data.min_free_bytes,
                                  recovered=True)
    except BaseException:
        station.instr.shutdown()
        station.close()
        raise
    if cfg.instrument.transcript:
        station.instr.start_transcript(run_dir / TRANSCRIPT_NAME)
    k = cursor.block
    ahead = {s: n - cursor.rows.get(s, 0) for s, n in disk.items() if n > cursor.rows.get(s, 0)}
    if cursor.station is not None and station.kind == "sim":
        station.restore(cursor.station)
        writer.event(f"resume at block {k}: station state restored from its checkpoint (rows {cursor.rows})"
                     + (f"; rows already on disk from the interrupted block are kept, not stored twice: {ahead}"
                        if ahead else ""))
    elif k > 0:
        writer.event(f"resume at block {k} on {station.kind}: the device state is whatever it is now"
                     + (f"; rows of the interrupted block already on disk are kept: {ahead}" if ahead else ""),
                     "warning")
    rows = ", ".join(f"{n:,} {s}" for s, n in disk.items() if n)
    echo(f"resuming {run_dir.name} at block {k} of {plan.n_blocks} ({rows or 'no rows'} on disk)")
    return _execute(cfg, protocol, plan, station, writer, cursor, progress, stop, echo)


def _execute(cfg: Config, protocol: Protocol, plan, station: Station, writer: RunWriter,
             cursor: checkpoint.Cursor, progress: bool, stop: StopFlag, echo: Callable[[str], None]) -> RunOutcome:
    """What every run shares around the engine: progress, signal events, safe state, status, notify, close.

    Signals only set ``stop`` (labrc.signals); the engine's between-blocks hook writes their events.
    Handlers installed here (API use from the main thread) are restored at the end; the CLI's stay
    until exit.
    """
    instr = station.instr
    own = install(stop) if active() is not stop else {}
    log = _Logger(writer, echo)
    status, reason, failure = "completed", "", None
    bar = None
    try:
        if progress:
            from tqdm import tqdm
            done = sum(writer.n_rows().values())
            # no bar when stderr is not a terminal (a log file would fill with \r fragments); the last
            # state of the bar stays on screen; the unit and the live figure are the protocol's
            bar = tqdm(total=plan.n_points, initial=min(done, plan.n_points), unit=f" {protocol.progress_unit}",
                       delay=1.0, desc=protocol.name, leave=True, disable=not _is_tty(sys.stderr))
        log.signals(stop)
        engine = RunEngine(protocol, station, StoreSink(writer), stop=stop, log=log,
                           on_block=(lambda n, block: _bar_update(bar, protocol, block, n)) if bar is not None else None,
                           between_blocks=lambda: log.signals(stop))
        result = engine.run(cursor)
        if result.stopped or stop():
            status, reason = "aborted", stop.reason or "stopped"
        elif result.failure is not None:
            reason, failure = result.reason, result.failure
            status = "device_failure"
            log(reason, "warning")
    except InstrumentAborted:
        status, reason = "aborted", stop.reason or "test aborted"
    except KeyboardInterrupt:
        status, reason = "aborted", "KeyboardInterrupt"
    except Exception as exc:  # noqa: BLE001 - recorded as the run's failure
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        log(reason, "error")
    finally:
        if bar is not None:
            bar.close()
        log.signals(stop)
        safe = _safe_shutdown(instr, log)
        rec = instr.stop_transcript()
        attachments = None
        if rec is not None and rec.path is not None and not writer.broken:
            from instruments.transcript import transcript_arrays
            attachments = {"transcript": transcript_arrays(rec.path)}
        log.signals(stop)
        failure = failure if status == "device_failure" else None
        from .notify import (
            notify_run_end,  # [notify]: command/URLs; outcomes become events; never raises
        )
        notify_run_end(cfg, writer.run_dir, status, reason, safe, failure, log)
        writer.close(status, reason, safe_state=safe, attachments=attachments, failure=failure)
        if writer.close_error:
            echo(f"labrc: the run file could not be finalized ({writer.close_error}); "
                 f"its journal is complete: `labrc close` or `labrc resume` {writer.run_dir.name} once fixed")
        station.close()
        if cfg.data.compact and status in ("completed", "device_failure") and not writer.close_error:
            _compact(writer.run_dir, echo)
        restore(own)
    return RunOutcome(writer.path, status, reason, safe, failure)


def _compact(run_dir: Path, echo: Callable[[str], None]) -> None:
    """After a verified finish: the compressed, verified copy replaces run.h5 and the journal goes
    (labrc.store.compact; kill-safe at every step). A compaction that cannot run leaves the run complete,
    uncompressed, with its journal — it is reported, never a run failure."""
    from .store import StoreError, compact_run
    try:
        info = compact_run(run_dir)
    except StoreError as exc:
        echo(f"compaction skipped: {exc}")
        return
    if info.get("compacted"):
        (run_dir / checkpoint.CHECKPOINT_NAME).unlink(missing_ok=True)   # nothing resumes a compacted run
        echo(f"compacted: {info['bytes_before'] / 1e6:.1f} MB -> {info['bytes_after'] / 1e6:.1f} MB in "
             f"{info['seconds']:.1f} s (verified against the journal; journal removed)")


class _Logger:
    """The run's event log as the protocols and the loop see it: to the run file while it can take
    events, and to the operator (stderr) for warnings, errors and anything the file can no longer take."""

    def __init__(self, writer: RunWriter, echo: Callable[[str], None]) -> None:
        self.writer, self.echo = writer, echo
        self._stops = 0

    def __call__(self, message: str, level: str = "info") -> None:
        if level != "info":
            self.echo(message)
        try:
            self.writer.event(message, level)
        except Exception:  # noqa: BLE001 - the file is closed or its disk is full: the operator still sees it
            if level == "info":
                self.echo(message)

    def signals(self, stop: StopFlag) -> None:
        """Write the events of signals received since the last call (from the main loop, never a handler)."""
        for name in stop.pending():
            self._stops += 1
            self(f"{name} received: stopping after the current block, then safe shutdown" if self._stops == 1
                 else f"{name} received again: safe shutdown continues (it is never skipped)", "warning")


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _bar_update(bar, protocol: Protocol, block: dict, n: int) -> None:
    """Advance the bar by ``n`` units and show the protocol's live figure of this block (never fatal)."""
    try:
        figure = protocol.live_figure(block)
    except Exception:  # noqa: BLE001 - a figure that cannot be computed is not shown; the run goes on
        figure = ""
    if figure:
        bar.set_postfix_str(figure, refresh=False)
    bar.update(n)


def _safe_shutdown(instr: Any, log: Callable[..., None]) -> dict:
    t0 = time.monotonic()
    try:
        safe = instr.shutdown()
    except Exception as exc:  # noqa: BLE001 - a shutdown that raises has verified nothing
        safe = {"ok": False, "errors": [f"shutdown raised {type(exc).__name__}: {exc}"]}
    safe["duration_s"] = round(time.monotonic() - t0, 4)
    if not safe.get("ok"):
        log(f"safe state NOT verified: {safe.get('errors')}", "error")
    else:
        log(f"safe state verified: {_safe_summary(safe)}")
    return safe


def _safe_summary(safe: dict) -> str:
    """What the shutdown record says was verified, without claiming more (TV reads SMU1–4 only; the
    PMU is listed only when this session used it)."""
    smus = safe.get("smu") or {}
    read = [f"SMU{n}" for n, e in smus.items() if e.get("v_readback_v") is not None]
    unread = [f"SMU{n}" for n, e in smus.items() if e.get("v_readback_v") is None]
    parts = [f"{', '.join(read)} read back 0 V and off" if read else "",
             f"{', '.join(unread)} off (no read-back)" if unread else "",
             "PMU outputs off" if safe.get("pmu") else ""]
    return "; ".join(p for p in parts if p)
