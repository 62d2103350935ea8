"""The store (R6, R7, R10) on SQLite and on a real PostgreSQL server.

Every store test runs twice: on a SQLite file in a temporary directory, and on a database
created for this test session on the PostgreSQL server at ``$CALLCTL_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``, the admin connection). If the server does
not answer, the session tries to start the local cluster with ``pg_ctlcluster``; if it still
does not answer, the PostgreSQL tests fail (they are never skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, redirect_stderr
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import StatementError

from callctl.cli.lines_cmd import add_lines_commands
from callctl.core.lines import Line
from callctl.core.rating import Usage
from callctl.core.records import CallKey, CallRecord
from callctl.data import default_tariff
from callctl.store import (
    Store,
    StoreError,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    migrate,
)
from callctl.store.lines_yaml import parse_lines_yaml
from callctl.store.migrate import alembic_config
from callctl.store.models import Base, CallRecordRow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "lines.yaml"
BRUSSELS = ZoneInfo("Europe/Brussels")
BUNDLE = 120_000
LINE = "+3222345601"
KLIK = "+3292345602"
PERIOD = "2026-03"


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    engine = make_engine(url)
    try:
        yield Store(engine)
    finally:
        await engine.dispose()


def run_with_store(url: str, test: Callable[[Store], Awaitable[None]]) -> None:
    async def main() -> None:
        async with opened(url) as store:
            await test(store)

    asyncio.run(main())


# ---------------------------------------------------------------------------- helpers


def record(
    call_id: str,
    *,
    line: str = LINE,
    host: str = "pbx-1",
    bundle_seconds: int = 0,
    amount: Decimal = Decimal("0.0000"),
    decided_at: datetime | None = None,
    **changes: Any,
) -> CallRecord:
    decided = decided_at or datetime(2026, 3, 14, 9, 30, tzinfo=BRUSSELS)
    base = CallRecord(
        key=CallKey(host, call_id),
        line=line,
        dialled="0033 1 42 68 53 00",
        e164="+33142685300",
        group="zone",
        country="FR",
        clir=False,
        action="route",
        target="carrier",
        sip_code=None,
        reason=None,
        decided_at=decided,
        answered_at=decided + timedelta(seconds=4),
        ended_at=decided + timedelta(seconds=3004),
        billsec=3000,
        disposition="ANSWERED",
        period=PERIOD,
        peak_seconds=3000,
        bundle_seconds=bundle_seconds,
        charged_seconds=3000 - bundle_seconds,
        amount=amount,
        tariff_id="voice-pro-2026",
    )
    return dataclasses.replace(base, **changes)


def drawing(call_id: str, wanted: int = 3000) -> Callable[[Usage], tuple[CallRecord, Usage]]:
    """A pure compute function: draw min(wanted, what is left of the bundle)."""

    def compute(usage: Usage) -> tuple[CallRecord, Usage]:
        drawn = min(wanted, BUNDLE - usage.bundle_seconds)
        after = Usage(usage.period, usage.bundle_seconds + drawn, usage.fair_use_seconds)
        return record(call_id, bundle_seconds=drawn), after

    return compute


def example_lines() -> list[Line]:
    return parse_lines_yaml(EXAMPLE.read_text("utf-8"), default_tariff())


# ------------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite:////var/lib/callctl/x.db", "sqlite+aiosqlite:////var/lib/callctl/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p%40ss@h:5433/db", "postgresql+asyncpg://u:p%40ss@h:5433/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_url_uses_the_async_drivers(given: str, expected: str) -> None:
    assert database_url(given) == expected


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "not a url"])
def test_database_url_refuses_other_databases(bad: str) -> None:
    with pytest.raises(ValueError, match="database"):
        database_url(bad)


def test_every_field_of_a_call_record_has_a_column() -> None:
    fields = {f.name for f in dataclasses.fields(CallRecord)} - {"key"} | {"host", "call_id"}
    columns = {c.name for c in CallRecordRow.__table__.columns} - {"id", "created_at"}
    assert fields == columns


# ------------------------------------------------------------------------- migrations


def _differences(connection: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    diff: list[Any] = compare_metadata(context, metadata)
    return diff


def test_migrations_match_the_models(db: str) -> None:
    async def main() -> None:
        assert await current_revision(db) == head_revision()
        await migrate(db)  # a second run changes nothing
        engine = make_engine(db)
        try:
            async with engine.connect() as conn:
                assert await conn.run_sync(_differences, Base.metadata) == []
                # The comparison does see a difference when there is one.
                other = MetaData()
                for table in Base.metadata.tables.values():
                    table.to_metadata(other)
                other.tables["usage"].append_column(Column("extra", Integer))
                diff = await conn.run_sync(_differences, other)
                assert [d[0] for d in diff] == ["add_column"]
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_downgrade_to_base_and_upgrade_again(db: str) -> None:
    def downgrade(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")

    async def main() -> None:
        engine = make_engine(db)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(downgrade)
            assert await current_revision(engine) is None
            await migrate(engine)
            assert await current_revision(engine) == head_revision()
        finally:
            await engine.dispose()

    asyncio.run(main())


# ------------------------------------------------------------------------------ lines


def test_lines_round_trip(db: str) -> None:
    async def test(store: Store) -> None:
        lines = example_lines()
        assert await store.upsert_lines(lines) == 3
        assert await store.list_lines() == sorted(lines, key=lambda line: line.number)
        klik = next(line for line in lines if line.product == "klik")
        assert await store.get_line(klik.number) == klik

        changed = dataclasses.replace(
            klik, options=("international_calling",), paused=True, site_networks=()
        )
        bare = Line("+3281000001", "classic", install_address=None)
        assert await store.upsert_lines([changed, bare]) == 2
        assert await store.get_line(klik.number) == changed
        assert await store.get_line(bare.number) == bare
        assert len(await store.list_lines()) == 4

        assert await store.delete_line(bare.number) is True
        assert await store.delete_line(bare.number) is False
        assert await store.get_line(bare.number) is None
        assert await store.upsert_lines([]) == 0

    run_with_store(db, test)


# ---------------------------------------------------------------------------- records


def test_records_round_trip_with_decimal_money_and_aware_times(db: str) -> None:
    answered = datetime(2026, 3, 29, 1, 59, 58, 123456, tzinfo=BRUSSELS)  # the DST night
    full = record(
        "full",
        clir=True,
        decided_at=answered - timedelta(seconds=5),
        answered_at=answered,
        ended_at=answered.astimezone(UTC) + timedelta(seconds=3000),  # R6: sums in UTC
        hangup_cause=16,
        offpeak_seconds=2,
        peak_seconds=2998,
        bundle_seconds=1000,
        fair_use_seconds=7,
        charged_seconds=1993,
        setup_fee=Decimal("0.0620"),
        per_call_fee=Decimal("1.5000"),
        amount=Decimal("9999999999.9999"),  # 14 digits: all of NUMERIC(14, 4)
        location_source="site",
        location_trusted=False,
        location_reasons=("not on the site network", "no PIDF-LO"),
        source="reconcile",
    )
    refused = record(
        "refused",
        e164=None,
        group="invalid",
        country=None,
        action="refuse",
        target=None,
        sip_code=484,
        reason="letters are not digits",
        answered_at=None,
        ended_at=None,
        billsec=0,
        disposition="REFUSED",
        period=None,
        peak_seconds=0,
        charged_seconds=0,
        amount=Decimal("-0.0001"),
    )

    async def test(store: Store) -> None:
        for r in (full, refused):
            assert await store.add_record(r) is True
            back = await store.get_record(r.key)
            assert back == r
            assert back is not None
            for t in (back.decided_at, back.answered_at, back.ended_at):
                assert t is None or t.utcoffset() == timedelta(0)
            assert isinstance(back.amount, Decimal)
            assert str(back.amount) == str(r.amount)
        assert await store.add_record(full) is False  # R10: the key is taken
        assert await store.get_record(CallKey("pbx-2", "full")) is None

    run_with_store(db, test)


def test_money_with_more_than_four_decimals_and_naive_times_are_refused(db: str) -> None:
    async def test(store: Store) -> None:
        with pytest.raises(StatementError, match="decimals"):
            await store.add_record(record("a", amount=Decimal("0.00001")))
        with pytest.raises(StatementError, match="naive"):
            await store.add_record(record("b", decided_at=datetime(2026, 3, 1, 12)))
        assert await store.list_records() == []

    run_with_store(db, test)


def test_list_records_and_existing_keys(db: str) -> None:
    start = datetime(2026, 3, 1, 0, 0, tzinfo=BRUSSELS)
    records = [
        record(f"c{i}", line=LINE if i % 2 else KLIK, decided_at=start + timedelta(hours=i))
        for i in range(10)
    ]

    async def test(store: Store) -> None:
        for r in reversed(records):
            assert await store.add_record(r)
        assert await store.list_records() == records
        assert await store.list_records(line=LINE) == records[1::2]
        window = await store.list_records(
            since=start + timedelta(hours=2), until=start + timedelta(hours=5)
        )
        assert window == records[2:5]
        assert await store.list_records(line=LINE, limit=2) == records[1:4:2]
        wanted = [r.key for r in records[:3]] + [CallKey("pbx-1", "nope"), CallKey("x", "c1")]
        assert await store.existing_keys(wanted) == {r.key for r in records[:3]}
        many = [CallKey("pbx-1", f"c{i}") for i in range(1200)]
        assert await store.existing_keys(many) == {r.key for r in records}
        assert await store.existing_keys([]) == set()

    run_with_store(db, test)


# ----------------------------------------------------------------------------- settle


def test_settle_is_idempotent(db: str) -> None:
    key = CallKey("pbx-1", "c1")
    calls = 0
    compute = drawing("c1")

    def counted(usage: Usage) -> tuple[CallRecord, Usage]:
        nonlocal calls
        calls += 1
        return compute(usage)

    async def test(store: Store) -> None:
        assert await store.get_usage(LINE, PERIOD) == Usage(PERIOD)
        first, created = await store.settle(key, LINE, PERIOD, counted)
        assert created is True
        assert first.bundle_seconds == 3000
        again, created = await store.settle(key, LINE, PERIOD, counted)
        assert (again, created) == (first, False)  # R10: no second record, no second draw
        assert calls == 1
        assert await store.get_usage(LINE, PERIOD) == Usage(PERIOD, 3000, 0)
        assert await store.list_records() == [first]
        assert await store.add_record(record("c1")) is False

    run_with_store(db, test)


def test_settle_refuses_a_compute_that_breaks_its_contract(db: str) -> None:
    def wrong_key(usage: Usage) -> tuple[CallRecord, Usage]:
        return record("other", bundle_seconds=10), Usage(usage.period, 10, 0)

    def wrong_period(usage: Usage) -> tuple[CallRecord, Usage]:
        return record("c1", bundle_seconds=10), Usage("2026-04", 10, 0)

    async def test(store: Store) -> None:
        for compute in (wrong_key, wrong_period):
            with pytest.raises(StoreError):
                await store.settle(CallKey("pbx-1", "c1"), LINE, PERIOD, compute)
        assert await store.list_records() == []
        assert await store.get_usage(LINE, PERIOD) == Usage(PERIOD)

    run_with_store(db, test)


def test_concurrent_settles_of_one_line_never_overdraw_the_bundle(db: str) -> None:
    calls = 50

    async def main() -> None:
        engine = make_engine(db, pool_size=10, max_overflow=0)
        connections: set[int] = set()

        @event.listens_for(engine.sync_engine, "connect")
        def count(dbapi_connection: Any, _record: Any) -> None:
            connections.add(id(dbapi_connection))

        try:
            store = Store(engine)
            results = await asyncio.gather(
                *(
                    store.settle(CallKey("pbx-1", f"c{i}"), LINE, PERIOD, drawing(f"c{i}"))
                    for i in range(calls)
                )
            )
            assert all(created for _, created in results)
            records = await store.list_records(limit=calls + 1)
            usage = await store.get_usage(LINE, PERIOD)
        finally:
            await engine.dispose()
        assert len(connections) > 1  # the settles really ran side by side
        assert len(records) == calls
        drawn = [r.bundle_seconds for r in records]
        assert sum(drawn) == usage.bundle_seconds == BUNDLE  # 50 x 3 000 > 120 000
        assert sorted(drawn) == [0] * 10 + [3000] * 40

    asyncio.run(main())


def test_concurrent_settles_of_one_call_make_one_record(db: str) -> None:
    key = CallKey("pbx-1", "c1")

    async def main() -> None:
        engine = make_engine(db, pool_size=10, max_overflow=0)
        try:
            store = Store(engine)
            # The same hangup event, delivered many times at once; and the same call under
            # another line, whose usage row is not the one the others lock.
            same = [store.settle(key, LINE, PERIOD, drawing("c1")) for _ in range(8)]

            def elsewhere(usage: Usage) -> tuple[CallRecord, Usage]:
                rec = record("c1", line=KLIK, bundle_seconds=500)
                return rec, Usage(usage.period, 500, 0)

            other = store.settle(key, KLIK, PERIOD, elsewhere)
            results = await asyncio.gather(*same, other)
            records = await store.list_records()
            usages = [await store.get_usage(n, PERIOD) for n in (LINE, KLIK)]
        finally:
            await engine.dispose()
        assert sum(created for _, created in results) == 1
        assert len(records) == 1
        assert all(r == records[0] for r, _ in results)
        assert sum(u.bundle_seconds for u in usages) == records[0].bundle_seconds

    asyncio.run(main())


# ------------------------------------------------------------------------ the command


def _callctl(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="callctl")
    parser.add_argument("--tariff")
    add_lines_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stderr(err):
        code: int = args.func(args, out)
    return code, out.getvalue(), err.getvalue()


def test_lines_import_and_list(db: str, tmp_path: Path) -> None:
    code, out, err = _callctl("lines", "import", str(EXAMPLE), "--db", db)
    assert (code, err) == (0, "")
    assert out.startswith("3 lines imported into ")
    assert "(3 new, 0 replaced)" in out
    code, out, _ = _callctl("lines", "import", str(EXAMPLE), "--db", db)
    assert "(0 new, 3 replaced)" in out

    code, out, _ = _callctl("lines", "list", "--json", "--db", db)
    assert code == 0
    listed = [json.loads(line) for line in out.splitlines()]
    assert [d["number"] for d in listed] == ["+3222345601", "+3242345603", KLIK]
    assert listed[1]["licences"] == ["+3242345611", "+3242345612"]
    assert listed[0]["install_address"] == {
        "street": "Rue de la Loi 16",
        "postal_code": "1000",
        "city": "Bruxelles",
    }

    code, out, _ = _callctl("lines", "list", "--db", db)
    header, _rule, *rows = out.splitlines()
    assert header.split()[:2] == ["number", "product"]
    assert len(rows) == 3
    assert rows[1].index("phone2go") == header.index("product")

    bad = tmp_path / "bad.yaml"
    bad.write_text("lines:\n  - number: '+3222345601'\n    product: nope\n", "utf-8")
    # (the first problem found is reported: here the missing address)
    code, out, err = _callctl("lines", "import", str(bad), "--db", db)
    assert (code, out) == (1, "")
    assert "lines[0] (+3222345601, file line 2): install_address: required" in err


def test_lines_commands_report_database_errors(tmp_path: Path) -> None:
    missing_dir = tmp_path / "no" / "such" / "dir" / "x.db"
    code, out, err = _callctl("lines", "list", "--db", f"sqlite:///{missing_dir}")
    assert (code, out) == (1, "")
    assert err.startswith("callctl: database sqlite:///")
    code, _, err = _callctl("lines", "list", "--db", "mysql://u@h/db")
    assert code == 1
    assert "unsupported database" in err


def test_lines_commands_default_to_callctl_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCTL_DB", f"sqlite:///{tmp_path / 'env.db'}")
    code, out, _ = _callctl("lines", "import", str(EXAMPLE))
    assert code == 0
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("CALLCTL_DB")
    monkeypatch.chdir(tmp_path)
    code, out, _ = _callctl("lines", "list")
    assert (code, out) == (0, "no lines in sqlite:///callctl.db\n")
    assert (tmp_path / "callctl.db").exists()
