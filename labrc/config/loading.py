"""Finding, reading and overriding ``labrc.toml``: :func:`load_config`, ``--set`` overrides, TOML read
errors and validation errors each as one line naming the key.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import ConfigError
from .model import Config

CONFIG_ENV = "LABRC_CONFIG"
DEFAULT_FILE = "labrc.toml"


def _format_error(err: ValidationError, source: str) -> str:
    """All validation errors on one line, each naming its key (``sim.faults.error.after``)."""
    lines = []
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = e.get("input")
        got_txt = "" if isinstance(got, dict) or e["type"] == "missing" or not key else f" (got {got!r})"
        lines.append(f"{source}: {key + ': ' if key else ''}{msg}{got_txt}")
    return "; ".join(lines)


def read_toml(path: str | os.PathLike, what: str) -> dict:
    """Read a TOML file; not UTF-8, not TOML or unreadable gives one :class:`ConfigError` line."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: the {what} file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); TOML files must be UTF-8: re-save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the {what} file: {exc.strerror or exc}") from None


def parse_override(item: str) -> tuple[list[str], Any]:
    """``section.key=value`` with the value read as a TOML literal (``1e-3``, ``"x"``, ``true``), else a string."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value")
    key, _, raw = item.partition("=")
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def find_config(path: str | os.PathLike | None = None) -> Path | None:
    """The config file to use: the given path, ``$LABRC_CONFIG``, or ``./labrc.toml`` if present."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        return p
    env = os.environ.get(CONFIG_ENV)
    if env:
        return find_config(env)
    p = Path(DEFAULT_FILE)
    return p if p.is_file() else None


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> Config:
    """Read, override and validate the configuration (defaults = the embedded simulator)."""
    p = find_config(path)
    data: dict = {}
    source = str(p) if p else ("--set" if overrides else "(defaults)")
    if p:
        data = read_toml(p, "configuration")
    for item in overrides or []:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {k} is not a section")
        node[keys[-1]] = value
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source)) from None
    cfg.source = str(p.resolve()) if p else ""
    return cfg
