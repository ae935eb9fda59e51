"""The ``labrc`` command: run protocols, list and show runs, plot them.

Bad input (a parameter out of range, an unknown preset or key, an invalid ``labrc.toml``) ends with
one message naming the parameter and the allowed range, exit code 2, no instrument command sent
and no run file created.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from instruments.limits import LimitError

from . import __version__
from .config import EXAMPLE_TOML, ConfigError, load_config

from .outcome import EXIT_ABORTED, EXIT_BAD_INPUT, EXIT_RUN_FAILED, exit_code  # noqa: F401 - the codes' one home


def _fail(msg: str) -> None:
    click.echo(f"labrc: error: {msg}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _parse_kv(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for it in items:
        if "=" not in it:
            _fail(f"{what} {it!r}: expected name=value")
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
_STOP_FLAG_COMMANDS = ("run", "resume")


def _default_signals() -> None:
    import signal

    from .signals import PROCESS_STOP, STOP_SIGNALS
    for s in STOP_SIGNALS:
        signal.signal(s, signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL)
    if PROCESS_STOP():
        sys.exit(EXIT_ABORTED)


def _config(ctx: click.Context, overrides: tuple[str, ...] = ()):
    try:
        return load_config(ctx.obj["config_path"], list(overrides))
    except ConfigError as exc:
        _fail(str(exc))


@main.command()
@click.argument("protocol")
@click.option("--preset", default=None, help="Named parameter set (iv-sweep: volatile | nonvolatile).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Set a protocol parameter.")
@click.option("--params-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML file of protocol parameters (name = value); --param wins over it.")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a labrc.toml key.")
@click.option("--dry-run", is_flag=True, help="Validate and print the plan; touch no instrument.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--plot/--no-plot", default=False, help="Draw the run's figure at the end.")
@click.option("--cycles", type=int, default=None, help="Shorthand for --param cycles=N.")
@click.option("--campaign", is_flag=True, help="spike-train: patterns x cycles x devices (--param campaign=true).")
@click.pass_context
def run(ctx, protocol, preset, params, params_file, sets, dry_run, no_progress, plot, cycles, campaign):
    """Run PROTOCOL (see `labrc protocols`) and stream it to a new HDF5 run file."""
    from protocols import get_protocol

    from .runner import StoppedBeforeStart, run_protocol
    cfg = _config(ctx, sets)
    values: dict = {}
    if params_file:
        from .config import read_toml
        try:
            values.update({k: str(v) for k, v in read_toml(params_file, "parameters").items()})
        except ConfigError as exc:
            _fail(str(exc))
    if cycles is not None:
        values["cycles"] = str(cycles)
    if campaign:
        values["campaign"] = "true"
    values.update(_parse_kv(params, "--param"))
    try:
        proto = get_protocol(protocol).from_options(preset, values)
        proto.validate(cfg.limits)
    except (LimitError, TypeError) as exc:
        _fail(str(exc))
    plan = proto.plan()
    if dry_run:
        click.echo(f"protocol   {proto.name}  ({plan.engine})")
        click.echo(f"blocks     {plan.n_blocks}")
        click.echo(f"points     {plan.n_points}")
        click.echo(f"commands   ~{plan.n_commands}")
        click.echo(f"ETA        {plan.eta_s:.3g} s (instrument time)")
        for n in plan.notes:
            click.echo(f"note       {n}")
        return
    try:
        cfg.check_data_dir()     # a file, a too-long name, read-only: refused before the instrument is opened
        out = run_protocol(cfg, proto, progress=not no_progress, echo=lambda m: click.echo(m, err=True))
    except StoppedBeforeStart as exc:
        _stopped(exc)
    except (LimitError, ConfigError) as exc:   # ConfigError includes config.ConnectError (runner.connect)
        _fail(str(exc))
    if plot and out.status != "failed":
        from .plots import plot_run
        from .store import RunReader
        with RunReader(out.path) as r:
            click.echo(f"plot: {plot_run(r)}")
    _report(out)


def _stopped(exc: Exception) -> None:
    """A stop request before the first instrument command: an ordinary abort, nothing was applied."""
    click.echo(f"aborted: {exc}", err=True)
    sys.exit(EXIT_ABORTED)


def _report(out) -> None:
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


@main.command()
@click.argument("run_ref")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def resume(ctx, run_ref, no_progress):
    """Continue an interrupted (killed, crashed, aborted) run in the same file from its last committed block."""
    from .runner import StoppedBeforeStart, resume_run
    from .store import StoreError
    cfg = _config(ctx)
    try:
        out = resume_run(_resolve_run(cfg, run_ref), progress=not no_progress,
                         echo=lambda m: click.echo(m, err=True))
    except StoppedBeforeStart as exc:
        _stopped(exc)
    except (StoreError, LimitError, ConfigError, NotImplementedError) as exc:
        _fail(str(exc))
    _report(out)


@main.command(name="close")
@click.argument("run_ref")
@click.pass_context
def close_cmd(ctx, run_ref):
    """End an interrupted (killed, crashed) run without continuing it: finalize run.h5 from its journal.

    The status stays "interrupted" with the reason; the file then opens in any HDF5 reader. No instrument
    is touched. A finished run is left as it is; a run whose writer is alive is refused."""
    from .store import StoreError, close_run
    cfg = _config(ctx)
    try:
        out = close_run(_resolve_run(cfg, run_ref))
    except StoreError as exc:
        _fail(str(exc))
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
    from .store import StoreError, compact_run
    cfg = _config(ctx)
    try:
        out = compact_run(_resolve_run(cfg, run_ref), level=level, final=final)
    except StoreError as exc:
        _fail(str(exc))
    if out["compacted"]:
        click.echo(f"{out['message']}: {out['h5_bytes_before'] / 1e6:.1f} MB + journal "
                   f"{out['journal_bytes_before'] / 1e6:.1f} MB -> {out['bytes_after'] / 1e6:.1f} MB "
                   f"({100 * out['ratio']:.0f} %) in {out['seconds']:.1f} s")
    else:
        click.echo(out["message"])


@main.command()
@click.argument("run_ref")
@click.option("--interval", type=click.FloatRange(0.25, 60), default=0.5, show_default=True,
              help="Seconds between refreshes (at most 4 per second).")
@click.option("--once", is_flag=True, help="Print one view and exit.")
@click.pass_context
def watch(ctx, run_ref, interval, once):
    """Live terminal view of a run while it is written (another process may be writing it)."""
    import time as _time

    from .store import RunReader, StoreError
    cfg = _config(ctx)
    path = _resolve_run(cfg, run_ref)
    try:
        r = RunReader(path)
    except StoreError as exc:
        _fail(str(exc))
    last_n, last_t = None, _time.monotonic()
    with r:
        while True:
            r.refresh()
            status = r.status
            parts = []
            for s in r.schema:
                n = r.n_rows(s)
                parts.append(f"{s}={n}")
            now = _time.monotonic()
            total = sum(r.n_rows(s) for s in r.schema)
            rate = "" if last_n is None else f"  {(total - last_n) / max(now - last_t, 1e-9):,.0f} rows/s"
            tail = _tail_text(r)
            click.echo(f"{_time.strftime('%H:%M:%S')}  {status:<11} {' '.join(parts)}{rate}  {tail}")
            last_n, last_t = total, now
            if once or status != "running":
                break
            _time.sleep(interval)


def _tail_text(r) -> str:
    """The newest row of the run's signal column, e.g. ``last i_meas=1e-06 A``."""
    for s, st in r.schema.items():
        row = r.last_row(s) if st.signal else {}
        if row:
            return f"last {st.signal}={float(row[st.signal]):.4g} {r.units(s).get(st.signal, '')}".rstrip()
    return ""


