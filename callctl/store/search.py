"""Reading call records (R10) for the REST API: filtered pages by keyset, and streams.

Records are ordered by (decided_at, id). A page ends at a :class:`Position` (the last
record's decision time and row id); the next page starts strictly after it, on the index
``ix_call_records_decided_at_id`` (or ``…_line_decided_at`` for one line). Records written
meanwhile never shift a page: the ones that sort after the position show up on later pages,
none is seen twice or skipped. :meth:`RecordSearch.stream` reads a whole selection in
batches from a server-side cursor (``yield_per``), so an export holds one batch at a time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from callctl.core.records import CallRecord
from callctl.store.convert import record_from_columns
from callctl.store.models import CallRecordRow

RECORDS = CallRecordRow.__table__
STREAM_BATCH = 2000


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records: every given field must match; ``since`` ≤ decided_at < ``until``."""

    line: str | None = None
    period: str | None = None
    group: str | None = None
    disposition: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last record's decision time and row id."""

    decided_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class Page:
    """Records in order, and the position to continue from (None: nothing after them)."""

    records: list[CallRecord]
    next: Position | None


class RecordSearch:
    """Filtered, ordered reads of ``call_records`` (the store's engine; not owned)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def page(
        self,
        where: RecordFilter,
        limit: int,
        after: Position | None = None,
        *,
        descending: bool = False,
    ) -> Page:
        """At most ``limit`` records after ``after`` (before it, when ``descending``)."""
        if limit < 1:
            raise ValueError("a page holds at least one record")
        stmt = _select(where, descending)
        if after is not None:
            key = tuple_(RECORDS.c.decided_at, RECORDS.c.id)
            bound = (after.decided_at, after.id)
            stmt = stmt.where(key < bound if descending else key > bound)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt.limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more else None
        return Page(
            [record_from_columns(r._asdict()) for r in rows],
            Position(last.decided_at, last.id) if last is not None else None,
        )

    async def stream(
        self, where: RecordFilter, batch: int = STREAM_BATCH
    ) -> AsyncGenerator[list[CallRecord], None]:
        """Every selected record, oldest first, in lists of at most ``batch``."""
        stmt = _select(where, False).execution_options(yield_per=batch)
        async with self.engine.connect() as conn:
            result = await conn.stream(stmt)
            try:
                async for rows in result.partitions():
                    yield [record_from_columns(r._asdict()) for r in rows]
            finally:
                await result.close()


def _select(where: RecordFilter, descending: bool) -> Select[tuple[object, ...]]:
    stmt: Select[tuple[object, ...]] = select(RECORDS)
    c = RECORDS.c
    for column, value in (
        (c.line, where.line),
        (c.period, where.period),
        (c.group, where.group),
        (c.disposition, where.disposition),
        (c.action, where.action),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if where.since is not None:
        stmt = stmt.where(c.decided_at >= where.since)
    if where.until is not None:
        stmt = stmt.where(c.decided_at < where.until)
    if descending:
        return stmt.order_by(c.decided_at.desc(), c.id.desc())
    return stmt.order_by(c.decided_at, c.id)
