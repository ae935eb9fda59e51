"""The one run loop: validate → connect → create the run file → blocks → safe state → final status.

Every protocol runs through :func:`run_protocol`, so stop requests (Ctrl-C, SIGTERM), flushing,
the verified safe state and the run status live here once. A first Ctrl-C or SIGTERM asks the
protocol to stop at the next block boundary (a running sweep is aborted with ``ME4``); further
signals during the safe shutdown are recorded but never skip it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from instruments.keithley4200 import InstrumentAborted, Keithley4200
from protocols.base import Protocol, RunContext

from . import __version__
from .config import Config, ConfigError, check_wiring, connect_error, run_identity
from .humanize import format_duration
from .signals import StopFlag, active, install, restore
from .store import RunWriter

__all__ = ["StopFlag", "RunOutcome", "Station", "StoppedBeforeStart", "connect", "run_protocol", "resume_run"]


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


@dataclass
class Station:
    """An opened instrument: the driver, the backend record for provenance, and — on the simulator
    only — its chassis, whose clock and device states the run loop checkpoints and advances."""

    instr: Keithley4200
    backend: dict
    core: Any = None


def connect(cfg: Config) -> Station:
    """Open the configured instrument (real through VISA, or the embedded simulator)."""
    backend: dict[str, Any] = {"kind": cfg.instrument.backend}
    core = None
    if cfg.instrument.backend == "sim":
        from sim_backend.library import LabrcSimLibrary
        lib = LabrcSimLibrary.create(cfg.sim_config())
        visa_library: Any = lib
        core = lib.instrument
        die = core.die
        backend.update(sim=lib.config.to_dict(),
                       model=die.describe() if hasattr(die, "describe") else getattr(die, "params", {}))
    else:
        visa_library = cfg.instrument.visa_library
    try:   # no library, a bad resource name, a closed port, no answer to *OPT?: one line, exit 2, nothing sourced
        instr = Keithley4200(cfg.instrument.resource, visa_library=visa_library,
                             timeout=int(cfg.instrument.timeout_s * 1000))
    except Exception as exc:  # noqa: BLE001 - labrc.config.connect_error names the key to fix
        raise connect_error(exc, cfg.instrument) from exc
    try:   # the wiring against the SMUs the instrument reports (*OPT?), before any voltage
        check_wiring(cfg.instrument, instr.smu_limits)
    except ConfigError:
        instr.adapter.close()
        raise
    return Station(instr, backend, core)


def software_info() -> dict:
    import h5py
    import numpy
    import pymeasure
    import pyvisa
    return {"labrc": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "h5py": h5py.__version__, "pymeasure": pymeasure.__version__, "pyvisa": pyvisa.__version__,
            "host": platform.node()}


CHECKPOINT_NAME = "run.sim_state.json"
TRANSCRIPT_NAME = "transcript.jsonl"


def sim_snapshot(core) -> dict:
    """Everything that makes the simulated instrument's future: clock, every device's state and RNG."""
    die = core.die
    if die is None:
        devices = []
    elif hasattr(die, "device"):   # only devices that were under the probes can have changed
        devices = {str(k): die.device(k).get_state() for k in sorted(core.touched)}
    else:
        devices = {"0": die.get_state()}
    # the SMU outputs too: they stay at a list's last point (a retention wait runs with them applied)
    smus = {str(n): dataclasses.asdict(s) for n, s in getattr(core, "smus", {}).items()}
    return {"clock_s": core.clock_s, "devices": devices, "device_index": core.config.device_index,
            "open_load": core.open_load.get_state(), "smus": smus}


def sim_restore(core, snap: dict) -> None:
    die = core.die
    if die is not None and hasattr(die, "device"):
        for k, st in snap["devices"].items():
            die.device(int(k)).set_state(st)
        core.touched.update(int(k) for k in snap["devices"])
        core.config.device_index = int(snap.get("device_index", core.config.device_index))
    elif die is not None:
        die.set_state(snap["devices"]["0"])
    core.open_load.set_state(snap["open_load"])
    core.clock_s = float(snap["clock_s"])
    for n, st in snap.get("smus", {}).items():
        if int(n) in getattr(core, "smus", {}):
            for k, v in st.items():
                setattr(core.smus[int(n)], k, v)


def _write_checkpoint(run_dir: Path, block: int, snap: dict) -> None:
    """Keep the simulator state after the last two blocks (atomic replace): whichever block the
    data on disk ends with after a crash, its state is here."""
    path = run_dir / CHECKPOINT_NAME
    keep = {}
    if path.exists():
        try:
            keep = {k: v for k, v in json.loads(path.read_text()).items() if int(k) == block - 1}
        except (ValueError, OSError):
            keep = {}
    keep[str(block)] = snap
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(keep, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read_checkpoint(run_dir: Path, block: int, rows: dict[str, int]) -> tuple[int, dict | None]:
    """The kept checkpoint taken when the file held exactly ``rows`` (``block`` preferred), as (key, snap).

    A checkpoint records the rows on disk after its block, so a resume restores the state of the rows it
    continues from, never a neighbour's — also when blocks were split by a stop inside a block and the
    block count on disk is not the plan's. Checkpoints without rows (older runs) match by key only."""
    path = run_dir / CHECKPOINT_NAME
    try:
        kept = {int(k): v for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError):
        return block, None
    match = [k for k, v in kept.items()
             if ({s: v["rows"].get(s, 0) for s in rows} == rows if "rows" in v else k == block)]
    if not match:
        return block, None
    key = block if block in match else max(match)
    return key, kept[key]


