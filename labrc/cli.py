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
from .config import EXAMPLE_TOML, ConfigError, load_config, run_identity
from .humanize import format_duration, param_value as _param_value, result_line

from .store.schema import STATUSES
from .outcome import EXIT_ABORTED, EXIT_BAD_INPUT, EXIT_RUN_FAILED, EXIT_SAFE_STATE_UNVERIFIED, exit_code  # noqa: F401 - the codes' one home


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
_STOP_FLAG_COMMANDS = ("run", "resume", "replay")   # replay: labrc.replay drives the simulator


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

    from .runner import StoppedBeforeStart, run_protocol
    cfg = _config(ctx, sets)
    cfg = _with_identity(cfg, sample=sample, device=device, operator=operator, note=note, die_position=die_position)
    cfg = _with_notify(cfg, notify)
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
        click.echo(f"ETA        {format_duration(plan.eta_s)} (instrument time)")
        click.echo(f"unit       {proto.progress_unit}")
        ident, warning = run_identity(cfg)
        click.echo("run        " + "  ".join(f"{k}={v}" for k, v in ident.items() if v))
        if warning:
            click.echo(warning, err=True)
        for n in plan.notes:
            click.echo(f"note       {n}")
        return
    try:
        cfg.check_data_dir()     # a file, a too-long name, read-only: refused before the instrument is opened
        from .notify import StallWatch
        watch = StallWatch.start(cfg)     # [notify] stall: a thread reading run.state.json (labrc.notify)
        try:
            out = run_protocol(cfg, proto, progress=not no_progress, echo=lambda m: click.echo(m, err=True))
        finally:
            if watch is not None:
                watch.stop()
    except StoppedBeforeStart as exc:
        _stopped(exc)
    except (LimitError, ConfigError) as exc:   # ConfigError includes config.ConnectError (runner.connect)
        _fail(str(exc))
    if plot and out.status != "failed":
        from .plots import plot_run
        from .store import RunReader
        with RunReader(out.path) as r:
            click.echo(f"plot: {plot_run(r)}")
    _result(out)
    _report(out)


def _with_notify(cfg, targets: tuple[str, ...]):
    """``--notify`` targets (URL when it has ``://``, else a shell command) over ``[notify]`` of labrc.toml."""
    if not targets:
        return cfg
    urls = [t for t in targets if "://" in t]
    commands = [t for t in targets if "://" not in t]
    if len(commands) > 1:
        _fail("--notify: at most one shell command (join several with ';' inside one --notify)")
    from .config import NotifySection
    note = NotifySection.model_validate({**cfg.notify.model_dump(), "urls": urls,
                                         "command": commands[0] if commands else ""})
    out = cfg.model_copy(update={"notify": note})
    out.source = cfg.source
    return out


def _with_identity(cfg, **values):
    """``--sample``/``--device``/... over ``[run]`` of labrc.toml; bad text is one line, exit 2."""
    from .config import with_run_identity
    try:
        return with_run_identity(cfg, "labrc run", **values)
    except ConfigError as exc:
        _fail(str(exc))


def _result(out) -> None:
    """The one line that ends a run (stderr, beside the run's other messages): status, rows, the
    protocol's key figure, the failure cycle, the exit code and its meaning (labrc.humanize)."""
    from protocols import PROTOCOLS

    from .store import RunReader, StoreError
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


def _output_path(output: str | None) -> Path | None:
    """``-o/--output`` as a Path, refused in one line (exit 2) when its folder does not exist."""
    out = Path(output) if output else None
    if out is not None and not out.parent.is_dir():
        _fail(f"-o/--output {output}: the folder {out.parent} does not exist; create it or choose another path")
    return out


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
    _result(out)
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
    """Live view of a run while it is written (another process may be writing it): %, rows of the total,
    rate, ETA, newest value. On a terminal the line refreshes in place; otherwise one line per refresh."""
    import time as _time

    from protocols import PROTOCOLS

    from .store import RunReader, StoreError
    cfg = _config(ctx)
    path = _resolve_run(cfg, run_ref)
    try:
        r = RunReader(path)
    except StoreError as exc:
        _fail(str(exc))
    tty = sys.stdout.isatty()
    with r:
        proto = PROTOCOLS.get(r.metadata.get("protocol", ""))
        unit = proto.progress_unit if proto else "rows"
        total = int((r.metadata.get("plan") or {}).get("n_points") or 0)
        flush_s = float(((r.metadata.get("config") or {}).get("data") or {}).get("flush_interval_s", 1.0))
        meter = RateMeter(window_s=max(8 * interval, 4 * flush_s, 4.0), stall_s=3 * flush_s + 2 * interval)
        while True:
            r.refresh()
            status = r.status
            counts = {s: r.n_rows(s) for s in r.schema}
            done = max(counts.values(), default=0)
            now = _time.monotonic()
            meter.add(now, done)
            line = _watch_line(_time.strftime("%H:%M:%S"), status, done, total, unit, meter.rate(now), counts,
                               _tail_text(r))
            if tty:
                import shutil
                width = shutil.get_terminal_size((120, 24)).columns - 1
                sys.stdout.write("\r" + line[:width] + "\x1b[K")
                sys.stdout.flush()
            else:
                click.echo(line)
            if once or status != "running":
                break
            _time.sleep(interval)
    if tty:
        sys.stdout.write("\n")


