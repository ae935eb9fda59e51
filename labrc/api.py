"""The Python API: run a protocol and open a run from a script or a notebook, with typed values.

>>> import labrc
>>> r = labrc.run("iv-sweep", preset="volatile", data_dir="data", sample="W12", device="D03")
>>> r.status, r.exit_code
('completed', 0)
>>> df = labrc.open_run(r.path).to_pandas("points")

The same run loop as ``labrc run`` (:func:`labrc.runner.run_protocol`): the same validation before any
instrument command, the same file, the same verified safe state. What differs is only how it talks:

* values are Python values (``params={"cycles": 1000, "icc_a": 1e-6}``), ``config`` a dict (the
  ``labrc.toml`` tables), a path to a ``labrc.toml``, a :class:`~labrc.config.Config` or None (then
  ``$LABRC_CONFIG`` / ``./labrc.toml`` / built-in defaults, like the command);
* bad input raises (``ParameterError``, ``ConfigError``, ``ConnectError``: all ``ValueError``) instead
  of exiting; a run that ends badly is a result (``status``, ``reason``, ``exit_code``), not an error;
* no progress bar unless asked; no signal handlers when called from a thread other than the main one
  (labrc.signals: only the main thread may install them; a stop then comes through ``stop``); from the
  main thread Ctrl-C stops at the next block as on the command line and the handlers are put back after;
* the matplotlib backend is never touched (no plotting here).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .config import RUN_FIELDS, Config, ConfigError, _format_error, load_config, with_run_identity
from .outcome import exit_code as _exit_code

__all__ = ["RunResult", "run", "open_run"]


@dataclass(frozen=True)
class RunResult:
    """How a run ended: its file, final status (labrc.outcome), why, the exit code the CLI would give,
    the safe-state record and, for a device failure, where and how the device failed."""

    path: Path
    status: str
    reason: str
    exit_code: int
    safe_state: dict = dataclasses.field(repr=False)
    failure: dict | None = None

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    def open(self):
        """The run's :class:`~labrc.store.RunReader` (use it as a context manager)."""
        return open_run(self.path)


def _config(config: Any, data_dir: str | Path | None) -> Config:
    if isinstance(config, Config):
        cfg = config.model_copy(deep=True)
        cfg.source = config.source
    elif isinstance(config, dict):
        from pydantic import ValidationError
        try:
            cfg = Config.model_validate(config)
        except ValidationError as exc:
            raise ConfigError(_format_error(exc, "config")) from None
    elif config is None or isinstance(config, (str, Path)):
        cfg = load_config(config)
    else:
        raise ConfigError(f"config must be a dict, a path to a labrc.toml, a Config or None, "
                          f"not {type(config).__name__}")
    if data_dir is not None:
        source = cfg.source
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"dir": str(Path(data_dir).absolute())})})
        cfg.source = source
    return cfg


def _protocol(protocol: Any, preset: str | None, params: dict | None):
    from protocols import get_protocol
    from protocols.base import ParameterError, Protocol
    cls = protocol if isinstance(protocol, type) and issubclass(protocol, Protocol) else get_protocol(str(protocol))
    proto = cls.from_options(preset, None)
    params = dict(params or {})
    names = {f.name for f in dataclasses.fields(cls.Params)}
    unknown = sorted(set(params) - names)
    if unknown:
        raise ParameterError(f"unknown parameter {unknown[0]!r}; parameters are: {', '.join(sorted(names))}")
    return cls(dataclasses.replace(proto.params, **params))


def run(protocol: str | type, preset: str | None = None, params: dict[str, Any] | None = None,
        config: dict | str | Path | Config | None = None, data_dir: str | Path | None = None,
        progress: bool = False, *, stop=None, echo: Callable[[str], None] | None = None,
        **identity: str) -> RunResult:
    """Run ``protocol`` (a name from ``labrc protocols`` or a Protocol class) and return its result.

    ``identity``: ``sample``, ``device``, ``operator``, ``note``, ``die_position`` (over ``[run]`` of the
    configuration). ``stop``: a :class:`labrc.signals.StopFlag` another thread may set to stop the run
    at the next block. ``echo``: where the run's messages go (default: stderr).
    """
    from .runner import run_protocol
    bad = sorted(set(identity) - set(RUN_FIELDS))
    if bad:
        raise TypeError(f"run() got unknown keyword argument(s) {bad}; run identity fields are {', '.join(RUN_FIELDS)}")
    cfg = with_run_identity(_config(config, data_dir), "labrc.run", **identity)
    proto = _protocol(protocol, preset, params)
    proto.validate(cfg.limits)
    cfg.check_data_dir()
    out = run_protocol(cfg, proto, progress=progress, stop=stop,
                       echo=echo or (lambda m: print(m, file=sys.stderr, flush=True)))
    return RunResult(Path(out.path), out.status, out.reason, _exit_code(out.status, out.safe_state.get("ok")),
                     out.safe_state, out.failure)


def open_run(path: str | Path):
    """The :class:`~labrc.store.RunReader` of a run (its ``run.h5`` or its directory).

    ``reader.to_pandas(stream)`` / ``reader.to_xarray(stream)`` give the data with units; close it
    (or use ``with``) when done, it holds the file open."""
    from .store import RunReader
    return RunReader(path)
