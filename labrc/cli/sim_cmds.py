"""``labrc sim``: the embedded simulated instrument — ``characterize`` the die, ``serve`` it over KXCI's
socket framing, ``fit`` the device model to runs.
"""

from __future__ import annotations

import json
import sys

import click

from instruments.limits import LimitError

from ..config import ConfigError
from ..outcome import EXIT_RUN_FAILED
from .common import fail, get_config, main, output_path, resolve_run


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
              help="Folder for the report's protocol runs, every one kept (default: <data.dir>/characterize).")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Processes running the stored runs in parallel.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def characterize(ctx, preset, seed, quick, full, out_dir, workers, as_json):
    """Measure the simulated die with the real protocols (stored runs) and print paper / measured / source / pass per target."""
    from ..characterize import characterize as run_characterization
    from ..characterize import format_table
    cfg = get_config(ctx)
    try:
        rows = run_characterization(cfg, preset=preset, seed=seed, quick=quick, full=full, out_dir=out_dir,
                                    workers=workers, progress=lambda m: click.echo(m, err=True))
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"characterize: {exc.strerror or exc}: {getattr(exc, 'filename', '') or out_dir or ''}")
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
    cfg = get_config(ctx, sets)
    try:
        sys.exit(serve_chassis(cfg.sim_config(), host, port))
    except OSError as exc:
        fail(f"--host {host} --port {port}: {exc.strerror or exc}")


@sim.command(name="fit")
@click.argument("runs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the fitted device as a preset ([sim] preset_file = ... loads it).")
@click.option("--check", is_flag=True, help="Replay every run on the fitted device and compare (labrc replay).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def fit_cmd(ctx, runs, output, check, as_json):
    """Fit the device model to RUNS (any mix of protocols; labrc.fit): parameters ± 1 sigma, quality per run."""
    from ..fit import FitError, check_replays, fit_runs, write_preset
    from ..store import StoreError
    cfg = get_config(ctx)
    out = output_path(output)
    paths = [resolve_run(cfg, r) for r in runs]
    try:
        res = fit_runs(paths)
        rows = check_replays(paths, res, cfg.data_dir) if check else []
        if out is not None:
            write_preset(res, out)
    except (StoreError, FitError, ConfigError, LimitError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"sim fit: {exc.strerror or exc}: {getattr(exc, 'filename', '') or output or ''}")
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
