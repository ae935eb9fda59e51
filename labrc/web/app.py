"""The ASGI application of ``labrc serve`` (Starlette) and its routes.

==============================  ======  =====================================================================
route                           method  what
==============================  ======  =====================================================================
``/``                           GET     the run list (static page; data from the two routes below)
``/api/runs``                   GET     the run list as JSON
``/api/runs/stream``            GET     server-sent events: the run list whenever it changes (polled 1 s)
``/run/{ref}``                  GET     a run's page (static page)
``/api/run/{ref}``              GET     summary, Plotly figure and newest events as JSON
``/api/run/{ref}/stream``       GET     server-sent events: the same whenever it changes (polled 1 s)
``/api/run/{ref}/stop``         POST    stop the run (token in the X-Labrc-Token header; labrc.web.control)
``/download/{ref}/run.h5``      GET     a finished run's file
``/static/...``                 GET     the page's own files and Plotly's bundled plotly.min.js (no CDN)
==============================  ======  =====================================================================

``{ref}`` is a run directory relative to the data directory, checked by
:func:`labrc.web.security.resolve_run_dir` (404 for anything else). Every file read runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import plotly
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .control import StopRefused, stop_run
from .live import LiveRuns, RunIndex, _json_default
from .security import TOKEN_COOKIE, TOKEN_HEADER, resolve_run_dir, token_ok

STATIC = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PUSH_S = 2.0               # live pages get news this often (the issue: at least every 2 s); measured cost below


class TokenGate:
    """ASGI middleware: on a non-local bind every request needs the token (header, cookie, or ``?token=``
    on a page, which sets the cookie); on loopback only state-changing requests do (checked in the route)."""

    def __init__(self, app, token: str, local: bool) -> None:
        self.app, self.token, self.local = app, token, local

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or self.local:
            return await self.app(scope, receive, send)
        req = Request(scope)
        given = req.headers.get(TOKEN_HEADER) or req.cookies.get(TOKEN_COOKIE)
        if token_ok(given, self.token):
            return await self.app(scope, receive, send)
        if req.method == "GET" and token_ok(req.query_params.get("token"), self.token):
            resp = RedirectResponse(req.url.remove_query_params("token"), status_code=303)
            resp.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
            return await resp(scope, receive, send)
        resp = JSONResponse({"error": "access token required (this server listens beyond this computer)"},
                            status_code=401)
        return await resp(scope, receive, send)


def _dumps(obj) -> str:
    return json.dumps(obj, default=_json_default)


def create_app(data_dir: Path, token: str, local: bool = True) -> Starlette:
    """The application over ``data_dir``; ``local`` = bound to the loopback only."""
    root = Path(data_dir).resolve()
    index, live = RunIndex(root), LiveRuns(root)

    def run_dir_of(request: Request) -> Path | None:
        return resolve_run_dir(root, request.path_params.get("ref", ""))

    async def page_index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_NO_STORE)

    async def page_run(request: Request) -> Response:
        if await run_in_threadpool(run_dir_of, request) is None:
            return JSONResponse({"error": "no such run in the data directory"}, status_code=404)
        return FileResponse(STATIC / "run.html", headers=_NO_STORE)

    async def api_runs(request: Request) -> Response:
        rows = await run_in_threadpool(index.rows)
        return Response(_dumps({"data_dir": str(root), "runs": rows}), media_type="application/json")

    async def api_runs_stream(request: Request) -> Response:
        async def gen():
            last = None
            while True:
                rows = await run_in_threadpool(index.rows)
                text = _dumps({"data_dir": str(root), "runs": rows})
                if text != last:
                    last = text
                    yield {"event": "runs", "data": text}
                await asyncio.sleep(PUSH_S)
        return EventSourceResponse(gen(), ping=15)

    async def api_run(request: Request) -> Response:
        d = await run_in_threadpool(run_dir_of, request)
        if d is None:
            return JSONResponse({"error": "no such run in the data directory"}, status_code=404)
        _, payload, _ = await run_in_threadpool(live.get(d).snapshot)
        return Response(payload, media_type="application/json")

    async def api_run_stream(request: Request) -> Response:
        d = await run_in_threadpool(run_dir_of, request)
        if d is None:
            return JSONResponse({"error": "no such run in the data directory"}, status_code=404)
        lr = live.get(d)

        async def gen():
            seen = -1
            while True:
                version, payload, status = await run_in_threadpool(lr.snapshot)
                if version != seen and payload:
                    seen = version
                    yield {"event": "update", "data": payload}
                    if status != "running":
                        yield {"event": "end", "data": "{}"}
                        return
                await asyncio.sleep(PUSH_S)
        return EventSourceResponse(gen(), ping=15)

    async def api_stop(request: Request) -> Response:
        if not token_ok(request.headers.get(TOKEN_HEADER), token):
            return JSONResponse({"error": "the access token is required to stop a run (X-Labrc-Token header)"},
                                status_code=403)
        d = await run_in_threadpool(run_dir_of, request)
        if d is None:
            return JSONResponse({"error": "no such run in the data directory"}, status_code=404)
        try:
            out = await run_in_threadpool(stop_run, d)
        except StopRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse(out, status_code=202)

    async def download(request: Request) -> Response:
        d = await run_in_threadpool(run_dir_of, request)
        if d is None:
            return JSONResponse({"error": "no such run in the data directory"}, status_code=404)
        rows = await run_in_threadpool(index.rows)
        row = next((r for r in rows if r["ref"] == d.relative_to(root).as_posix()), None)
        if row is None or row["status"] == "running":
            return JSONResponse({"error": "only a finished run's file is served"}, status_code=409)
        return FileResponse(d / "run.h5", filename=f"{d.name}.h5", media_type="application/x-hdf5")

    async def plotly_js(request: Request) -> Response:
        return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    routes = [
        Route("/", page_index),
        Route("/api/runs", api_runs),
        Route("/api/runs/stream", api_runs_stream),
        Route("/run/{ref:path}", page_run),
        Route("/api/run/{ref:path}/stream", api_run_stream),
        Route("/api/run/{ref:path}/stop", api_stop, methods=["POST"]),
        Route("/api/run/{ref:path}", api_run),
        Route("/download/{ref:path}/run.h5", download),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", app=StaticFiles(directory=STATIC, follow_symlink=False), name="static"),
    ]
    middleware = [Middleware(TokenGate, token=token, local=local)]
    if local:   # DNS rebinding: a page elsewhere cannot talk to the loopback server under its own host name
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "::1",
                                                                              "[::1]"]))
    return Starlette(routes=routes, middleware=middleware)


_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
             "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                        "script-src 'self' 'unsafe-eval'; img-src 'self' data:; object-src 'none'"}
