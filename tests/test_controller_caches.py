"""The controller's read cache and batched record writes, on a real SQLite store (R10)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from callctl.core.lines import Address, Line
from callctl.core.rating import Usage
from callctl.core.records import CallKey, CallRecord
from callctl.service.line_cache import LineCache
from callctl.service.record_queue import RecordQueue
from callctl.store import make_engine, migrate
from callctl.store.repository import Store

LINE = Line("+3222000001", "classic", install_address=Address("Rue de la Loi 16", "1000", "Bxl"))


def refusal(call_id: str) -> CallRecord:
    return CallRecord(
        key=CallKey("pbx", call_id), line=LINE.number, dialled="0900123", e164=None,
        group="invalid", country=None, clir=False, action="refuse", target=None, sip_code=484,
        reason="too short", decided_at=datetime(2026, 11, 26, 9, tzinfo=UTC),
        disposition="REFUSED", period="2026-11",
    )  # fmt: skip


def run(tmp_path: Path, test: Callable[[Store], Awaitable[None]]) -> None:
    async def main() -> None:
        url = f"sqlite:///{tmp_path / 'c.db'}"
        await migrate(url)
        engine = make_engine(url)
        try:
            await test(Store(engine))
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_line_cache_serves_fresh_values_and_sees_changes_after_its_ttl(tmp_path: Path) -> None:
    async def test(store: Store) -> None:
        now = [0.0]
        cache = LineCache(store, ttl=2.0, monotonic=lambda: now[0])
        assert await cache.line(LINE.number) is None
        await store.upsert_lines([LINE])
        assert await cache.line(LINE.number) is None  # still fresh: 2 s
        now[0] = 2.5
        assert await cache.line(LINE.number) == LINE
        # concurrent readers of one key share one load
        now[0] = 10.0
        lines = await asyncio.gather(*(cache.line(LINE.number) for _ in range(50)))
        assert all(line == LINE for line in lines)
        assert await cache.usage(LINE.number, "2026-11") == Usage("2026-11")

    run(tmp_path, test)


def test_own_draws_invalidate_the_cached_counters(tmp_path: Path) -> None:
    async def test(store: Store) -> None:
        cache = LineCache(store, ttl=60.0)
        await store.upsert_lines([LINE])
        assert (await cache.usage(LINE.number, "2026-11")).bundle_seconds == 0

        def draw(usage: Usage) -> tuple[CallRecord, Usage]:
            return refusal("drawn"), Usage(usage.period, usage.bundle_seconds + 30, 0)

        await store.settle(CallKey("pbx", "drawn"), LINE.number, "2026-11", draw)
        assert (await cache.usage(LINE.number, "2026-11")).bundle_seconds == 0  # cached
        cache.drawn(LINE.number, "2026-11")
        assert (await cache.usage(LINE.number, "2026-11")).bundle_seconds == 30

    run(tmp_path, test)


def test_record_queue_writes_every_record_once_in_batches(tmp_path: Path) -> None:
    async def test(store: Store) -> None:
        queue = RecordQueue(store, linger=0.01, max_batch=40)
        for i in range(100):
            queue.put(refusal(f"r{i}"))
        queue.put(refusal("r7"))  # a repeated key: R10, still one record
        await asyncio.sleep(0.2)
        await queue.close()
        records = await store.list_records(limit=1000)
        assert sorted(r.key.call_id for r in records) == sorted(f"r{i}" for i in range(100))
        assert queue.written == 100

    run(tmp_path, test)