@main.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--icc-run", default=None, help="icc-set run whose Icc → G fit programs the readout (default: built-in line).")
@click.option("--seed", type=int, default=0, show_default=True, help="Split and initialisation seed.")
@click.option("--epochs", type=click.IntRange(1, 1000), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def reservoir(ctx, runs, icc_run, seed, epochs, as_json):
    """Train the 30-node reservoir readout on spike-train RUNS: float64 delta rule and Icc-programmed pairs."""
    from .reservoir import format_result, train_readout
    from .store import StoreError
    cfg = _config(ctx)
    paths = [_resolve_run(cfg, r) for r in runs]
    icc = _resolve_run(cfg, icc_run) if icc_run else None
    try:
        res = train_readout(paths, icc, seed=seed, epochs=epochs)
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(res.to_dict(), indent=1) if as_json else format_result(res))


@main.group()
def sim():
    """The embedded simulated instrument."""


@sim.command()
@click.option("--preset", default=None, help="Device family to characterize (default: sim.preset of the config).")
@click.option("--seed", type=int, default=None, help="Die seed (default: sim.seed of the config).")
@click.option("--quick", is_flag=True, help="Fewer devices and cycles (for smoke tests).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def characterize(ctx, preset, seed, quick, as_json):
    """Measure the simulated die through the driver and print paper value / measured / pass per target."""
    from .characterize import characterize as run_characterization, format_table
    cfg = _config(ctx)
    rows = run_characterization(cfg, preset=preset, seed=seed, quick=quick)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2, default=str))
    else:
        click.echo(format_table(rows))
    if not all(r.passed for r in rows):
        sys.exit(EXIT_RUN_FAILED)


