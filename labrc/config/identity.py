"""The run identity (``[run]``, ``--sample``/``--device``/...): override it, and what a run records."""

from __future__ import annotations

from pydantic import ValidationError

from .errors import ConfigError
from .model import Config
from .sections import RUN_FIELDS, RUN_UNNAMED_DEVICE, RunSection


def with_run_identity(cfg: Config, source: str = "--run options", **values: str | None) -> Config:
    """``cfg`` with the given ``[run]`` values replaced (None = keep); validated like ``labrc.toml``."""
    unknown = sorted(set(values) - set(RUN_FIELDS))
    if unknown:
        raise ConfigError(f"unknown run identity field(s) {unknown}; fields are: {', '.join(RUN_FIELDS)}")
    merged = {**cfg.run.model_dump(), **{k: v for k, v in values.items() if v is not None}}
    try:
        run = RunSection.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError("; ".join(f"{source}: run.{e['loc'][0]}: {e['msg'].removeprefix('Value error, ')}"
                                    for e in exc.errors())) from None
    out = cfg.model_copy(update={"run": run})
    out.source = cfg.source
    return out


def run_identity(cfg: Config) -> tuple[dict[str, str], str]:
    """The run's identity as stored (metadata["run"]) and a warning for the operator ("" = none).

    The device name defaults to the simulated die index ("D00") on the simulator; on hardware there is
    no way to know which device is under the probes, so it is "unnamed" and the operator is told."""
    ident = cfg.run.model_dump()
    warning = ""
    if not ident["device"]:
        if cfg.instrument.backend == "sim":
            ident["device"] = f"D{cfg.sim.device:02d}"
        else:
            ident["device"] = RUN_UNNAMED_DEVICE
            warning = (f"labrc: warning: no device name: this run is recorded as device {RUN_UNNAMED_DEVICE!r}; "
                       "give --device NAME (and --sample) or set [run] device in labrc.toml")
    return ident, warning
