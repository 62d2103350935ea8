"""A short-lived read-through cache of lines and their usage counters, for decisions.

A decision reads the calling line and its counters for the period. Through SQLAlchemy's
async session that costs about 0.7 ms of CPU per read (connection check-out, a worker
thread hop per step), which capped the controller near 400 decisions/s on one core (see
docs/performance.md). Decisions may use values up to ``ttl`` seconds old: a line edited in
the database, or counters drawn by another callctl process, are seen within that time.
This process's own draws invalidate the line's counters at once. Draws themselves are
never cached: they happen inside the store's locked transaction.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from callctl.core.lines import Line
from callctl.core.rating import Usage
from callctl.store.repository import Store

K = TypeVar("K")
V = TypeVar("V")
DEFAULT_TTL = 2.0
MAX_ENTRIES = 100_000


class LineCache:
    def __init__(
        self,
        store: Store,
        ttl: float = DEFAULT_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self._now = monotonic
        self._lines: dict[str, tuple[float, Line | None]] = {}
        self._usage: dict[tuple[str, str], tuple[float, Usage]] = {}
        self._loading: dict[object, asyncio.Future[Any]] = {}

    async def line(self, number: str) -> Line | None:
        return await self._read(self._lines, number, lambda: self.store.get_line(number))

    async def usage(self, number: str, period: str) -> Usage:
        return await self._read(
            self._usage, (number, period), lambda: self.store.get_usage(number, period)
        )

    async def _read(
        self,
        table: dict[K, tuple[float, V]],
        key: K,
        load: Callable[[], Awaitable[V]],
    ) -> V:
        """A fresh cached value, else one load shared by every concurrent reader of ``key``."""
        hit = table.get(key)
        if hit is not None and self._now() - hit[0] < self.ttl:
            return hit[1]
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load())
            self._loading[key] = pending
            pending.add_done_callback(lambda _: self._loading.pop(key, None))
        value: V = await asyncio.shield(pending)
        self._put(table, key, value)
        return value

    def last(self, number: str) -> Line | None:
        """The line as last read, however old (None if never read): for decisions taken
        while the database does not answer (docs/operations.md)."""
        hit = self._lines.get(number)
        return None if hit is None else hit[1]

    def last_usage(self, number: str, period: str) -> Usage | None:
        """The counters as last read, however old (None if never read)."""
        hit = self._usage.get((number, period))
        return None if hit is None else hit[1]

    def forget(self, number: str) -> None:
        """The line was changed here (the REST API): read it afresh next time."""
        self._lines.pop(number, None)

    def drawn(self, number: str, period: str) -> None:
        """This process drew the line's counters: read them afresh next time (the old
        values stay as the last known ones)."""
        hit = self._usage.get((number, period))
        if hit is not None:
            self._usage[(number, period)] = (-math.inf, hit[1])

    def _put(self, table: dict[K, tuple[float, V]], key: K, value: V) -> None:
        if len(table) >= MAX_ENTRIES:
            table.clear()  # bounded memory; the next reads refill it
        table[key] = (self._now(), value)
