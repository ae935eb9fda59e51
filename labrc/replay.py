"""Re-run a recorded run on the simulator: same protocol, parameters and configuration, new run file.

``labrc replay RUN [--seed N] [--device K]`` reads what the run's provenance holds (``metadata["protocol"]``,
``metadata["parameters"]``, ``metadata["config"]``), forces ``instrument.backend = "sim"`` and runs the same
plan through the one run loop (:mod:`labrc.runner`), so validation, the store, the verified safe state and
the status are the ones every run has. The new file's ``metadata["replay_of"]`` is the original's run id
(``labrc show`` prints it).

What is replayed, and what is not:

* the simulator section is the run's own ``[sim]`` (preset, seed, device, die size, load, cards, faults):
  a simulated run replayed with its own seed and device is the same run again — bit for bit in every
  measured column, because each run starts from a fresh die and the simulator's clock is virtual
  (tests/test_replay.py checks every column); ``--seed``/``--device`` pick another die/device of the family;
* a hardware run replays on the simulator with the ``[sim]`` section its configuration carried (the
  device under the probes was a real one: the replay is the model's answer to the same plan, not a copy);
* where the new file goes, and how it is flushed, is the *current* configuration's ``[data]`` section
  (the original's data.dir may be on another machine); the identity (``[run]``) is the original's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .config import Config, ConfigError, _format_error
from .store import RunReader, StoreError

__all__ = ["ReplayError", "read_provenance", "replay_config", "replay_run"]


class ReplayError(StoreError):
    """A run file whose provenance cannot be replayed (one line naming what is missing)."""


def read_provenance(run: Path | str) -> dict[str, Any]:
    """Run id, protocol, parameters, configuration and backend of a run file (ReplayError if any is missing).

    A truncated, foreign or newer-layout file is refused by :class:`~labrc.store.RunReader` with one line."""
    with RunReader(run) as r:
        meta, run_id, path = r.metadata, r.run_id, r.path
    missing = [k for k, typ in (("protocol", str), ("parameters", dict), ("config", dict))
               if not isinstance(meta.get(k), typ)]
    if missing:
        raise ReplayError(f"{path}: the run's metadata has no {', '.join(missing)}: it cannot be replayed")
    return {"run_id": run_id, "path": path, "protocol": meta["protocol"], "parameters": meta["parameters"],
            "config": meta["config"], "backend": meta.get("backend") or {}}


def replay_config(original: dict, current: Config | None = None, *, seed: int | None = None,
                  device: int | None = None, backend: dict | None = None,
                  params: tuple[str, dict[str, float]] | None = None) -> Config:
    """The configuration of a replay: the original's, on the simulator, with ``[data]`` from ``current``.

    A run on a fitted device (``sim.preset_file``) replays with the model parameters it recorded
    (``backend["sim"]["preset_params"]``), not with whatever the file holds now. ``params`` = (base preset,
    model parameters) puts another device under the probes (a preset fitted by labrc.fit)."""
    data = dict(original)
    inst = dict(data.get("instrument") or {})
    inst["backend"] = "sim"
    inst["visa_library"] = ""
    data["instrument"] = inst
    sim = dict(data.get("sim") or {})
    if seed is not None:
        sim["seed"] = int(seed)
    if device is not None:
        sim["device"] = int(device)
    recorded = ((backend or {}).get("sim") or {})
    if (backend or {}).get("kind") == "sim" and recorded.get("preset_params"):
        sim.update(preset=recorded.get("preset", sim.get("preset")), preset_file="",
                   params=dict(recorded["preset_params"]))
    if params is not None:
        sim.update(preset=params[0], preset_file="", params=dict(params[1]))
    data["sim"] = sim
    if current is not None:
        data["data"] = current.data.model_dump(mode="json")
        data["source"] = current.source
    try:
        return Config.model_validate(data)
    except ValidationError as exc:       # one line naming the keys (a newer labrc's configuration)
        raise ConfigError(_format_error(exc, "replay")) from None


def replay_run(run: Path | str, current: Config | None = None, *, seed: int | None = None,
               device: int | None = None, params: tuple[str, dict[str, float]] | None = None,
               progress: bool = False, echo: Callable[[str], None] = print):
    """Run the recorded run's plan again on the simulator; returns the new run's :class:`RunOutcome`.

    ``params`` = (base preset, model parameters): replay on that device instead (``--preset-file``).
    Raises before any instrument command (StoreError/ReplayError for the file, ConfigError, LimitError)."""
    from protocols import get_protocol

    prov = read_provenance(run)
    cfg = replay_config(prov["config"], current, seed=seed, device=device, backend=prov["backend"], params=params)
    cls = get_protocol(prov["protocol"])
    try:
        protocol = cls(cls.Params(**prov["parameters"]))
    except TypeError as exc:   # a parameter this labrc does not know (a newer protocol version)
        raise ReplayError(f"{prov['path']}: parameters of {prov['protocol']!r} do not fit this labrc ({exc})") from None
    cfg.check_data_dir()
    return _run_linked(cfg, protocol, {"replay_of": prov["run_id"]}, progress=progress, echo=echo)


def _run_linked(cfg: Config, protocol, extra: dict, *, progress: bool, echo: Callable[[str], None]):
    """:func:`labrc.runner.run_protocol` with ``extra`` keys (``replay_of`` …) in the new file's metadata."""
    from .runner import run_protocol
    return run_protocol(cfg, protocol, progress=progress, echo=echo, metadata=extra)
