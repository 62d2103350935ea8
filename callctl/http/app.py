"""The aiohttp application: an app factory with typed keys, ``/healthz`` and the features.

:func:`make_app` builds the app every HTTP feature hangs on: the JSON error middleware
(outermost), the bearer-token middleware, the shared state (:mod:`callctl.http.keys`), and
``/healthz``; then each feature of :data:`FEATURES` adds its routes (and, if it needs them,
``cleanup_ctx`` entries and loopback paths with :func:`callctl.http.auth.open_on_loopback`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from aiohttp import web
from sqlalchemy import text

from callctl import __version__
from callctl.agi.server import FastAgiServer
from callctl.api.v1 import add_api
from callctl.http.auth import ACCESS, TOKENS, Access, auth_middleware, open_on_loopback
from callctl.http.errors import MAX_BODY_BYTES, SERVER_ERRORS, ErrorCounter, error_middleware
from callctl.http.keys import AGI, CONTROLLER
from callctl.service.controller import Controller
from callctl.store.tokens import TokenStore

__all__ = ["AGI", "CONTROLLER", "FEATURES", "make_app"]

DB_CHECK_TIMEOUT = 1.0

Feature = Callable[[web.Application], None]
FEATURES: tuple[Feature, ...] = (add_api,)  # the REST API; metrics, events… add theirs here


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers; 503 (with the same body) when it does not."""
    controller = request.app[CONTROLLER]
    agi = request.app[AGI]
    database = "ok"
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT):
            async with controller.store.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure is "not healthy", said in the body
        database = f"error: {type(exc).__name__}"
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "version": __version__,
        "tariff": controller.tariff.id,
        "database": database,
        "agi": {
            "port": agi.port,
            "active_sessions": agi.active_sessions,
            "open_connections": agi.open_connections,
            "sessions_total": agi.counters.sessions_total,
            "deadline_hits": agi.counters.deadline_hits,
        },
        "active_calls": len(controller.active),
    }
    spooler = controller.spooler
    if spooler is not None:  # writes kept on disk for the database (docs/operations.md)
        body["spool"] = {**spooler.depth, "rejected": spooler.rejected}
    return web.json_response(body, status=200 if database == "ok" else 503)


def make_app(
    controller: Controller,
    agi: FastAgiServer,
    *,
    open_loopback: bool = True,
    features: Iterable[Feature] = FEATURES,
) -> web.Application:
    """The HTTP app: tokens required except ``/healthz`` (and features' paths) on loopback."""
    app = web.Application(
        middlewares=[error_middleware, auth_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[CONTROLLER] = controller
    app[AGI] = agi
    app[SERVER_ERRORS] = ErrorCounter()
    app[ACCESS] = Access(open_loopback)
    app[TOKENS] = TokenStore(controller.store.engine)
    app.router.add_get("/healthz", healthz)
    open_on_loopback(app, "/healthz")
    for feature in features:
        feature(app)
    return app
