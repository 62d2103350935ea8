"""``callctl serve``: one asyncio process with the FastAGI server and the HTTP server."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from callctl.agi.server import FastAgiServer
from callctl.data import default_emergency_plan, default_tariff, read_tariff
from callctl.http.app import make_app
from callctl.service.clock import Clock
from callctl.service.config import Settings
from callctl.service.controller import Controller
from callctl.store.db import make_engine
from callctl.store.migrate import migrate
from callctl.store.repository import Store

log = logging.getLogger("callctl.serve")


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set), then close everything cleanly."""
    tariff = default_tariff() if settings.tariff is None else read_tariff(settings.tariff)
    start = settings.clock_start()
    clock = Clock.starting_at(start) if start else Clock()
    engine = make_engine(settings.db)
    try:
        await migrate(engine)
        controller = Controller(Store(engine), tariff, default_emergency_plan(), clock)
        agi = FastAgiServer(
            controller.handle,
            host=settings.agi_host,
            port=settings.agi_port,
            deadline=settings.agi_deadline,
            max_sessions=settings.max_sessions,
            on_deadline=controller.safe_answer,
        )
        app = make_app(controller, agi, open_loopback=settings.http_open_loopback)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await agi.start()
        try:
            site = web.TCPSite(runner, settings.http_host, settings.http_port)
            await site.start()
            stop = stop or asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            log.info(
                "callctl serving: FastAGI %s:%d, HTTP %s:%d, database %s, tariff %s%s",
                settings.agi_host, agi.port, settings.http_host, settings.http_port,
                engine.url.render_as_string(hide_password=True), tariff.id,
                f", test clock from {start.isoformat()}" if start else "",
            )  # fmt: skip
            await stop.wait()
            log.info("callctl stopping")
        finally:
            await agi.close()
            await controller.drain()
            await runner.cleanup()
    finally:
        await engine.dispose()
