"""Records that draw nothing (refusals, cancelled attempts), written in batches.

Writing each refusal in its own transaction cost about 3 ms of CPU through SQLAlchemy's
async session and held the controller's throughput down (docs/performance.md). These
records need no locked counters, so they are queued and written together: one transaction
per batch, at most ``linger`` seconds after the first record of the batch arrived. Records
that draw counters (hangups) never go through here: they are settled one by one.
A repeated key is ignored by the database (R10), so a batch may be retried whole.

When the database does not take a batch (down, or slower than ``WRITE_BUDGET``), the batch
is handed to ``spill`` (the durable spool, :mod:`callctl.service.spooler`), which writes it
once the database answers again; without a spill, or if spilling fails too, the batch stays
in memory and is tried again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from callctl.core.records import CallRecord
from callctl.service.spooler import Budget
from callctl.store.repository import Store

log = logging.getLogger("callctl.records")

MAX_BATCH = 500
LINGER = 0.05  # seconds
RETRY_DELAY = 1.0
WRITE_BUDGET = 5.0  # seconds a batch may take before it is spilled to the spool

Written = Callable[[Sequence[CallRecord], float], None]
"""Told of each committed batch and the seconds its transaction took."""

Spill = Callable[[Sequence[CallRecord]], Awaitable[None]]
"""Keeps a batch the database did not take (durably), for writing later."""


class RecordQueue:
    def __init__(
        self,
        store: Store,
        linger: float = LINGER,
        max_batch: int = MAX_BATCH,
        on_written: Written | None = None,
        spill: Spill | None = None,
    ) -> None:
        self.store = store
        self.on_written = on_written
        self.spill = spill
        self._within = Budget()
        self.linger = linger
        self.max_batch = max_batch
        self._pending: list[CallRecord] = []
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def put(self, record: CallRecord) -> None:
        """Queue a record; it is written within ``linger`` seconds (or at close)."""
        self._pending.append(record)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(self.linger)
            await self._write_pending()

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = (
                self._pending[: self.max_batch],
                self._pending[self.max_batch :],
            )
            started = time.perf_counter()
            try:
                added = self.store.add_records(batch)
                self.written += await self._within(added, WRITE_BUDGET if self.spill else None)
            except Exception as exc:  # the database is down: spool them, else try again
                if await self._spilled(batch, exc):
                    continue
                log.exception("writing %d records failed; retrying", len(batch))
                self._pending[:0] = batch
                await asyncio.sleep(RETRY_DELAY)
                continue
            if self.on_written is not None:
                self.on_written(batch, time.perf_counter() - started)

    async def _spilled(self, batch: list[CallRecord], exc: Exception) -> bool:
        if self.spill is None:
            return False
        try:
            await self.spill(batch)
        except Exception:
            log.exception("spooling %d records failed", len(batch))
            return False
        log.warning("writing %d records failed (%s): spooled", len(batch), type(exc).__name__)
        return True

    async def close(self) -> None:
        """Write everything still queued."""
        if self._task is not None:
            await self._task
        await self._write_pending()
        await self._within.cancel_late()
