"""The ``labrc`` click group and what its commands share: one-line failures (exit 2), the
configuration, run references (path, run id, directory prefix, ``latest``), the end-of-run report.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .. import __version__
from ..config import ConfigError, load_config
from ..humanize import result_line
from ..outcome import EXIT_ABORTED, EXIT_BAD_INPUT, exit_code


def fail(msg: str) -> None:
    """Bad input: one line on stderr naming what to fix, exit 2 (labrc.outcome.EXIT_BAD_INPUT)."""
    click.echo(f"labrc: error: {msg}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def parse_kv(items: tuple[str, ...], what: str) -> dict[str, str]:
    """``name=value`` options (``what`` names the option in the failure line) as a dict of strings."""
    out = {}
    for it in items:
        if "=" not in it:
            fail(f"{what} {it!r}: expected name=value")
        k, _, v = it.partition("=")
        out[k.strip()] = v.strip()
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="labrc")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="labrc.toml to use (default: $LABRC_CONFIG or ./labrc.toml, else built-in defaults).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Keithley 4200-SCS memristor protocols, on the real instrument or the embedded simulator."""
    ctx.obj = {"config_path": config_path}
    if ctx.invoked_subcommand not in _STOP_FLAG_COMMANDS:
        _default_signals()


# Commands that drive the instrument keep labrc.entry's stop handlers (a signal = stop after the block,
# then the safe shutdown); every other command gets Python's defaults back, so Ctrl-C simply ends it.
_STOP_FLAG_COMMANDS = ("run", "resume", "replay")   # replay: labrc.replay drives the simulator


def _default_signals() -> None:
    import signal

    from ..signals import PROCESS_STOP, STOP_SIGNALS
    for s in STOP_SIGNALS:
        signal.signal(s, signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL)
    if PROCESS_STOP():
        sys.exit(EXIT_ABORTED)


def get_config(ctx: click.Context, overrides: tuple[str, ...] = ()):
    """The validated configuration of ``--config`` under ``--set`` overrides; invalid = one line, exit 2."""
    try:
        return load_config(ctx.obj["config_path"], list(overrides))
    except ConfigError as exc:
        fail(str(exc))


def echo_result(out) -> None:
    """The one line that ends a run (stderr, beside the run's other messages): status, rows, the
    protocol's key figure, the failure cycle, the exit code and its meaning (labrc.humanize)."""
    from protocols import PROTOCOLS

    from ..store import RunReader, StoreError
    code = exit_code(out.status, out.safe_state.get("ok"))
    rows, unit, name, summary = None, "rows", "", {}
    try:
        with RunReader(out.path) as r:
            name = r.metadata.get("protocol", "")
            proto = PROTOCOLS.get(name)
            unit = proto.progress_unit if proto else unit
            rows = max((r.n_rows(s) for s in r.schema), default=0)
            summary = proto.summary(r) if proto and rows else {}
    except (StoreError, OSError, ValueError, KeyError) as exc:   # the file is reported by _report; not fatal here
        summary = {"_error": str(exc)}
    click.echo(result_line(out.status, code, rows, unit, name, summary, out.failure), err=True)


def output_path(output: str | None) -> Path | None:
    """``-o/--output`` as a Path, refused in one line (exit 2) when its folder does not exist."""
    out = Path(output) if output else None
    if out is not None and not out.parent.is_dir():
        fail(f"-o/--output {output}: the folder {out.parent} does not exist; create it or choose another path")
    return out


def stopped(exc: Exception) -> None:
    """A stop request before the first instrument command: an ordinary abort, nothing was applied."""
    click.echo(f"aborted: {exc}", err=True)
    sys.exit(EXIT_ABORTED)


def report(out) -> None:
    """Print a run's outcome and exit with its code (labrc.outcome: 0 completed, 1 failed, 3 device
    failure, 4 safe state not verified, 130 aborted)."""
    click.echo(f"{out.status}: {out.path}")
    if out.reason:
        click.echo(f"reason: {out.reason}", err=True)
    if not out.safe_state.get("ok"):
        click.echo(f"WARNING: safe state not verified: {out.safe_state.get('errors')}", err=True)
    code = exit_code(out.status, out.safe_state.get("ok"))
    if code:
        sys.exit(code)


RUN_REF_MAX = 255   # NAME_MAX of common file systems: no run directory name or id is longer


def runs_in(cfg) -> list[dict]:
    """The runs in ``data.dir``; a data.dir the system cannot even look at is one line, exit 2."""
    from ..store import list_runs
    try:
        return list_runs(cfg.data_dir)
    except OSError as exc:
        fail(f"data.dir={str(cfg.data.dir)[:60]!r}: {exc.strerror or exc}: choose a readable folder")


LATEST = "latest"   # names the newest run (by start time) in data.dir wherever a RUN is expected


def resolve_run(cfg, run_ref: str) -> Path:
    """A RUN argument (path, run id, directory-name prefix or part, ``latest``) as its run file's path."""
    if run_ref == LATEST:
        runs = runs_in(cfg)
        if not runs:
            fail(f"no runs in {cfg.data_dir}: {LATEST!r} names the newest run there")
        return runs[-1]["path"]
    too_long = [part for part in Path(run_ref).parts if len(os.fsencode(part)) > RUN_REF_MAX]
    if too_long:
        fail(f"run reference is {len(os.fsencode(too_long[0]))} characters; give a run's path, run id or the "
              f"start of its directory name (at most {RUN_REF_MAX} characters per name; see `labrc ls`)")
    p = Path(run_ref)
    try:
        if p.exists():
            return p
    except OSError as exc:
        fail(f"run reference {run_ref[:60]!r}: {exc.strerror or exc}")
    matches = [r for r in runs_in(cfg) if str(r["run_id"]).startswith(run_ref)
               or r["run_dir"].name.startswith(run_ref) or run_ref in r["run_dir"].name]
    if not matches:
        fail(f"no run {run_ref!r} in {cfg.data_dir}")
    if len(matches) > 1:
        fail(f"{run_ref!r} matches {len(matches)} runs; give more of the name")
    return matches[0]["path"]
