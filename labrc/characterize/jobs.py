"""Stored runs of the real protocols, in worker processes: the only way the characterization measures.

A job is a plain dict (it crosses a process boundary): the run's configuration (the die, the device
under the probes, the run folder), the protocol's name, preset and parameters, and a ``tag`` saying which
target it serves. :func:`run_jobs` runs each through :func:`labrc.runner.run_protocol` — the same engine,
stations, store and safe state as ``labrc run`` — and returns the job with the run file, its status,
reason, device failure and the protocol's own summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["failure_cycles", "job", "job_config", "run_jobs", "runs_note", "stream", "tagged"]


def job_config(cfg, preset: str, seed: int, device: int, out_dir: Path) -> dict:
    """The configuration of one run: die ``preset``/``seed`` with ``device`` under the probes, runs in ``out_dir``."""
    d = cfg.to_dict()
    d["instrument"]["backend"] = "sim"
    d["data"]["dir"] = str(out_dir)
    d["sim"].update(preset=preset, seed=int(seed), device=int(device), load="memristor", realtime_factor=0.0,
                    faults={})
    return d


def job(cfg, tag: str, protocol: str, *, preset: str, seed: int, device: int, out_dir: Path,
        proto_preset: str | None = None, **params: Any) -> dict:
    """One run of ``protocol`` (its preset ``proto_preset`` + ``params``) on ``device`` of die ``preset``."""
    return {"tag": tag, "protocol": protocol, "proto_preset": proto_preset, "params": params,
            "die": preset, "device": int(device), "config": job_config(cfg, preset, seed, device, out_dir)}


def protocol_of(j: dict):
    """The protocol object of a job (typed parameters: preset + overrides)."""
    from protocols import get_protocol
    return get_protocol(j["protocol"]).from_options(j["proto_preset"], j["params"])


def validate(jobs: list[dict], limits) -> None:
    """Every job's parameters against the operator limits, before any run (one line naming the protocol)."""
    for j in jobs:
        try:
            protocol_of(j).validate(limits)
        except ValueError as exc:
            raise ValueError(f"characterize: {j['protocol']} ({j['tag']}): {exc}") from None


def _run_job(j: dict) -> dict:
    """One job in this process (a worker): run it, then the protocol's summary of the stored run."""
    from labrc.config import Config
    from labrc.runner import run_protocol
    from labrc.store import RunReader
    cfg = Config.model_validate(j["config"])
    proto = protocol_of(j)
    out = run_protocol(cfg, proto, progress=False, echo=lambda m: None)
    with RunReader(out.path) as r:
        summary = type(proto).summary(r)
    return {**j, "path": str(out.path), "status": out.status, "reason": out.reason, "failure": out.failure,
            "summary": summary}


def run_jobs(jobs: list[dict], workers: int, say: Callable[[str], None] = lambda m: None) -> list[dict]:
    """Run the jobs in ``workers`` processes (spawned: each its own simulated instrument), results in order."""
    if workers <= 1 or len(jobs) <= 1:
        return [_run_job(j) for j in jobs]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    out = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        for k, r in enumerate(ex.map(_run_job, jobs, chunksize=1), 1):
            out.append(r)
            if k % 20 == 0 or k == len(jobs):
                say(f"{k}/{len(jobs)} runs done")
    return out


def tagged(results: list[dict], tag: str) -> list[dict]:
    return [r for r in results if r["tag"] == tag]


def stream(result: dict, name: str) -> dict[str, np.ndarray]:
    """A stream of a job's stored run, read back from its file."""
    from labrc.store import RunReader
    with RunReader(result["path"]) as r:
        return r.stream(name)


def value(result: dict, key: str) -> float:
    """A number from a run's summary (NaN when the run did not produce it)."""
    v = result.get("summary", {}).get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def failure_cycles(results: list[dict]) -> np.ndarray:
    """First failing cycle (1-based count of cycles survived + 1) of each endurance run; NaN: no failure."""
    return np.array([float(r["failure"]["cycle"]) + 1 if r.get("failure") else np.nan for r in results])


def runs_note(results: list[dict]) -> str:
    """The run folders a row comes from, and any run that did not complete."""
    dirs = sorted({Path(r["path"]).parent.name for r in results})
    bad = [f"{Path(r['path']).parent.name}: {r['status']} ({r['reason']})" for r in results
           if r["status"] not in ("completed", "device_failure")]
    text = f"runs: {dirs[0]} … ({len(dirs)} run files)" if len(dirs) > 1 else f"run: {dirs[0]}" if dirs else "no runs"
    return text + (f"; NOT COMPLETED: {'; '.join(bad)}" if bad else "")
