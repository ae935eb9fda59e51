"""``labrc serve``: a local web page over the data directory — run list, live run pages, stop from the page.

One module per job: :mod:`.app` (Starlette routes and the token gate), :mod:`.live` (what the pages show, read
through SWMR in worker threads), :mod:`.figures` and :mod:`.decimate` (Plotly figures, bounded for 10⁷-cycle
runs), :mod:`.control` (the stop: SIGINT to the verified writer, the path of Ctrl-C), :mod:`.security` (the
token, the loopback default, the path gate). Notifications are :mod:`labrc.notify` (they belong to the run
process, not to the server). Served by uvicorn; the server never writes into the data directory.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from .security import ServeError, is_loopback, resolve_token

__all__ = ["ServeError", "serve"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"--host {host} --port {port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(data_dir: Path, host: str = "127.0.0.1", port: int = 8765, configured_token: str = "",
          new_token: bool = False, echo=print) -> int:
    """Serve ``data_dir`` until interrupted (Ctrl-C). Refuses (ServeError) a non-local bind without a token."""
    import uvicorn

    from .app import create_app
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ServeError(f"--data {data_dir}: no such folder (the data directory of the runs, data.dir)")
    local = is_loopback(host)
    token, where, generated = resolve_token(host, configured_token, regenerate=new_token)
    sock = _bind(host, port)
    name = sock.getsockname()
    shown = f"[{name[0]}]" if sock.family == socket.AF_INET6 else name[0]
    echo(f"labrc serve: {data_dir.resolve()} on http://{shown}:{name[1]}/"
         + ("" if local else "  (beyond this computer: every request needs the token)"))
    if generated:
        echo(f"access token (shown once; stored 0600 in {where}): {token}")
    else:
        echo(f"access token: from {where}")
    sys.stdout.flush()
    app = create_app(data_dir, token, local)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