def _rows_after(writer: RunWriter, block: dict[str, dict]) -> dict[str, int]:
    """Rows per stream once ``block`` is appended (what a checkpoint of this block must match at resume)."""
    rows = writer.n_rows()
    for stream, cols in block.items():
        rows[stream] = rows.get(stream, 0) + len(next(iter(cols.values())))
    return rows


def run_label(identity: dict) -> str:
    """``<sample>_<device>`` (or the device alone) in ASCII letters, digits and ``._-``: the run directory's
    device part and /entry/device. The exact names are in metadata["run"]."""
    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")
    return "_".join(x for x in (clean(identity.get("sample", "")), clean(identity.get("device", ""))) if x) or "unnamed"


def _metadata(cfg: Config, protocol: Protocol, plan, instr: Keithley4200, backend: dict,
              identity: dict | None = None) -> dict:
    return {
        "run": identity or run_identity(cfg)[0],   # sample, device, operator, note, die_position (labrc.config)
        "protocol": protocol.name, "parameters": dataclasses.asdict(protocol.params),
        "plan": dataclasses.asdict(plan), "config": cfg.to_dict(),
        "instrument": {"idn": instr.idn, "options": instr.options, "resource": cfg.instrument.resource,
                       "framing": instr.framing, "driver": "instruments.keithley4200.Keithley4200"},
        "backend": backend, "software": software_info(),
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
    instr, backend = station.instr, station.backend
    identity, warning = run_identity(cfg)      # the simulator's die index or "unnamed" (+ warning) on hardware
    if warning:
        echo(warning)
    try:
        meta = _metadata(cfg, protocol, plan, instr, backend, identity)
        clash = set(metadata or {}) & set(meta)
        if clash:
            raise ValueError(f"metadata keys {sorted(clash)} are the runner's own")
        writer = RunWriter.create(cfg.data_dir, protocol.run_type, run_label(identity), protocol.schema(),
                                  {**meta, **(metadata or {})},
                                  flush_interval_s=cfg.data.flush_interval_s, flush_rows=cfg.data.flush_rows,
                                  min_free_bytes=cfg.data.min_free_bytes)
    except BaseException:
        instr.shutdown()
        raise
    if cfg.instrument.transcript:
        instr.start_transcript(writer.run_dir / TRANSCRIPT_NAME)
    echo(f"run: {writer.run_dir}")
    echo(f"ETA {format_duration(plan.eta_s)} (instrument time): {plan.n_points:,} {protocol.progress_unit} "
         f"in {plan.n_blocks:,} block{'' if plan.n_blocks == 1 else 's'}")
    return _execute(cfg, protocol, plan, station, writer, {"start_block": 0}, progress, stop, echo)


def resume_run(run_dir: Path, *, progress: bool = True, stop: StopFlag | None = None,
               echo: Callable[[str], None] = print) -> RunOutcome:
    """Continue an interrupted (or aborted/failed) run in the same file, from the last committed block.

    The configuration and parameters are the run's own (from its metadata). On the simulator the
    instrument state and RNGs are restored from the checkpoint of that block, so the resumed run
    equals an uninterrupted one; on hardware the device is what it is, and the resume is recorded.
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
    # for writing: rebuild from the journal, then ask the protocol where it continues.
    recover(run_dir)
    with RunReader(run_dir) as r:
        point = protocol.resume_point({s: r.n_rows(s) for s in r.schema}, {s: r.last_row(s) for s in r.schema})
    station = connect(cfg)
    instr = station.instr
    try:
        writer = RunWriter.resume(run_dir, reason="resume", flush_interval_s=cfg.data.flush_interval_s,
                                  flush_rows=cfg.data.flush_rows, min_free_bytes=cfg.data.min_free_bytes,
                                  recovered=True)
    except BaseException:
        instr.shutdown()
        raise
    if cfg.instrument.transcript:
        instr.start_transcript(run_dir / TRANSCRIPT_NAME)
    core = station.core
    k = int(point["start_block"])
    # the rows the protocol continues from (it may ignore a partly written block of a second stream)
    rows = {s: int(n) for s, n in (point.get("rows") or writer.n_rows()).items()}
    if core is not None:
        key, snap = _read_checkpoint(run_dir, k - 1, rows)
        if snap is not None:
            sim_restore(core, snap)
            point["checkpoint_key"] = key + 1      # new checkpoints continue the restored one's keys
            writer.event(f"resume at block {k}: simulator state restored from checkpoint {key} (rows {rows})")
        elif any(rows.values()):
            writer.event(f"resume at block {k}: no simulator checkpoint for the rows on disk {rows}; device "
                         "state not restored, the resumed run is not the uninterrupted one", "warning")
    else:
        writer.event(f"resume at block {k} on hardware: the device state is whatever it is now", "warning")
    rows = ", ".join(f"{n:,} {s}" for s, n in writer.n_rows().items() if n)
    echo(f"resuming {run_dir.name} at block {k} of {plan.n_blocks} ({rows or 'no rows'} on disk)")
    return _execute(cfg, protocol, plan, station, writer, point, progress, stop, echo)


def _execute(cfg: Config, protocol: Protocol, plan, station: Station, writer: RunWriter, point: dict,
             progress: bool, stop: StopFlag, echo: Callable[[str], None]) -> RunOutcome:
    """The loop every run shares: blocks → store (+ simulator checkpoints), stop checks, safe state, status.

    Signals only set ``stop`` (labrc.signals); this loop writes their events between blocks. Handlers
    installed here (API use from the main thread) are restored at the end; the CLI's stay until exit.
    """
    instr, core = station.instr, station.core
    own = install(stop) if active() is not stop else {}
    log = _Logger(writer, echo)
    status, reason = "completed", ""
    bar = None
    ctx = None
    try:
        start = int(point.get("start_block", 0))
        key0 = int(point.get("checkpoint_key", start))   # checkpoint key of the first new block
        if progress:
            from tqdm import tqdm
            done = sum(writer.n_rows().values())
            # no bar when stderr is not a terminal (a log file would fill with \r fragments); the last
            # state of the bar stays on screen; the unit and the live figure are the protocol's
            bar = tqdm(total=plan.n_points, initial=min(done, plan.n_points), unit=f" {protocol.progress_unit}",
                       delay=1.0, desc=protocol.name, leave=True, disable=not _is_tty(sys.stderr))
        ctx = RunContext(instr, cfg.instrument.top_smu, cfg.instrument.ground_smu, stop, log,
                         start_block=start, resume=point, wait=_waiter(core, stop),
                         select_device=_device_selector(core, cfg),
                         n_devices=core.config.n_devices if core is not None and hasattr(core.die, "device") else 1)
        log.signals(stop)
        for i, block in enumerate(protocol.execute(ctx)):
            if core is not None:
                _write_checkpoint(writer.run_dir, key0 + i, {**sim_snapshot(core), "rows": _rows_after(writer, block)})
            n = 0
            for stream, cols in block.items():
                writer.append(stream, cols)
                n = max(n, len(next(iter(cols.values()))))
            if bar is not None:
                _bar_update(bar, protocol, block, n)
            log.signals(stop)
        if stop():
            status, reason = "aborted", stop.reason
        elif ctx.end_reason:
            reason = ctx.end_reason
            if ctx.failure is not None:
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
        failure = ctx.failure if ctx is not None and status == "device_failure" else None
        from .notify import notify_run_end      # [notify]: command/URLs; outcomes become events; never raises
        notify_run_end(cfg, writer.run_dir, status, reason, safe, failure, log)
        writer.close(status, reason, safe_state=safe, attachments=attachments, failure=failure)
        if writer.close_error:
            echo(f"labrc: the run file could not be finalized ({writer.close_error}); "
                 f"its journal is complete: `labrc close` or `labrc resume` {writer.run_dir.name} once fixed")
        try:
            instr.adapter.close()
        except Exception:  # noqa: BLE001
            pass
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


def _waiter(core, stop: StopFlag) -> Callable[[float], None]:
    """``wait(t)``: on hardware sleep ``t`` s of host time (stop requests end it early); on the simulator
    advance its virtual clock by ``t`` with the present outputs applied (the device relaxes or drifts)."""
    if core is not None:
        return core.advance

    def sleep(t: float) -> None:
        end = time.monotonic() + float(t)
        while not stop() and time.monotonic() < end:
            time.sleep(min(0.2, max(end - time.monotonic(), 0.0)))
    return sleep


def _device_selector(core, cfg: Config) -> Callable[[int], None]:
    """On the simulator, put device k of the die under the probes; on hardware refuse any other device."""
    from protocols.base import ParameterError

    def select(k: int) -> None:
        if core is not None and hasattr(core.die, "device"):
            if not 0 <= k < core.config.n_devices:
                raise ParameterError(f"device {k} is not on the die (0..{core.config.n_devices - 1})")
            core.config.device_index = int(k)
        elif k != cfg.sim.device and core is None:
            raise ParameterError(f"device {k}: on hardware the probes stay on one device per run; "
                                 "run the campaign once per device")
    return select


def _safe_shutdown(instr: Keithley4200, log: Callable[..., None]) -> dict:
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
