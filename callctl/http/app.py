"""The aiohttp application: an app factory with typed keys, ``/healthz`` for now."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from callctl import __version__
from callctl.agi.server import FastAgiServer
from callctl.service.controller import Controller

CONTROLLER = web.AppKey("controller", Controller)
AGI = web.AppKey("agi", FastAgiServer)
DB_CHECK_TIMEOUT = 1.0


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
            "sessions_total": agi.counters.sessions_total,
            "deadline_hits": agi.counters.deadline_hits,
        },
        "active_calls": len(controller.active),
    }
    return web.json_response(body, status=200 if database == "ok" else 503)


def make_app(controller: Controller, agi: FastAgiServer) -> web.Application:
    app = web.Application()
    app[CONTROLLER] = controller
    app[AGI] = agi
    app.router.add_get("/healthz", healthz)
    return app