class RateMeter:
    """Units per second over a sliding window of the count's *changes*.

    The file grows in steps, one per flush (data.flush_interval_s), so the difference of two refreshes
    alternates between 0 and a whole flush (measured before: 0 and 4,014 rows/s for a run doing ~1,850
    cycles/s). Timing between the first and the last change seen within the window measures whole
    flush periods instead; no change for ``stall_s`` gives 0 (the run stalled or waits)."""

    def __init__(self, window_s: float, stall_s: float) -> None:
        from collections import deque
        self.window_s, self.stall_s = float(window_s), float(stall_s)
        self._changes: "deque[tuple[float, int]]" = deque()

    def add(self, t: float, n: int) -> None:
        if not self._changes or n != self._changes[-1][1]:
            self._changes.append((t, n))
        while len(self._changes) > 2 and t - self._changes[1][0] > self.window_s:
            self._changes.popleft()

    def rate(self, t: float) -> float | None:
        """None until two changes were seen; 0.0 once nothing changed for ``stall_s``."""
        if len(self._changes) < 2:
            return None
        (t0, n0), (t1, n1) = self._changes[0], self._changes[-1]
        if t - t1 > self.stall_s:
            return 0.0
        return (n1 - n0) / max(t1 - t0, 1e-9)


def _watch_line(clock: str, status: str, done: int, total: int, unit: str, rate: float | None,
                counts: dict[str, int], tail: str) -> str:
    parts = [clock, f"{status:<11}"]
    if total:
        parts.append(f"{100.0 * min(done, total) / total:5.1f} %")
        parts.append(f"{done:,}/{total:,} {unit}")
    else:
        parts.append(f"{done:,} {unit}")
    if status == "running":
        parts.append("rate …" if rate is None else f"{rate:,.0f} {unit}/s")
        if rate and total and done < total:
            parts.append(f"ETA {format_duration((total - done) / rate)}")
    parts.append(" ".join(f"{s}={n}" for s, n in counts.items()))
    if tail:
        parts.append(tail)
    return "  ".join(parts)


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
@click.option("--seed", type=int, default=0, show_default=True, help="First seed (split, initialisation, order).")
@click.option("--seeds", "n_seeds", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Number of seeds: seed, seed+1, ...")
@click.option("--epochs", type=click.IntRange(1, 1000), default=5, show_default=True)
@click.option("--no-baselines", is_flag=True, help="Skip the memoryless and stimulus baselines.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="Results HDF5 (default: reservoir.h5 in the first run's directory).")
@click.option("--figures", type=click.Path(file_okay=False), default=None,
              help="Folder for the learning-curve and confusion PNGs (default: beside the results file).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def reservoir(ctx, runs, icc_run, seed, n_seeds, epochs, no_baselines, out, figures, as_json):
    """Train the reservoir readouts on spike-train RUNS beside device-free baselines (labrc.reservoir)."""
    from .reservoir import format_result, train_readout, write_results
    from .reservoir_plots import save_figures
    from .store import StoreError
    cfg = _config(ctx)
    paths = [_resolve_run(cfg, r) for r in runs]
    icc = _resolve_run(cfg, icc_run) if icc_run else None
    dest = Path(out) if out else Path(paths[0]).parent / "reservoir.h5"
    if not dest.parent.is_dir():
        _fail(f"-o/--out {out}: the folder {dest.parent} does not exist; create it or choose another path")
    try:
        res = train_readout(paths, icc, seed=seed, epochs=epochs, n_seeds=n_seeds, baselines=not no_baselines)
        write_results(res, dest)
        pngs = save_figures(res, Path(figures) if figures else dest.parent)
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"reservoir: {exc.strerror or exc}: {getattr(exc, 'filename', '') or dest}")
    if as_json:
        click.echo(json.dumps({**res.to_dict(), "results_file": str(dest), "figures": [str(p) for p in pngs]}, indent=1))
    else:
        click.echo(format_result(res))
        click.echo(f"results: {dest}")
        for p in pngs:
            click.echo(f"figure: {p}")


@main.command()
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a labrc.toml key.")
@click.pass_context
def check(ctx, sets):
    """Check the configured instrument before a run: identity (*IDN?), cards (*OPT?), the top/bottom
    wiring and the error queue (:ERROR:LAST:GET). Applies nothing but 0 V: it ends with the verified
    safe shutdown (every SMU to 0 V, read back, off; PMU outputs off). Exit 0 ok, 2 cannot connect or
    wiring wrong, 4 safe state not verified."""
    from .config import connect_error
    from .runner import connect
    cfg = _config(ctx, sets)
    inst = cfg.instrument
    where = "simulator (embedded)" if inst.backend == "sim" else f"VISA {inst.visa_library or '(system library)'}"
    try:
        station = connect(cfg)          # opening errors: one ConnectError line naming the key to fix
    except ConfigError as exc:
        _fail(" ".join(str(exc).split()))
    click.echo(f"instrument  {inst.resource}  via {where}")
    instr = station.instr
    failure = None
    try:
        click.echo(f"identity    {instr.idn}")
        click.echo(f"cards       {', '.join(instr.options) or '(none reported)'}")
        smus = ", ".join(f"SMU{n}{' (preamp)' if lim.preamp else ''}" for n, lim in sorted(instr.smu_limits.items()))
        click.echo(f"SMUs        {smus or 'none'}")
        click.echo(f"wiring      top = {inst.top} (Ag top electrode), bottom = {inst.bottom} "
                   f"(ITO bottom electrode, {'ground unit' if inst.bottom == 'GNDU' else 'held at 0 V'})")
        err = instr.last_error()
        click.echo("error queue empty" if err is None else
                   f"error queue {err} (stored before this check; cleared by the shutdown below)")
    except Exception as exc:  # noqa: BLE001 - the link failed after opening: one line, still the safe shutdown
        failure = " ".join(str(connect_error(exc, inst)).split())
    safe = instr.shutdown()
    try:
        instr.adapter.close()
    except Exception:  # noqa: BLE001
        pass
    if safe.get("ok"):
        done = ", ".join(f"SMU{n} {e['v_readback_v']:g} V off" if e.get("v_readback_v") is not None else f"SMU{n} off"
                         for n, e in sorted(safe["smu"].items()))
        pmus = ", ".join(f"{k} {v}" for k, v in safe.get("pmu", {}).items())
        click.echo(f"safe state  verified: {done}" + (f"; {pmus}" if pmus else ""))
    else:
        click.echo(f"safe state  NOT verified: {'; '.join(safe.get('errors') or ['unknown'])}", err=True)
    if failure:
        _fail(failure)
    if not safe.get("ok"):
        sys.exit(EXIT_SAFE_STATE_UNVERIFIED)
    click.echo("check       ok")


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="labrc-demo", show_default=True,
              help="Folder for the runs, figures, reservoir.h5 and the table.")
@click.option("--quick", is_flag=True, help="Small sizes (a smoke test, < 1 min); default: the paper's campaign.")
@click.option("--seed", type=int, default=0, show_default=True, help="First reservoir seed.")
@click.option("--json", "as_json", is_flag=True, help="Print demo.json instead of the table.")
def demo(out_dir, quick, seed, as_json):
    """The paper's main job on the embedded simulator: I–V, endurance, Icc ladder, retention, spike-train
    campaign, reservoir readouts and baselines; then the paper's headline numbers beside the measured ones."""
    from .demo import format_rows, headline_rows, run_demo  # noqa: F401
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        _fail(f"--out {out_dir}: exists and is not a folder")
    try:
        doc = run_demo(out, quick=quick, seed=seed, say=lambda m: click.echo(m, err=True))
    except OSError as exc:
        _fail(f"demo: {exc.strerror or exc}: {getattr(exc, 'filename', '') or out_dir}")
    if as_json:
        click.echo(json.dumps(doc, indent=1, default=str))
        return
    click.echo((out / "demo_table.txt").read_text())
    click.echo(f"figures: {out / 'figures'}  ({len(doc['figures'])} PNG)")
    click.echo(f"demo took {doc['timings_s']['total']:.0f} s")


@main.group()
def sim():
    """The embedded simulated instrument."""


@sim.command()
@click.option("--preset", default=None, help="Device family to characterize (default: sim.preset of the config).")
@click.option("--seed", type=int, default=None, help="Die seed (default: sim.seed of the config).")
@click.option("--quick", is_flag=True, help="Fewer devices and cycles (for smoke tests).")
@click.option("--full", is_flag=True, help="Also cycle every OGB device of the die to failure in both modes "
              "(measured endurance medians; hours); otherwise those two rows are model parameters.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for the endurance and retention runs (default: <data.dir>/characterize).")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Processes running the stored runs in parallel.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def characterize(ctx, preset, seed, quick, full, out_dir, workers, as_json):
    """Measure the simulated die through the driver and print paper value / measured / source / pass per target."""
    from .characterize import characterize as run_characterization, format_table
    cfg = _config(ctx)
    try:
        rows = run_characterization(cfg, preset=preset, seed=seed, quick=quick, full=full, out_dir=out_dir,
                                    workers=workers, progress=lambda m: click.echo(m, err=True))
    except ValueError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"characterize: {exc.strerror or exc}: {getattr(exc, 'filename', '') or out_dir or ''}")
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


@main.command(name="serve")
@click.option("--host", default=None, help="Address to bind (default [serve] host, 127.0.0.1); any other address "
              "needs an access token.")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="TCP port (default [serve] port, 8765; "
              "0 = a free one, printed).")
