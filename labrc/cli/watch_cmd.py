"""``labrc watch``: the live view of a run while another process writes it (rate over the file's flushes)."""

from __future__ import annotations

import sys

import click

from ..humanize import format_duration
from ..rate import RateMeter
from .common import fail, get_config, main, resolve_run


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

    from ..store import RunReader, StoreError
    cfg = get_config(ctx)
    path = resolve_run(cfg, run_ref)
    try:
        r = RunReader(path)
    except StoreError as exc:
        fail(str(exc))
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
