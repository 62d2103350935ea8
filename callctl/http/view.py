"""The dashboard (``/``), its JSON (``/v1/dashboard/…``), the live stream (``/v1/stream``,
Server-Sent Events) and ``/metrics`` (Prometheus).

Access is the app's bearer-token middleware (:mod:`callctl.http.auth`): the page and its
static files carry no data and are served to anyone; ``/metrics`` is open to loopback
clients (setting ``http_open_loopback``); the dashboard's JSON and the stream need a token,
which the stream also takes as ``?token=`` (``EventSource`` cannot set headers).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from callctl.http.auth import open_on_loopback, open_to_all, token_in_query
from callctl.http.errors import ApiError
from callctl.http.keys import CONTROLLER
from callctl.service.dashboard import day_summary, line_usage
from callctl.service.metrics import Metrics
from callctl.service.stream import EventHub

log = logging.getLogger("callctl.http.view")

HUB = web.AppKey("hub", EventHub)
METRICS = web.AppKey("metrics", Metrics)
STATIC = Path(str(resources.files("callctl.http") / "static"))
KEEPALIVE = 15.0  # seconds between comment lines on an idle stream
RETRY_MS = 1000  # EventSource's reconnection delay


async def index(request: web.Request) -> web.FileResponse:
    del request
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def exposition(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def summary(request: web.Request) -> web.Response:
    app = request.app
    return web.json_response(await day_summary(app[CONTROLLER], app[HUB]))


async def lines(request: web.Request) -> web.Response:
    return web.json_response(await line_usage(request.app[CONTROLLER]))


def resume_position(request: web.Request) -> int | None:
    """``Last-Event-ID`` (set by a reconnecting EventSource), else ``?after=``; None if
    neither is given. A value that is not an integer is a bad request."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("after")
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError("bad_request", f"not an event id: {raw[:40]!r}") from None


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: a control frame (hello or reset), the backlog, then live events."""
    hub = request.app[HUB]
    after = resume_position(request)
    start = hub.subscribe(after)  # before any await: nothing published is missed
    sub = start.subscription
    transport = request.transport
    if transport is not None:  # a dropped client's handler may be stuck in a write
        sub.on_drop = transport.abort
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        head = f"retry: {RETRY_MS}\n\n".encode() + start.control
        await response.write(head + b"".join(e.wire for e in start.backlog))
        while (batch := await sub.next(KEEPALIVE)) is not None:
            await response.write(b"".join(e.wire for e in batch) or b": keepalive\n\n")
        if sub.dropped:
            log.info("stream client %s dropped: %d events behind", request.remote, sub.limit)
    except ConnectionError:
        pass  # the client left
    finally:
        hub.unsubscribe(sub)
    return response


def add_view(app: web.Application, *, hub: EventHub, metrics: Metrics) -> None:
    """Add the dashboard, its JSON, the stream and /metrics to ``app`` (a feature of
    :func:`callctl.http.app.make_app`)."""
    app[HUB] = hub
    app[METRICS] = metrics
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/metrics", exposition)
    app.router.add_get("/v1/dashboard/summary", summary)
    app.router.add_get("/v1/dashboard/lines", lines)
    app.router.add_get("/v1/stream", stream)
    open_to_all(app, "/", "/static/")
    open_on_loopback(app, "/metrics")
    token_in_query(app, "/v1/stream")
    app.on_shutdown.append(_close_streams)


async def _close_streams(app: web.Application) -> None:
    app[HUB].close()
