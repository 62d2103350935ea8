"""The dashboard (``/``), its JSON (``/v1/dashboard/…``), the live stream (``/v1/stream``,
Server-Sent Events) and ``/metrics`` (Prometheus).

Authentication is a seam, not a system: handlers of ``/v1/…`` ask the coroutine stored
under :data:`AUTHORIZE` (when there is one) whether the request's token may read; the token
is the ``Authorization: Bearer`` header or, for ``EventSource`` which cannot set headers,
the ``token`` query parameter (:func:`request_token`). Without an authorizer they are open.
The page and its static files carry no data and are always served.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from callctl.service.controller import Controller
from callctl.service.dashboard import day_summary, line_usage
from callctl.service.metrics import Metrics
from callctl.service.stream import EventHub

log = logging.getLogger("callctl.http.view")

Authorize = Callable[[web.Request, str | None], Awaitable[bool]]
"""Given the request and its token (or None): may it read the dashboard's data?"""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

VIEW_CONTROLLER = web.AppKey("view_controller", Controller)
HUB = web.AppKey("hub", EventHub)
METRICS = web.AppKey("metrics", Metrics)
AUTHORIZE: web.AppKey[Authorize] = web.AppKey("authorize")
STATIC = Path(str(resources.files("callctl.http") / "static"))
KEEPALIVE = 15.0  # seconds between comment lines on an idle stream
RETRY_MS = 1000  # EventSource's reconnection delay


def request_token(request: web.Request) -> str | None:
    """The bearer token of the header, else of the ``token`` query parameter."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query.get("token") or None


def protected(handler: Handler) -> Handler:
    """Refuse with 401 when an authorizer is set and says no."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        authorize = request.app.get(AUTHORIZE)
        if authorize is not None and not await authorize(request, request_token(request)):
            return web.json_response({"error": "unauthorized"}, status=401)
        return await handler(request)

    return guarded


async def index(request: web.Request) -> web.FileResponse:
    del request
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def summary(request: web.Request) -> web.Response:
    app = request.app
    return web.json_response(await day_summary(app[VIEW_CONTROLLER], app[HUB]))


async def lines(request: web.Request) -> web.Response:
    return web.json_response(await line_usage(request.app[VIEW_CONTROLLER]))


def resume_position(request: web.Request) -> int | None:
    """``Last-Event-ID`` (set by a reconnecting EventSource), else ``?after=``; None if
    neither is given. A value that is not an integer is a bad request."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("after")
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"not an event id: {raw[:40]!r}") from None


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


def add_view(app: web.Application, controller: Controller, hub: EventHub, m: Metrics) -> None:
    """Add the dashboard, its JSON, the stream and /metrics to ``app``."""
    app[VIEW_CONTROLLER] = controller
    app[HUB] = hub
    app[METRICS] = m
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/dashboard/summary", protected(summary))
    app.router.add_get("/v1/dashboard/lines", protected(lines))
    app.router.add_get("/v1/stream", protected(stream))
    app.on_shutdown.append(_close_streams)


async def _close_streams(app: web.Application) -> None:
    app[HUB].close()
