"""The store's operations on lines, usage counters and call records (R6, R7, R10).

:meth:`Store.settle` is the one write path that draws counters: in one transaction it
checks that the call has no record yet (R10: a repeated hangup changes nothing), locks the
line's counters for the period, lets a pure function rate the call against them, and writes
the record and the new counters together. Every write transaction takes the write lock
first (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so concurrent
calls of one line draw the bundle one after the other, never both from the same balance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callctl.core.lines import Line
from callctl.core.rating import Usage
from callctl.core.records import CallKey, CallRecord
from callctl.store.convert import (
    line_from_row,
    line_values,
    record_from_row,
    record_to_row,
    record_values,
    usage_from_row,
)
from callctl.store.db import writer
from callctl.store.models import Base, CallRecordRow, LineRow, UsageRow, utcnow

Compute = Callable[[Usage], tuple[CallRecord, Usage]]

_KEYS_PER_QUERY = 500  # well under SQLite's limit on bound parameters


class StoreError(RuntimeError):
    """The store cannot do what was asked (e.g. a compute function broke its contract)."""


class Store:
    """Lines, usage counters and call records behind an async engine.

    The schema must be up to date (:func:`callctl.store.migrate.migrate`). The store does
    not own the engine: dispose of it when done.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._read = async_sessionmaker(engine, expire_on_commit=False)
        self._write = async_sessionmaker(writer(engine), expire_on_commit=False)

    # ------------------------------------------------------------------------- lines

    async def upsert_lines(self, lines: Iterable[Line]) -> int:
        """Insert or replace lines by number, in one transaction; how many were written."""
        count = 0
        async with self._write.begin() as session:
            for line in lines:
                values = line_values(line)
                now = utcnow()
                stmt = self._insert(LineRow).values(**values, created_at=now, updated_at=now)
                changed = {k: v for k, v in values.items() if k != "number"}
                stmt = stmt.on_conflict_do_update(
                    index_elements=[LineRow.number], set_={**changed, "updated_at": now}
                )
                await session.execute(stmt)
                count += 1
        return count

    async def add_line(self, line: Line) -> bool:
        """Insert a new line; False (and nothing written) if its number exists."""
        now = utcnow()
        stmt = (
            self._insert(LineRow)
            .values(**line_values(line), created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=[LineRow.number])
            .returning(LineRow.id)
        )
        async with self._write.begin() as session:
            inserted = await session.scalars(stmt)
            return inserted.first() is not None

    async def replace_line(self, line: Line) -> bool:
        """Replace the stored line with that number; False if there is none."""
        values = {k: v for k, v in line_values(line).items() if k != "number"}
        stmt = (
            update(LineRow)
            .where(LineRow.number == line.number)
            .values(**values, updated_at=utcnow())
            .returning(LineRow.id)
        )
        async with self._write.begin() as session:
            updated = await session.scalars(stmt)
            return updated.first() is not None

    async def list_lines(self) -> list[Line]:
        """Every line, by number."""
        async with self._read() as session:
            rows = await session.scalars(select(LineRow).order_by(LineRow.number))
            return [line_from_row(r) for r in rows]

    async def get_line(self, number: str) -> Line | None:
        """The line with that E.164 number, or None."""
        async with self._read() as session:
            row = await session.scalar(select(LineRow).where(LineRow.number == number))
            return None if row is None else line_from_row(row)

    async def delete_line(self, number: str) -> bool:
        """Remove a line (its counters and records stay); False if there was none."""
        async with self._write.begin() as session:
            deleted = await session.scalars(
                delete(LineRow).where(LineRow.number == number).returning(LineRow.id)
            )
            return deleted.first() is not None

    # ------------------------------------------------------------------------- usage

    async def get_usage(self, line: str, period: str) -> Usage:
        """A line's counters for a period ('YYYY-MM'); zero if nothing was drawn."""
        async with self._read() as session:
            row = await session.scalar(
                select(UsageRow).where(UsageRow.line == line, UsageRow.period == period)
            )
            return usage_from_row(row, period)

    # ----------------------------------------------------------------------- records

    async def settle(
        self, key: CallKey, line: str, period: str, compute: Compute
    ) -> tuple[CallRecord, bool]:
        """Record a call and draw its counters atomically (R6, R7, R10).

        If the call already has a record, that record is returned with False and nothing is
        drawn. Otherwise the line's usage for ``period`` is locked, ``compute(usage)`` returns
        the record and the new usage, both are written, and the record is returned with True.
        ``compute`` runs while the lock is held: it must be quick and pure (no I/O). If the
        same call is settled at the same moment elsewhere, one wins; the other returns the
        winner's record with False.
        """
        try:
            async with self._write.begin() as session:
                existing = await self._record(session, key)
                if existing is not None:
                    return existing, False
                usage_row = await self._lock_usage(session, line, period)
                # Another settle of this key may have committed while we waited for the lock.
                existing = await self._record(session, key)
                if existing is not None:
                    return existing, False
                record, after = compute(usage_from_row(usage_row, period))
                _check(key, line, period, record, after)
                session.add(record_to_row(record))
                usage_row.bundle_seconds = after.bundle_seconds
                usage_row.fair_use_seconds = after.fair_use_seconds
                await session.flush()
        except IntegrityError:
            # The same call was settled at the same moment under another line or period
            # lock (or added without a draw): the winner's record stands.
            winner = await self.get_record(key)
            if winner is None:
                raise
            return winner, False
        return record, True

    async def add_record(self, record: CallRecord) -> bool:
        """Insert a record that draws nothing (a refusal…) unless its call has one already."""
        stmt = (
            self._insert(CallRecordRow)
            .values(**record_values(record), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=[CallRecordRow.host, CallRecordRow.call_id])
            .returning(CallRecordRow.id)
        )
        async with self._write.begin() as session:
            inserted = await session.scalars(stmt)
            return inserted.first() is not None

    async def add_records(self, records: Iterable[CallRecord]) -> int:
        """Insert records that draw nothing, in one transaction; how many were new."""
        rows = [{**record_values(r), "created_at": utcnow()} for r in records]
        if not rows:
            return 0
        stmt = (
            self._insert(CallRecordRow)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[CallRecordRow.host, CallRecordRow.call_id])
            .returning(CallRecordRow.id)
        )
        async with self._write.begin() as session:
            inserted = await session.scalars(stmt)
            return len(inserted.all())

    async def get_record(self, key: CallKey) -> CallRecord | None:
        """The record of a call, or None."""
        async with self._read() as session:
            return await self._record(session, key)

    async def list_records(
        self,
        line: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[CallRecord]:
        """Records by decision time, oldest first: ``since`` ≤ decided_at < ``until``."""
        stmt = select(CallRecordRow)
        if line is not None:
            stmt = stmt.where(CallRecordRow.line == line)
        if since is not None:
            stmt = stmt.where(CallRecordRow.decided_at >= since)
        if until is not None:
            stmt = stmt.where(CallRecordRow.decided_at < until)
        stmt = stmt.order_by(CallRecordRow.decided_at, CallRecordRow.id).limit(limit)
        async with self._read() as session:
            return [record_from_row(r) for r in await session.scalars(stmt)]

    async def answered_intervals(
        self, line: str, groups: Iterable[str], ended_after: datetime
    ) -> list[tuple[datetime, datetime]]:
        """(answered_at, ended_at) of the line's answered calls of ``groups`` that ended
        after ``ended_after``: the fraud guard's velocity window (docs/security.md)."""
        stmt = select(CallRecordRow.answered_at, CallRecordRow.ended_at).where(
            CallRecordRow.line == line,
            CallRecordRow.group.in_(sorted(groups)),
            CallRecordRow.ended_at > ended_after,
            CallRecordRow.answered_at.is_not(None),
        )
        async with self._read() as session:
            rows = await session.execute(stmt)
            return [(a, e) for a, e in rows if a is not None and e is not None]

    async def existing_keys(self, keys: Iterable[CallKey]) -> set[CallKey]:
        """Those of ``keys`` that have a record."""
        by_host: defaultdict[str, set[str]] = defaultdict(set)
        for key in keys:
            by_host[key.host].add(key.call_id)
        found: set[CallKey] = set()
        async with self._read() as session:
            for host, call_ids in by_host.items():
                ids = sorted(call_ids)
                for start in range(0, len(ids), _KEYS_PER_QUERY):
                    chunk = ids[start : start + _KEYS_PER_QUERY]
                    rows = await session.scalars(
                        select(CallRecordRow.call_id).where(
                            CallRecordRow.host == host, CallRecordRow.call_id.in_(chunk)
                        )
                    )
                    found.update(CallKey(host, call_id) for call_id in rows)
        return found

    # ----------------------------------------------------------------------- helpers

    def _insert(self, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
        """The dialect's INSERT (both offer ON CONFLICT … DO NOTHING / DO UPDATE)."""
        name = self.engine.dialect.name
        if name == "postgresql":
            return postgresql.insert(model)
        if name == "sqlite":
            return sqlite.insert(model)
        raise StoreError(f"unsupported database {name!r}")

    async def _record(self, session: AsyncSession, key: CallKey) -> CallRecord | None:
        row = await session.scalar(
            select(CallRecordRow).where(
                CallRecordRow.host == key.host, CallRecordRow.call_id == key.call_id
            )
        )
        return None if row is None else record_from_row(row)

    async def _lock_usage(self, session: AsyncSession, line: str, period: str) -> UsageRow:
        """The usage row of (line, period), created if missing and locked until commit."""
        create = (
            self._insert(UsageRow)
            .values(line=line, period=period, bundle_seconds=0, fair_use_seconds=0)
            .on_conflict_do_nothing(index_elements=[UsageRow.line, UsageRow.period])
        )
        await session.execute(create)
        row = await session.scalar(
            select(UsageRow)
            .where(UsageRow.line == line, UsageRow.period == period)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None:  # pragma: no cover - the row was just created in this transaction
            raise StoreError(f"usage row of {line} {period} vanished")
        return row


def _check(key: CallKey, line: str, period: str, record: CallRecord, after: Usage) -> None:
    """The compute function must return a record of this call and usage of this period."""
    if record.key != key:
        raise StoreError(f"compute returned a record of {record.key}, not {key}")
    if record.line != line:
        raise StoreError(f"compute returned a record of line {record.line}, not {line}")
    if after.period != period:
        raise StoreError(f"compute returned usage of {after.period}, not {period}")