@sim.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes the simulator to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=1225, show_default=True,
              help="TCP port (KXCI's default is 1225; 0 = a free port, printed at start).")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a labrc.toml key.")
@click.pass_context
def serve(ctx, host, port, sets):
    """Serve the simulated 4200A-SCS on a TCP socket with KXCI's Ethernet framing (one client at a time)."""
    from sim_backend.server import serve as serve_chassis
    cfg = _config(ctx, sets)
    try:
        sys.exit(serve_chassis(cfg.sim_config(), host, port))
    except OSError as exc:
        _fail(f"--host {host} --port {port}: {exc.strerror or exc}")


@main.command()
def protocols():
    """List protocols with their parameters, units, defaults, limits and presets."""
    from protocols import PROTOCOLS
    from protocols.base import describe_params
    for name, cls in PROTOCOLS.items():
        click.echo(f"{name}: {cls.description}")
        if cls.presets:
            click.echo(f"  presets: {', '.join(cls.presets)}")
        for p in describe_params(cls.Params):
            rng = f"[{p['lo']:g}, {p['hi']:g}]" if p["lo"] is not None and p["hi"] is not None else ""
            if p["choices"]:
                rng = "{" + "|".join(str(c) for c in p["choices"]) + "}"
            click.echo(f"  {p['name']:<14} {p['type']:<6} {p['unit']:<3} default {p['default']!s:<8} {rng:<18} {p['help']}")


RUN_REF_MAX = 255   # NAME_MAX of common file systems: no run directory name or id is longer


def _runs_in(cfg) -> list[dict]:
    """The runs in ``data.dir``; a data.dir the system cannot even look at is one line, exit 2."""
    from .store import list_runs
    try:
        return list_runs(cfg.data_dir)
    except OSError as exc:
        _fail(f"data.dir={str(cfg.data.dir)[:60]!r}: {exc.strerror or exc}: choose a readable folder")


def _resolve_run(cfg, run_ref: str) -> Path:
    too_long = [part for part in Path(run_ref).parts if len(os.fsencode(part)) > RUN_REF_MAX]
    if too_long:
        _fail(f"run reference is {len(os.fsencode(too_long[0]))} characters; give a run's path, run id or the "
              f"start of its directory name (at most {RUN_REF_MAX} characters per name; see `labrc ls`)")
    p = Path(run_ref)
    try:
        if p.exists():
            return p
    except OSError as exc:
        _fail(f"run reference {run_ref[:60]!r}: {exc.strerror or exc}")
    matches = [r for r in _runs_in(cfg) if str(r["run_id"]).startswith(run_ref)
               or r["run_dir"].name.startswith(run_ref) or run_ref in r["run_dir"].name]
    if not matches:
        _fail(f"no run {run_ref!r} in {cfg.data_dir}")
    if len(matches) > 1:
        _fail(f"{run_ref!r} matches {len(matches)} runs; give more of the name")
    return matches[0]["path"]