@click.option("--data", "data", type=click.Path(file_okay=False), default=None, help="Data directory (default data.dir).")
@click.option("--new-token", is_flag=True, help="Generate a new access token, print it once and store it (0600).")
@click.pass_context
def serve_cmd(ctx, host, port, data, new_token):
    """A local web page over the data directory: run list, live plots, event log, stop from the page (labrc.web)."""
    from .web import ServeError, serve
    cfg = _config(ctx)
    host = host or cfg.serve.host
    try:
        sys.exit(serve(Path(data) if data else cfg.data_dir, host, cfg.serve.port if port is None else port,
                       cfg.serve.token, new_token, echo=click.echo))
    except ServeError as exc:
        _fail(str(exc))


@sim.command(name="fit")
@click.argument("runs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the fitted device as a preset ([sim] preset_file = ... loads it).")
@click.option("--check", is_flag=True, help="Replay every run on the fitted device and compare (labrc replay).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def fit_cmd(ctx, runs, output, check, as_json):
    """Fit the device model to RUNS (any mix of protocols; labrc.fit): parameters ± 1 sigma, quality per run."""
    from .fit import FitError, check_replays, fit_runs, write_preset
    from .store import StoreError
    cfg = _config(ctx)
    out = _output_path(output)
    paths = [_resolve_run(cfg, r) for r in runs]
    try:
        res = fit_runs(paths)
        rows = check_replays(paths, res, cfg.data_dir) if check else []
        if out is not None:
            write_preset(res, out)
    except (StoreError, FitError, ConfigError, LimitError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"sim fit: {exc.strerror or exc}: {getattr(exc, 'filename', '') or output or ''}")
    if as_json:
        click.echo(json.dumps({**res.to_dict(), "check": rows, "preset_file": str(out) if out else None},
                              indent=1, default=str))
    else:
        click.echo(res.table())
        for r in rows:
            click.echo(f"check {r['run']} -> {r['replay'][:8]}  {r['name']:<34} {r['original']:>10.4g} "
                       f"{r['replayed']:>10.4g}  z {r['z']:+.2f}")
        if out is not None:
            click.echo(f"preset: {out}")


@main.command()
def protocols():
    """List protocols with their parameters, units, defaults, limits and presets."""
    from protocols import PROTOCOLS
    from protocols.base import describe_params
    for name, cls in PROTOCOLS.items():
        click.echo(f"{name}: {cls.description}")
        if cls.presets:
            click.echo(f"  presets: {', '.join(cls.presets)}")
        rows = describe_params(cls.Params)
        w = max(len(p["name"]) for p in rows) + 1
        for p in rows:
            if p["choices"]:
                rng = "{" + "|".join(_param_value(c, p["unit"], p["type"]) for c in p["choices"]) + "}"
            elif p["lo"] is not None:
                hi = _param_value(float("inf") if p["hi"] is None else p["hi"], p["unit"], p["type"])
                rng = f"[{_param_value(p['lo'], p['unit'], p['type'])}, {hi}" + (")" if hi == "∞" else "]")
            else:
                rng = ""
            default = _param_value(p["default"], p["unit"], p["type"])
            click.echo(f"  {p['name']:<{w}} {p['type']:<5} default {default:<10} {rng:<22} {p['help']}")


RUN_REF_MAX = 255   # NAME_MAX of common file systems: no run directory name or id is longer


def _runs_in(cfg) -> list[dict]:
    """The runs in ``data.dir``; a data.dir the system cannot even look at is one line, exit 2."""
    from .store import list_runs
    try:
        return list_runs(cfg.data_dir)
    except OSError as exc:
        _fail(f"data.dir={str(cfg.data.dir)[:60]!r}: {exc.strerror or exc}: choose a readable folder")


LATEST = "latest"   # names the newest run (by start time) in data.dir wherever a RUN is expected


def _resolve_run(cfg, run_ref: str) -> Path:
    if run_ref == LATEST:
        runs = _runs_in(cfg)
        if not runs:
            _fail(f"no runs in {cfg.data_dir}: {LATEST!r} names the newest run there")
        return runs[-1]["path"]
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
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (one JSON list).")
@click.option("--protocol", "protocol_filter", default=None, help="Only runs of this protocol (see `labrc protocols`).")
@click.option("--status", "status_filter", type=click.Choice(STATUSES), default=None, help="Only runs with this status.")
@click.option("--sample", "sample_filter", default=None, help="Only runs of this sample ([run] sample / --sample).")
@click.pass_context
def ls_cmd(ctx, as_json, protocol_filter, status_filter, sample_filter):
    """List the runs in the data directory, oldest first (row counts from the files)."""
    from protocols import PROTOCOLS
    if protocol_filter is not None and protocol_filter not in PROTOCOLS:
        _fail(f"--protocol {protocol_filter!r}: protocols are {', '.join(PROTOCOLS)}")
    cfg = _config(ctx)
    runs = [_ls_row(r) for r in _runs_in(cfg)]
    runs = [r for r in runs if (protocol_filter is None or r["protocol"] == protocol_filter)
            and (status_filter is None or r["status"] == status_filter)
            and (sample_filter is None or r["sample"] == sample_filter)]
    if as_json:
        click.echo(json.dumps(runs, indent=1, default=str))
        return
    if not runs:
        click.echo(f"no runs in {cfg.data_dir}" + (" match" if protocol_filter or status_filter or sample_filter else ""))
        return
    head = ("run", "outcome", "protocol", "sample", "device", "rows", "started")
    table = [head] + [(r["run_dir"], r["outcome"], r["protocol"] or "?", r["sample"] or "-", r["device"] or "?",
                       f"{r['count']:,} {r['unit']}", (r["start_time"] or "?")[:19]) for r in runs]
    widths = [max(len(row[k]) for row in table) for k in range(len(head))]
    for row in table:
        click.echo("  ".join(c.rjust(w) if k == 5 else c.ljust(w) for k, (c, w) in enumerate(zip(row, widths))).rstrip())


def _ls_row(r: dict) -> dict:
    """One run as ``ls`` reports it: list_runs' facts plus the protocol and the run identity (metadata)."""
    from protocols import PROTOCOLS

    from .store import RunReader, StoreError
    meta: dict = {}
    if not r.get("damaged"):
        try:
            with RunReader(r["path"]) as rd:
                meta = rd.metadata
        except StoreError:
            meta = {}
    ident = dict(meta.get("run") or {})
    rows = r["n_rows"] if isinstance(r["n_rows"], dict) else {}
    proto = meta.get("protocol")
    cls = PROTOCOLS.get(proto or "")
    return {"run_dir": r["run_dir"].name, "path": str(r["path"]), "run_id": r["run_id"], "protocol": proto,
            "run_type": r["run_type"], "status": r["status"], "outcome": _outcome_text(r),
            "sample": ident.get("sample", ""), "device": ident.get("device") or r["device"],
            "operator": ident.get("operator", ""), "note": ident.get("note", ""),
            "die_position": ident.get("die_position", ""), "rows": rows, "count": max(rows.values(), default=0),
            "unit": cls.progress_unit if cls else "rows", "start_time": r["start_time"], "end_time": r["end_time"],
            "safe_ok": r.get("safe_ok"), "failure": r.get("failure"), "reason": r.get("reason", ""),
            "damaged": r.get("damaged", "")}


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
                "run": r.metadata.get("run") or {"device": r.device},
                "status": r.status, "reason": r.reason, "start_time": r.start_time, "end_time": r.end_time,
                "device": r.device, "instrument": r.metadata.get("instrument", {}).get("idn"),
                "backend": r.metadata.get("backend", {}).get("kind"),
                **({"replay_of": r.metadata["replay_of"]} if r.metadata.get("replay_of") else {}),   # labrc replay
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
    out = _output_path(output)
    try:
        with RunReader(_resolve_run(cfg, run_ref)) as r:
            click.echo(str(plot_run(r, out)))
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    except OSError as exc:     # e.g. the PNG cannot be written there
        _fail(f"plot: {exc.strerror or exc}: {getattr(exc, 'filename', '') or output or ''}")


@main.command(name="export")
@click.argument("run_ref")
@click.option("--format", "fmt", type=click.Choice(["csv", "netcdf"]), default="csv", show_default=True,
              help="csv: one table per stream, units in a '# units:' line; netcdf: one file, a group per stream.")
@click.option("--stream", "streams", multiple=True, help="Only this stream (repeatable; default: every stream).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="File to write (csv with several streams: <stem>_<stream>.csv); default: in the run directory.")
@click.pass_context
def export_cmd(ctx, run_ref, fmt, streams, output):
    """Write a run's data as CSV or netCDF (pandas/xarray; pip install 'labrc[data]'). See labrc.export."""
    from .export import ExportError, export_run
    from .store import RunReader, StoreError
    cfg = _config(ctx)
    out = _output_path(output)
    try:
        with RunReader(_resolve_run(cfg, run_ref)) as r:
            files, notes = export_run(r, fmt, out, streams)
    except (StoreError, ExportError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"export: {exc.strerror or exc}: {getattr(exc, 'filename', '') or output or ''}")
    for n in notes:
        click.echo(f"note: {n}", err=True)
    for f in files:
        click.echo(str(f))


# --- offline replay (labrc.replay, labrc.compare): re-run a run on the simulator, compare two runs
@main.command()
@click.argument("run_ref")
@click.option("--seed", type=click.IntRange(0, None), default=None, help="Die seed (default: the run's sim.seed).")
@click.option("--device", type=click.IntRange(0, None), default=None,
              help="Device of the simulated die (default: the run's sim.device).")
@click.option("--preset-file", type=click.Path(dir_okay=False), default=None,
              help="Replay on this device instead: a preset written by `labrc sim fit -o`.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def replay(ctx, run_ref, seed, device, preset_file, no_progress):
    """Run RUN's protocol, parameters and configuration again on the simulator (new run, replay_of = RUN's id)."""
    from .replay import replay_run
    from .runner import StoppedBeforeStart
    from .store import StoreError
    cfg = _config(ctx)
    params = None
    if preset_file:
        from sim_backend.simconfig import read_preset_file
        try:
            params = read_preset_file(preset_file)
        except ValueError as exc:
            _fail(f"--preset-file: {exc}")
    try:
        out = replay_run(_resolve_run(cfg, run_ref), cfg, seed=seed, device=device, params=params,
                         progress=not no_progress, echo=lambda m: click.echo(m, err=True))
    except StoppedBeforeStart as exc:
        _stopped(exc)
    except (StoreError, LimitError, ConfigError) as exc:
        _fail(str(exc))
    _result(out)
    _report(out)


@main.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="PNG of the two runs side by side.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def compare(ctx, run_a, run_b, output, as_json):
    """Summary figures of how far two runs of one protocol differ (table; -o draws them side by side)."""
    from .compare import CompareError, compare_runs
    from .store import StoreError
    cfg = _config(ctx)
    out = _output_path(output)
    try:
        cmp = compare_runs(_resolve_run(cfg, run_a), _resolve_run(cfg, run_b), figure=out is not None)
        if out is not None:
            cmp.figure.savefig(out, dpi=110)
    except (StoreError, CompareError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"compare: {exc.strerror or exc}: {getattr(exc, 'filename', '') or output or ''}")
    click.echo(json.dumps(cmp.to_dict(), indent=1, default=str) if as_json else cmp.table())
    if out is not None:
        click.echo(f"figure: {out}")


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
