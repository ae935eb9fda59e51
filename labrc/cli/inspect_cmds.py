"""Commands that read finished or running runs without touching an instrument: ``ls``, ``show``, ``plot``,
``export``.
"""

from __future__ import annotations

import json

import click

from ..store.schema import STATUSES
from .common import fail, get_config, main, output_path, resolve_run, runs_in


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
        fail(f"--protocol {protocol_filter!r}: protocols are {', '.join(PROTOCOLS)}")
    cfg = get_config(ctx)
    runs = [_ls_row(r) for r in runs_in(cfg)]
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

    from ..store import RunReader, StoreError
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

    from ..store import RunReader, StoreError
    cfg = get_config(ctx)
    try:
        r = RunReader(resolve_run(cfg, run_ref))
    except StoreError as exc:
        fail(str(exc))
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
    from ..plots import plot_run
    from ..store import RunReader, StoreError
    cfg = get_config(ctx)
    out = output_path(output)
    try:
        with RunReader(resolve_run(cfg, run_ref)) as r:
            click.echo(str(plot_run(r, out)))
    except (StoreError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:     # e.g. the PNG cannot be written there
        fail(f"plot: {exc.strerror or exc}: {getattr(exc, 'filename', '') or output or ''}")


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
    from ..export import ExportError, export_run
    from ..store import RunReader, StoreError
    cfg = get_config(ctx)
    out = output_path(output)
    try:
        with RunReader(resolve_run(cfg, run_ref)) as r:
            files, notes = export_run(r, fmt, out, streams)
    except (StoreError, ExportError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"export: {exc.strerror or exc}: {getattr(exc, 'filename', '') or output or ''}")
    for n in notes:
        click.echo(f"note: {n}", err=True)
    for f in files:
        click.echo(str(f))
