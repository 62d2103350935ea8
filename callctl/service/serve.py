"""``callctl serve``: one asyncio process with the FastAGI server and the HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from aiohttp import web

from callctl.agi.server import FastAgiServer
from callctl.core.fraud import AuthGuard
from callctl.data import default_emergency_plan, default_tariff, read_tariff
from callctl.http.app import FEATURES, make_app
from callctl.http.view import add_view
from callctl.service.authwatch import SecurityLogWatcher
from callctl.service.clock import Clock
from callctl.service.config import Settings
from callctl.service.controller import Controller
from callctl.service.heap import HeapTrimmer
from callctl.service.metrics import Metrics
from callctl.service.observer import Observers
from callctl.service.spooler import Spooler
from callctl.service.stream import EventHub
from callctl.store.db import make_engine
from callctl.store.migrate import migrate
from callctl.store.repository import Store
from callctl.store.spool import Spool, default_spool_path

log = logging.getLogger("callctl.serve")


@dataclass(frozen=True, slots=True)
class Service:
    """The parts of a running ``callctl serve``."""

    controller: Controller
    agi: FastAgiServer
    hub: EventHub
    metrics: Metrics
    http_port: int  # the bound port (the ephemeral one when started with port 0)
    watcher: SecurityLogWatcher | None = None  # the fraud guard's, when security_log is set
    heap: HeapTrimmer | None = None  # the periodic malloc_trim (off: interval 0)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Service]:
    """Start everything (database migrated, FastAGI, HTTP), yield it, then close it all."""
    tariff = default_tariff() if settings.tariff is None else read_tariff(settings.tariff)
    start = settings.clock_start()
    clock = Clock.starting_at(start) if start else Clock()
    engine = make_engine(settings.db)
    try:
        await migrate(engine)
        hub = EventHub()
        metrics = Metrics()
        observer = Observers(metrics, hub)
        spool_path = Path(settings.spool) if settings.spool else default_spool_path(settings.db)
        spooler = Spooler(Spool(spool_path, settings.db), observer)
        controller = Controller(
            Store(engine), tariff, default_emergency_plan(), clock, observer=observer,
            spooler=spooler, spool_max=settings.spool_max,
        )  # fmt: skip
        agi = FastAgiServer(
            controller.handle,
            host=settings.agi_host,
            port=settings.agi_port,
            deadline=settings.agi_deadline,
            max_sessions=settings.max_sessions,
            on_deadline=controller.safe_answer,
            max_connections=settings.agi_max_connections or None,
            env_timeout=settings.agi_env_timeout,
        )
        metrics.watch(
            lambda: len(controller.active),
            lambda: agi.counters,
            stream_clients=lambda: len(hub.subscribers),
            stream_dropped=lambda: hub.dropped,
            spool_depth=lambda: spooler.waiting,
        )
        app = make_app(
            controller,
            agi,
            open_loopback=settings.http_open_loopback,
            features=(*FEATURES, partial(add_view, hub=hub, metrics=metrics)),
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        watcher = None
        if settings.security_log:
            watcher = SecurityLogWatcher(
                AuthGuard(tariff.fraud.auth),
                Path(settings.security_log),
                observer,
                acl_file=Path(settings.acl_file) if settings.acl_file else None,
                reload_command=settings.acl_reload,
            )
            await watcher.start()
        controller.start()  # drains what an earlier run left in the spool
        await agi.start()
        heap = HeapTrimmer(settings.malloc_trim_interval)
        heap.start()
        try:
            site = web.TCPSite(runner, settings.http_host, settings.http_port)
            await site.start()
            http_port = int(runner.addresses[0][1])
            log.info(
                "callctl serving: FastAGI %s:%d, HTTP %s:%d, database %s, spool %s, tariff %s%s",
                settings.agi_host, agi.port, settings.http_host, http_port,
                engine.url.render_as_string(hide_password=True), spool_path, tariff.id,
                f", test clock from {start.isoformat()}" if start else "",
            )  # fmt: skip
            yield Service(controller, agi, hub, metrics, http_port, watcher, heap)
        finally:
            await heap.close()
            if watcher is not None:
                await watcher.close()
            await agi.close()
            await controller.drain()
            await runner.cleanup()
    finally:
        await engine.dispose()


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set), then close everything cleanly."""
    async with running(settings):
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("callctl stopping")
