"""Commands that work on stored runs beyond one run's view: ``reservoir`` readouts, ``replay`` on the
simulator, ``compare`` two runs, and the paper's ``demo`` campaign.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from instruments.limits import LimitError

from ..config import ConfigError
from .common import (
    echo_result,
    fail,
    get_config,
    main,
    output_path,
    report,
    resolve_run,
    stopped,
)


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
    from ..reservoir import format_result, train_readout, write_results
    from ..reservoir_plots import save_figures
    from ..store import StoreError
    cfg = get_config(ctx)
    paths = [resolve_run(cfg, r) for r in runs]
    icc = resolve_run(cfg, icc_run) if icc_run else None
    dest = Path(out) if out else Path(paths[0]).parent / "reservoir.h5"
    if not dest.parent.is_dir():
        fail(f"-o/--out {out}: the folder {dest.parent} does not exist; create it or choose another path")
    try:
        res = train_readout(paths, icc, seed=seed, epochs=epochs, n_seeds=n_seeds, baselines=not no_baselines)
        write_results(res, dest)
        pngs = save_figures(res, Path(figures) if figures else dest.parent)
    except (StoreError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"reservoir: {exc.strerror or exc}: {getattr(exc, 'filename', '') or dest}")
    if as_json:
        click.echo(json.dumps({**res.to_dict(), "results_file": str(dest), "figures": [str(p) for p in pngs]}, indent=1))
    else:
        click.echo(format_result(res))
        click.echo(f"results: {dest}")
        for p in pngs:
            click.echo(f"figure: {p}")


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
    from ..replay import replay_run
    from ..runner import StoppedBeforeStart
    from ..store import StoreError
    cfg = get_config(ctx)
    params = None
    if preset_file:
        from sim_backend.simconfig import read_preset_file
        try:
            params = read_preset_file(preset_file)
        except ValueError as exc:
            fail(f"--preset-file: {exc}")
    try:
        out = replay_run(resolve_run(cfg, run_ref), cfg, seed=seed, device=device, params=params,
                         progress=not no_progress, echo=lambda m: click.echo(m, err=True))
    except StoppedBeforeStart as exc:
        stopped(exc)
    except (StoreError, LimitError, ConfigError) as exc:
        fail(str(exc))
    echo_result(out)
    report(out)


@main.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="PNG of the two runs side by side.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def compare(ctx, run_a, run_b, output, as_json):
    """Summary figures of how far two runs of one protocol differ (table; -o draws them side by side)."""
    from ..compare import CompareError, compare_runs
    from ..store import StoreError
    cfg = get_config(ctx)
    out = output_path(output)
    try:
        cmp = compare_runs(resolve_run(cfg, run_a), resolve_run(cfg, run_b), figure=out is not None)
        if out is not None:
            cmp.figure.savefig(out, dpi=110)
    except (StoreError, CompareError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"compare: {exc.strerror or exc}: {getattr(exc, 'filename', '') or output or ''}")
    click.echo(json.dumps(cmp.to_dict(), indent=1, default=str) if as_json else cmp.table())
    if out is not None:
        click.echo(f"figure: {out}")


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="labrc-demo", show_default=True,
              help="Folder for the runs, figures, reservoir.h5 and the table.")
@click.option("--quick", is_flag=True, help="Small sizes (a smoke test, < 1 min); default: the paper's campaign.")
@click.option("--seed", type=int, default=0, show_default=True, help="First reservoir seed.")
@click.option("--json", "as_json", is_flag=True, help="Print demo.json instead of the table.")
def demo(out_dir, quick, seed, as_json):
    """The paper's main job on the embedded simulator: I–V, endurance, Icc ladder, retention, spike-train
    campaign, reservoir readouts and baselines; then the paper's headline numbers beside the measured ones."""
    from ..demo import format_rows, headline_rows, run_demo  # noqa: F401
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        fail(f"--out {out_dir}: exists and is not a folder")
    try:
        doc = run_demo(out, quick=quick, seed=seed, say=lambda m: click.echo(m, err=True))
    except OSError as exc:
        fail(f"demo: {exc.strerror or exc}: {getattr(exc, 'filename', '') or out_dir}")
    if as_json:
        click.echo(json.dumps(doc, indent=1, default=str))
        return
    click.echo((out / "demo_table.txt").read_text())
    click.echo(f"figures: {out / 'figures'}  ({len(doc['figures'])} PNG)")
    click.echo(f"demo took {doc['timings_s']['total']:.0f} s")
