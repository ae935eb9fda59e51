"""The one run loop: validate → connect → create the run file → blocks → safe state → final status.

Every protocol runs through :func:`run_protocol`, so stop requests (Ctrl-C, SIGTERM), flushing,
the verified safe state and the run status live here once. A first Ctrl-C or SIGTERM asks the
protocol to stop at the next block boundary (a running sweep is aborted with ``ME4``); further
signals during the safe shutdown are recorded but never skip it.
"""

from __future__ import annotations

import dataclasses
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


def connect(cfg: Config) -> tuple[Keithley4200, dict]:
    """Open the configured instrument (real through VISA, or the embedded simulator)."""
    backend: dict[str, Any] = {"kind": cfg.instrument.backend}
    if cfg.instrument.backend == "sim":
        from sim_backend.library import LabrcSimLibrary
        lib = LabrcSimLibrary.create(cfg.sim_config())
        visa_library: Any = lib
        die = lib.instrument.die
        backend.update(sim=lib.config.to_dict(),
                       model=die.describe() if hasattr(die, "describe") else getattr(die, "params", {}))
    else:
        visa_library = cfg.instrument.visa_library
    instr = Keithley4200(cfg.instrument.resource, visa_library=visa_library,
                         timeout=int(cfg.instrument.timeout_s * 1000))
    return instr, backend


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
        if stop.count == 0:
            log(f"{name} received: stopping after the current block, then safe shutdown")
        else:
            log(f"{name} received again: safe shutdown continues (it is never skipped)")
        stop.set(f"{name} (operator stop)")

    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, handler)
    return old


def run_protocol(cfg: Config, protocol: Protocol, *, progress: bool = True,
                 stop: StopFlag | None = None, echo: Callable[[str], None] = print) -> RunOutcome:
    """Run ``protocol`` on the configured instrument and stream it to a new run file."""
    protocol.validate(cfg.limits)                 # refuse before any command and before any file
    plan = protocol.plan()
    stop = stop or StopFlag()
    instr, backend = connect(cfg)
    device = f"D{cfg.sim.device:02d}" if cfg.instrument.backend == "sim" else "dut"
    metadata = {
        "protocol": protocol.name, "parameters": dataclasses.asdict(protocol.params),
        "plan": dataclasses.asdict(plan), "config": cfg.to_dict(),
        "instrument": {"idn": instr.idn, "options": instr.options, "resource": cfg.instrument.resource,
                       "framing": instr.framing, "driver": "instruments.keithley4200.Keithley4200"},
        "backend": backend, "software": software_info(),
    }
    writer = RunWriter.create(cfg.data_dir, protocol.run_type, device, protocol.schema(), metadata,
                              flush_interval_s=cfg.data.flush_interval_s, flush_rows=cfg.data.flush_rows)
    log = writer.event
    old = _install_signals(stop, lambda m: (echo(m), log(m, "warning")))
    status, reason = "completed", ""
    bar = None
    try:
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=plan.n_points, unit="pt", delay=1.0, desc=protocol.name, leave=False)
        ctx = RunContext(instr, cfg.instrument.top_smu, cfg.instrument.ground_smu, stop, log)
        for block in protocol.execute(ctx):
            n = 0
            for stream, cols in block.items():
                writer.append(stream, cols)
                n = max(n, len(next(iter(cols.values()))))
            if bar is not None:
                bar.update(n)
        if stop():
            status, reason = "aborted", stop.reason
    except InstrumentAborted:
        status, reason = "aborted", stop.reason or "test aborted"
    except KeyboardInterrupt:
        status, reason = "aborted", "KeyboardInterrupt"
    except Exception as exc:  # noqa: BLE001 - recorded as the run's failure, then re-raised
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        log(reason, "error")
    finally:
        if bar is not None:
            bar.close()
        safe = _safe_shutdown(instr, log)
        writer.close(status, reason, safe_state=safe)
        for sig, h in old.items():
            signal.signal(sig, h)
        try:
            instr.adapter.close()
        except Exception:  # noqa: BLE001
            pass
    return RunOutcome(writer.path, status, reason, safe)


def _safe_shutdown(instr: Keithley4200, log: Callable[..., None]) -> dict:
    t0 = time.monotonic()
    safe = instr.shutdown()
    safe["duration_s"] = round(time.monotonic() - t0, 4)
    if not safe.get("ok"):
        log(f"safe state NOT verified: {safe.get('errors')}", "error")
    else:
        log("safe state verified: all SMUs read back 0 V and are off; PMU outputs off")
    return safe
