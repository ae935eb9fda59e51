"""Commands that make or finish a run file: ``run`` (and its ``--dry-run`` plan), ``resume``, ``close``,
``compact``.
"""

from __future__ import annotations

import click

from instruments.limits import LimitError

from ..config import (
    ConfigError,
    NotifySection,
    read_toml,
    run_identity,
    with_run_identity,
)
from ..humanize import format_duration
from .common import (
    echo_result,
    fail,
    get_config,
    main,
    parse_kv,
    report,
    resolve_run,
    stopped,
)


@main.command()
@click.argument("protocol")
@click.option("--preset", default=None, help="Named parameter set (iv-sweep: volatile | nonvolatile).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Set a protocol parameter.")
@click.option("--params-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML file of protocol parameters (name = value); --param wins over it.")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a labrc.toml key.")
@click.option("--dry-run", is_flag=True, help="Validate and plan against the planning station: exact commands, ETA; sends no source command, writes no file.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--plot/--no-plot", default=False, help="Draw the run's figure at the end.")
@click.option("--cycles", type=int, default=None, help="Shorthand for --param cycles=N.")
@click.option("--campaign", is_flag=True, help="spike-train: patterns x cycles x devices (--param campaign=true).")
@click.option("--sample", default=None, help="Sample (chip) name; with the device it names the run directory.")
@click.option("--device", default=None, help="Device name (default: the simulated die index D00; give it on hardware).")
@click.option("--operator", default=None, help="Who measured ([run] operator).")
@click.option("--note", default=None, help="One line of free text stored with the run ([run] note).")
@click.option("--die-position", default=None, help="Position on the die/wafer where a prober gives one.")
@click.option("--notify", "notify", multiple=True, metavar="URL|COMMAND",
              help="Tell someone when the run ends or stalls: an apprise URL (has ://) or a shell command; "
                   "replaces [notify] command/urls (labrc.notify).")
@click.pass_context
def run(ctx, protocol, preset, params, params_file, sets, dry_run, no_progress, plot, cycles, campaign,
        sample, device, operator, note, die_position, notify):
    """Run PROTOCOL (see `labrc protocols`) and stream it to a new HDF5 run file."""
    from protocols import get_protocol

    from ..runner import StoppedBeforeStart, run_protocol
    cfg = get_config(ctx, sets)
    cfg = _with_identity(cfg, sample=sample, device=device, operator=operator, note=note, die_position=die_position)
    cfg = _with_notify(cfg, notify)
    values = _protocol_values(params_file, cycles, campaign, params)
    try:
        proto = get_protocol(protocol).from_options(preset, values)
        proto.validate(cfg.limits)
    except (LimitError, TypeError) as exc:
        fail(str(exc))
    if dry_run:
        _print_plan(cfg, proto)
        return
    try:
        cfg.check_data_dir()     # a file, a too-long name, read-only: refused before the instrument is opened
        from ..notify import StallWatch
        watch = StallWatch.start(cfg)     # [notify] stall: a thread reading run.state.json (labrc.notify)
        try:
            out = run_protocol(cfg, proto, progress=not no_progress, echo=lambda m: click.echo(m, err=True))
        finally:
            if watch is not None:
                watch.stop()
    except StoppedBeforeStart as exc:
        stopped(exc)
    except (LimitError, ConfigError) as exc:   # ConfigError includes config.ConnectError (runner.connect)
        fail(str(exc))
    if plot and out.status != "failed":
        from ..plots import plot_run
        from ..store import RunReader
        with RunReader(out.path) as r:
            click.echo(f"plot: {plot_run(r)}")
    echo_result(out)
    report(out)


def _protocol_values(params_file: str | None, cycles: int | None, campaign: bool,
                     params: tuple[str, ...]) -> dict[str, str]:
    """The protocol's parameters as strings: ``--params-file`` under ``--cycles``/``--campaign`` under
    ``--param`` (the later wins); a params file that cannot be read is one line, exit 2."""
    values: dict[str, str] = {}
    if params_file:
        try:
            values.update({k: str(v) for k, v in read_toml(params_file, "parameters").items()})
        except ConfigError as exc:
            fail(str(exc))
    if cycles is not None:
        values["cycles"] = str(cycles)
    if campaign:
        values["campaign"] = "true"
    values.update(parse_kv(params, "--param"))
    return values


