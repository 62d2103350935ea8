"""Read-only queries for the dashboard, beside :class:`callctl.store.repository.Store`'s
write paths: one period's counters of every line, the records inserted last."""

from __future__ import annotations

from sqlalchemy import select

from callctl.core.rating import Usage
from callctl.core.records import CallKey
from callctl.store.models import CallRecordRow, UsageRow
from callctl.store.repository import Store


async def period_usage(store: Store, period: str) -> dict[str, Usage]:
    """The counters of every line that drew anything in ``period`` ('YYYY-MM'), by number."""
    stmt = select(UsageRow.line, UsageRow.bundle_seconds, UsageRow.fair_use_seconds).where(
        UsageRow.period == period
    )
    async with store.engine.connect() as conn:
        rows = await conn.execute(stmt)
        return {line: Usage(period, bundle, fair) for line, bundle, fair in rows}


async def latest_keys(store: Store, count: int) -> list[CallKey]:
    """The keys of the ``count`` records inserted last, newest first."""
    stmt = (
        select(CallRecordRow.host, CallRecordRow.call_id)
        .order_by(CallRecordRow.id.desc())
        .limit(count)
    )
    async with store.engine.connect() as conn:
        return [CallKey(host, call_id) for host, call_id in await conn.execute(stmt)]
