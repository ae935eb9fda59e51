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
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from instruments.keithley4200 import InstrumentAborted, Keithley4200
from protocols.base import Protocol, RunContext

from . import __version__
from .config import Config
from .store import RunWriter


class StopFlag:
    """Set by signal handlers or a caller; checked by protocols between blocks and while polling."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self.count = 0

    def set(self, reason: str) -> None:
        self.count += 1
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()


@dataclass
class RunOutcome:
    path: Path
    status: str
    reason: str
    safe_state: dict


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
    instr = Keithley4200(cfg.instrument.resource, visa_library=visa_library,
                         timeout=int(cfg.instrument.timeout_s * 1000))
    return Station(instr, backend, core)


def software_info() -> dict:
    import h5py
    import numpy
    import pymeasure
    import pyvisa
    return {"labrc": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "h5py": h5py.__version__, "pymeasure": pymeasure.__version__, "pyvisa": pyvisa.__version__,
            "host": platform.node()}


def _install_signals(stop: StopFlag, log: Callable[[str], None]) -> dict:
    old: dict = {}
    if threading.current_thread() is not threading.main_thread():
        return old

    def handler(signum, _frame):
        name = signal.Signals(signum).name
        first = stop.count == 0
        stop.set(f"{name} (operator stop)")
        try:   # a signal handler must never raise: it would interrupt the safe shutdown
            log(f"{name} received: stopping after the current block, then safe shutdown" if first
                else f"{name} received again: safe shutdown continues (it is never skipped)")
        except Exception:  # noqa: BLE001 - e.g. the run file is already closed
            pass

    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, handler)
    return old


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
    return {"clock_s": core.clock_s, "devices": devices, "device_index": core.config.device_index,
            "open_load": core.open_load.get_state()}


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


def _read_checkpoint(run_dir: Path, block: int) -> dict | None:
    path = run_dir / CHECKPOINT_NAME
    if not path.exists():
        return None
    return json.loads(path.read_text()).get(str(block))


def _metadata(cfg: Config, protocol: Protocol, plan, instr: Keithley4200, backend: dict) -> dict:
    return {
        "protocol": protocol.name, "parameters": dataclasses.asdict(protocol.params),
        "plan": dataclasses.asdict(plan), "config": cfg.to_dict(),
        "instrument": {"idn": instr.idn, "options": instr.options, "resource": cfg.instrument.resource,
                       "framing": instr.framing, "driver": "instruments.keithley4200.Keithley4200"},
        "backend": backend, "software": software_info(),
    }


def run_protocol(cfg: Config, protocol: Protocol, *, progress: bool = True,
                 stop: StopFlag | None = None, echo: Callable[[str], None] = print) -> RunOutcome:
    """Run ``protocol`` on the configured instrument and stream it to a new run file."""
    protocol.validate(cfg.limits)                 # refuse before any command and before any file
    plan = protocol.plan()
    station = connect(cfg)
    instr, backend = station.instr, station.backend
    device = f"D{cfg.sim.device:02d}" if cfg.instrument.backend == "sim" else "dut"
    try:
        writer = RunWriter.create(cfg.data_dir, protocol.run_type, device, protocol.schema(),
                                  _metadata(cfg, protocol, plan, instr, backend),
                                  flush_interval_s=cfg.data.flush_interval_s, flush_rows=cfg.data.flush_rows)
    except BaseException:
        instr.shutdown()
        raise
    if cfg.instrument.transcript:
        instr.start_transcript(writer.run_dir / TRANSCRIPT_NAME)
    return _execute(cfg, protocol, plan, station, writer, {"start_block": 0}, progress, stop, echo)


def resume_run(run_dir: Path, *, progress: bool = True, stop: StopFlag | None = None,
               echo: Callable[[str], None] = print) -> RunOutcome:
    """Continue an interrupted (or aborted/failed) run in the same file, from the last committed block.

    The configuration and parameters are the run's own (from its metadata). On the simulator the
    instrument state and RNGs are restored from the checkpoint of that block, so the resumed run
    equals an uninterrupted one; on hardware the device is what it is, and the resume is recorded.
    """
    from protocols import get_protocol

    from .store import RunReader, StoreError
    run_dir = Path(run_dir)
    run_dir = run_dir.parent if run_dir.is_file() else run_dir
    with RunReader(run_dir) as r:
        meta, status = r.metadata, r.status
    if status in ("running", "completed", "device_failure"):
        raise StoreError(f"{run_dir.name} is {status}; only interrupted, aborted or failed runs resume")
    cfg = Config.model_validate(meta["config"])
    cls = get_protocol(meta["protocol"])
    protocol = cls(cls.Params(**meta["parameters"]))
    protocol.validate(cfg.limits)
    plan = protocol.plan()
    station = connect(cfg)
    instr = station.instr
    try:
        writer = RunWriter.resume(run_dir, reason="resume", flush_interval_s=cfg.data.flush_interval_s,
                                  flush_rows=cfg.data.flush_rows)
    except BaseException:
        instr.shutdown()
        raise
    if cfg.instrument.transcript:
        instr.start_transcript(run_dir / TRANSCRIPT_NAME)
    point = protocol.resume_point(writer.n_rows(), {s: writer.last_row(s) for s in protocol.schema()})
    core = station.core
    k = int(point["start_block"])
    if core is not None:
        snap = _read_checkpoint(run_dir, k - 1) if k > 0 else None
        if snap is not None:
            sim_restore(core, snap)
            writer.event(f"resume at block {k}: simulator state restored from checkpoint {k - 1}")
        elif k > 0:
            writer.event(f"resume at block {k}: no simulator checkpoint; device state not restored", "warning")
    else:
        writer.event(f"resume at block {k} on hardware: the device state is whatever it is now", "warning")
    echo(f"resuming {run_dir.name} at block {k} of {plan.n_blocks}")
    return _execute(cfg, protocol, plan, station, writer, point, progress, stop, echo)


def _execute(cfg: Config, protocol: Protocol, plan, station: Station, writer: RunWriter, point: dict,
             progress: bool, stop: StopFlag | None, echo: Callable[[str], None]) -> RunOutcome:
    """The loop every run shares: blocks → store (+ simulator checkpoints), stop checks, safe state, status."""
    stop = stop or StopFlag()
    instr, core = station.instr, station.core
    log = writer.event
    old = _install_signals(stop, lambda m: (echo(m), log(m, "warning")))
    status, reason = "completed", ""
    bar = None
    try:
        start = int(point.get("start_block", 0))
        if progress:
            from tqdm import tqdm
            done = sum(writer.n_rows().values())
            bar = tqdm(total=plan.n_points, initial=min(done, plan.n_points), unit="pt", delay=1.0,
                       desc=protocol.name, leave=False)
        ctx = RunContext(instr, cfg.instrument.top_smu, cfg.instrument.ground_smu, stop, log,
                         start_block=start, resume=point, wait=_waiter(core, stop),
                         select_device=_device_selector(core, cfg),
                         n_devices=core.config.n_devices if core is not None and hasattr(core.die, "device") else 1)
        for i, block in enumerate(protocol.execute(ctx)):
            if core is not None:
                _write_checkpoint(writer.run_dir, start + i, sim_snapshot(core))
            n = 0
            for stream, cols in block.items():
                writer.append(stream, cols)
                n = max(n, len(next(iter(cols.values()))))
            if bar is not None:
                bar.update(n)
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
        safe = _safe_shutdown(instr, log)
        rec = instr.stop_transcript()
        attachments = None
        if rec is not None and rec.path is not None:
            from instruments.transcript import transcript_arrays
            attachments = {"transcript": transcript_arrays(rec.path)}
        writer.close(status, reason, safe_state=safe, attachments=attachments)
        for sig, h in old.items():
            signal.signal(sig, h)
        try:
            instr.adapter.close()
        except Exception:  # noqa: BLE001
            pass
    return RunOutcome(writer.path, status, reason, safe)


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
    safe = instr.shutdown()
    safe["duration_s"] = round(time.monotonic() - t0, 4)
    if not safe.get("ok"):
        log(f"safe state NOT verified: {safe.get('errors')}", "error")
    else:
        log("safe state verified: all SMUs read back 0 V and are off; PMU outputs off")
    return safe
