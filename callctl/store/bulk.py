"""Loading many call records at once, and a synthetic month of them for load tests.

:func:`load_records` writes records that draw nothing (no counters, no ``ON CONFLICT``: the
keys must be new) as fast as the database takes them: ``COPY`` through asyncpg on
PostgreSQL (about 100 000 rows/s here), multi-row ``executemany`` inserts on SQLite. The
benchmarks and the API's bounded-memory tests fill their databases with it from
:func:`sample_records`: a deterministic mix of groups, dispositions and amounts.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from callctl.core.records import CallKey, CallRecord
from callctl.store.convert import record_values
from callctl.store.db import writer
from callctl.store.models import CallRecordRow, utcnow

RECORDS = CallRecordRow.__table__
BATCH = 5000
_JSON_COLUMNS = frozenset({"location_reasons"})


def _rows(records: Iterable[CallRecord]) -> Iterator[dict[str, Any]]:
    now = utcnow()
    for record in records:
        yield {**record_values(record), "created_at": now}


async def load_records(engine: AsyncEngine, records: Iterable[CallRecord]) -> int:
    """Insert new records in batches of :data:`BATCH`; how many were written."""
    columns = [c.name for c in RECORDS.columns if c.name != "id"]
    count = 0
    rows = _rows(records)
    while batch := list(itertools.islice(rows, BATCH)):
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                tuples = [
                    tuple(json.dumps(r[c]) if c in _JSON_COLUMNS else r[c] for c in columns)
                    for r in batch
                ]
                await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                    CallRecordRow.__tablename__, records=tuples, columns=columns
                )
        else:
            async with writer(engine).begin() as conn:
                await conn.execute(insert(CallRecordRow), batch)
        count += len(batch)
    return count


# (dialled, e164, group, country, per-minute price) of the synthetic calls
_DESTINATIONS: Sequence[tuple[str, str | None, str, str | None, Decimal]] = (
    ("02 234 56 78", "+3222345678", "be_fixed", "BE", Decimal("0.17")),
    ("0475 12 34 56", "+32475123456", "be_mobile", "BE", Decimal("0.17")),
    ("0033 1 42 68 53 00", "+33142685300", "zone", "FR", Decimal("0.58")),
    ("+212 612345678", "+212612345678", "ma_tr", "MA", Decimal("1.16")),
    ("+81 3 1234 5678", "+81312345678", "international", "JP", Decimal("1.16")),
    ("0800 12 345", "+3280012345", "freephone", "BE", Decimal("0")),
)


def sample_records(
    count: int,
    lines: Sequence[str],
    start: datetime,
    *,
    seed: int = 20261126,
    host: str = "bench",
    step: timedelta = timedelta(seconds=2),
) -> Iterator[CallRecord]:
    """``count`` plausible records of ``lines`` from ``start``, one every ``step``, lazily.

    About 80 % answered (charged at the destination's per-minute price, no bundle), 10 %
    unanswered, 10 % refused; the period is the UTC month (close enough for load data).
    """
    rng = random.Random(seed)
    for i in range(count):
        dialled, e164, group, country, price = rng.choice(_DESTINATIONS)
        decided = start + step * i
        roll = rng.random()
        base = CallRecord(
            key=CallKey(host, f"{seed}.{i}"), line=lines[i % len(lines)], dialled=dialled,
            e164=e164, group=group, country=country, clir=False, action="route",
            target="carrier", sip_code=None, reason=None, decided_at=decided,
            period=f"{decided.year:04d}-{decided.month:02d}", tariff_id="voice-pro-2026",
        )  # fmt: skip
        if roll < 0.8:
            billsec = rng.randint(1, 900)
            amount = (billsec * price / 60).quantize(Decimal("0.0001"))
            answered = decided + timedelta(seconds=3)
            yield replace(
                base, answered_at=answered, billsec=billsec,
                ended_at=answered + timedelta(seconds=billsec), disposition="ANSWERED",
                hangup_cause=16, peak_seconds=billsec, charged_seconds=billsec, amount=amount,
            )  # fmt: skip
        elif roll < 0.9:
            yield replace(base, disposition="NO ANSWER", hangup_cause=19)
        else:
            yield replace(
                base, action="refuse", target=None, sip_code=403,
                reason="the line is paused by the operator", disposition="REFUSED",
            )  # fmt: skip