def _print_plan(cfg, proto) -> None:
    """``run --dry-run``: the plan executed against the planning station (labrc.runner.plan_run): the
    exact commands the driver would send (one status poll per test, as the simulator answers; on
    hardware the 4200 is polled until done), the planned instrument time, the rows per stream, the
    run identity. Opening the instrument sends only *IDN? and *OPT? (to validate against the SMU
    cards installed); no source command, no file."""
    from ..runner import plan_run
    plan = proto.plan()
    try:
        rep = plan_run(cfg, proto)
    except (LimitError, ConfigError) as exc:
        fail(str(exc))
    click.echo(f"protocol   {proto.name}  ({plan.engine})")
    click.echo(f"station    {rep.station} (planning: nothing sent but *IDN? and *OPT?)")
    if rep.note:
        click.echo(f"note       {rep.note}")
    click.echo(f"blocks     {rep.n_blocks}")
    click.echo(f"points     {plan.n_points}")
    click.echo("rows       " + "  ".join(f"{s}={n}" for s, n in rep.rows.items()))
    click.echo(f"commands   {rep.n_commands} in {rep.n_sweeps} list sweeps (one status poll per test)")
    click.echo(f"ETA        {format_duration(rep.instrument_s)} (instrument time)")   # PLC at 50 Hz: an upper bound
    click.echo(f"unit       {proto.progress_unit}")
    ident, warning = run_identity(cfg)
    click.echo("run        " + "  ".join(f"{k}={v}" for k, v in ident.items() if v))
    if warning:
        click.echo(warning, err=True)
    for n in plan.notes:
        click.echo(f"note       {n}")


def _with_notify(cfg, targets: tuple[str, ...]):
    """``--notify`` targets (URL when it has ``://``, else a shell command) over ``[notify]`` of labrc.toml."""
    if not targets:
        return cfg
    urls = [t for t in targets if "://" in t]
    commands = [t for t in targets if "://" not in t]
    if len(commands) > 1:
        fail("--notify: at most one shell command (join several with ';' inside one --notify)")
    note = NotifySection.model_validate({**cfg.notify.model_dump(), "urls": urls,
                                         "command": commands[0] if commands else ""})
    out = cfg.model_copy(update={"notify": note})
    out.source = cfg.source
    return out


def _with_identity(cfg, **values):
    """``--sample``/``--device``/... over ``[run]`` of labrc.toml; bad text is one line, exit 2."""
    try:
        return with_run_identity(cfg, "labrc run", **values)
    except ConfigError as exc:
        fail(str(exc))


@main.command()
@click.argument("run_ref")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def resume(ctx, run_ref, no_progress):
    """Continue an interrupted (killed, crashed, aborted) run in the same file from its last committed block."""
    from ..runner import StoppedBeforeStart, resume_run
    from ..store import StoreError
    cfg = get_config(ctx)
    try:
        out = resume_run(resolve_run(cfg, run_ref), progress=not no_progress,
                         echo=lambda m: click.echo(m, err=True))
    except StoppedBeforeStart as exc:
        stopped(exc)
    except (StoreError, LimitError, ConfigError, NotImplementedError) as exc:
        fail(str(exc))
    echo_result(out)
    report(out)


@main.command(name="close")
@click.argument("run_ref")
@click.pass_context
def close_cmd(ctx, run_ref):
    """End an interrupted (killed, crashed) run without continuing it: finalize run.h5 from its journal.

    The status stays "interrupted" with the reason; the file then opens in any HDF5 reader. No instrument
    is touched. A finished run is left as it is; a run whose writer is alive is refused."""
    from ..store import StoreError, close_run
    cfg = get_config(ctx)
    try:
        out = close_run(resolve_run(cfg, run_ref))
    except StoreError as exc:
        fail(str(exc))
    if out["closed"]:
        click.echo(f"closed: {out['status']}, rows {out['rows']}")
        click.echo(f"reason: {out['message']}", err=True)
    else:
        click.echo(out["message"])


@main.command(name="compact")
@click.argument("run_ref")
@click.option("--level", type=click.IntRange(1, 9), default=1, show_default=True, help="gzip level (1: fastest).")
@click.option("--final", is_flag=True, help="Also compact an aborted/failed/closed run; it can no longer be resumed.")
@click.pass_context
def compact_cmd(ctx, run_ref, level, final):
    """Compress a finished run's file (gzip + shuffle), verify it against the journal, then drop the journal."""
    from ..store import StoreError, compact_run
    cfg = get_config(ctx)
    try:
        out = compact_run(resolve_run(cfg, run_ref), level=level, final=final)
    except StoreError as exc:
        fail(str(exc))
    if out["compacted"]:
        click.echo(f"{out['message']}: {out['h5_bytes_before'] / 1e6:.1f} MB + journal "
                   f"{out['journal_bytes_before'] / 1e6:.1f} MB -> {out['bytes_after'] / 1e6:.1f} MB "
                   f"({100 * out['ratio']:.0f} %) in {out['seconds']:.1f} s")
    else:
        click.echo(out["message"])