@main.command(name="ls")
@click.pass_context
def ls_cmd(ctx):
    """List the runs in the data directory."""
    cfg = _config(ctx)
    runs = _runs_in(cfg)
    if not runs:
        click.echo(f"no runs in {cfg.data_dir}")
        return
    for r in runs:
        rows = sum(r["n_rows"].values()) if isinstance(r["n_rows"], dict) else r["n_rows"]
        click.echo(f"{r['run_dir'].name:<58} {_outcome_text(r):<28} {r['run_type'] or '?':<10} "
                   f"{r['device'] or '?':<5} rows={rows}")


def _outcome_text(r: dict) -> str:
    """Status plus what the operator must not miss: unverified safe state, device failure, damage."""
    parts = [r["status"]]
    f = r.get("failure")
    if f:
        parts.append(f"({f.get('mode', 'failure')} @ {f.get('cycle', '?')})")
    if r["status"] != "running" and r.get("safe_ok") is False:
        parts.append("SAFE-STATE-UNVERIFIED")
    if r.get("damaged"):
        parts.append("DAMAGED")
    elif r.get("finalized") is False:
        parts.append("NOT-FINALIZED")
    return " ".join(parts)


@main.command()
@click.argument("run_ref")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show(ctx, run_ref, as_json):
    """Metadata and summary of one run (RUN = path, run id or directory name prefix)."""
    from protocols import PROTOCOLS

    from .store import RunReader, StoreError
    cfg = _config(ctx)
    try:
        r = RunReader(_resolve_run(cfg, run_ref))
    except StoreError as exc:
        _fail(str(exc))
    with r:
        proto = PROTOCOLS.get(r.metadata.get("protocol", ""))
        summary = proto.summary(r) if proto else {}
        info = {"run_id": r.run_id, "path": str(r.path), "protocol": r.metadata.get("protocol"),
                "status": r.status, "reason": r.reason, "start_time": r.start_time, "end_time": r.end_time,
                "device": r.device, "instrument": r.metadata.get("instrument", {}).get("idn"),
                "backend": r.metadata.get("backend", {}).get("kind"),
                "parameters": r.metadata.get("parameters"), "rows": {s: r.n_rows(s) for s in r.schema},
                "safe_state_ok": (r.safe_state or {}).get("ok"), "device_failure": r.failure,
                "summary": summary}
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    for k, v in info.items():
        if isinstance(v, dict):
            click.echo(f"{k}:")
            for kk, vv in v.items():
                click.echo(f"  {kk:<22} {vv:.4g}" if isinstance(vv, float) else f"  {kk:<22} {vv}")
        else:
            click.echo(f"{k:<14} {v}")


@main.command()
@click.argument("run_ref")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="PNG path (default: beside the run file).")
@click.pass_context
def plot(ctx, run_ref, output):
    """Draw the paper-style figure of a run as a PNG."""
    from .plots import plot_run
    from .store import RunReader, StoreError
    cfg = _config(ctx)
    out = Path(output) if output else None
    if out is not None and not out.parent.is_dir():
        _fail(f"-o/--output {output}: the folder {out.parent} does not exist; create it or choose another path")
    try:
        with RunReader(_resolve_run(cfg, run_ref)) as r:
            click.echo(str(plot_run(r, out)))
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    except OSError as exc:     # e.g. the PNG cannot be written there
        _fail(f"plot: {exc.strerror or exc}: {getattr(exc, 'filename', '') or output or ''}")


@main.command()
@click.argument("path", type=click.Path(dir_okay=False), default="labrc.toml")
def init(path):
    """Write an example labrc.toml (refuses to overwrite)."""
    p = Path(path)
    if p.exists():
        _fail(f"{p} exists; not overwriting")
    p.write_text(EXAMPLE_TOML)
    click.echo(f"wrote {p}")


if __name__ == "__main__":
    main()
