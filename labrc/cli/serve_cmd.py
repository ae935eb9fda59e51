"""``labrc serve``: the local web page over the data directory (labrc.web)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import fail, get_config, main


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
    from ..web import ServeError, serve
    cfg = get_config(ctx)
    host = host or cfg.serve.host
    try:
        sys.exit(serve(Path(data) if data else cfg.data_dir, host, cfg.serve.port if port is None else port,
                       cfg.serve.token, new_token, echo=click.echo))
    except ServeError as exc:
        fail(str(exc))
