"""The durable spool (docs/operations.md, "Database unavailable"), on real SQLite and
PostgreSQL stores: entries survive a killed process, draining writes each call once and in
arrival order (R6: bundle drawn in order), a crash between commit and delete duplicates
nothing (R10), and a hangup whose transaction cannot commit is spooled, then written."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from callctl.core.classify import Classifier
from callctl.core.policy import Decision
from callctl.core.rating import Usage
from callctl.core.records import CallKey, CallRecord
from callctl.core.settlement import CallEnd, base_record
from callctl.data import default_emergency_plan, default_tariff
from callctl.pbx.serve_process import free_port
from callctl.service.clock import Clock
from callctl.service.config import Settings
from callctl.service.controller import Controller
from callctl.service.line_cache import DEFAULT_TTL
from callctl.service.serve import Service, running
from callctl.service.spooler import Spooler, settlement_inputs, settlement_payload
from callctl.store import make_engine, migrate
from callctl.store.lines_yaml import parse_lines_yaml
from callctl.store.repository import Store
from callctl.store.spool import RECORD, SETTLE, Spool, SpoolError, default_spool_path
from tests.databases import PrivateCluster
from tests.service_rig import LAB_LINES, hangup, route, service

OFFPEAK = "2026-11-26T20:00:00+01:00"  # Belgian calls draw fair use (R7)
CLASSIC = "+3222000001"

TARIFF = default_tariff()
CLASSIFY = Classifier(TARIFF.numbering)
ANYTIME = "+3222000002"  # Classic with the anytime option: the zone bundle at all hours (R6)
PERIOD = "2026-11"
ANSWERED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
HOST = "pbx-test"


def zone_call(call_id: str, seconds: int, answered: datetime = ANSWERED) -> dict[str, Any]:
    """The spool payload of a hangup: an answered call from the anytime line to France."""
    c = CLASSIFY("+33142685300")
    decision = Decision("route", c, trunk="carrier", number=c.dial)
    record = base_record(CallKey(HOST, call_id), ANYTIME, "+33142685300", decision, answered)
    end = CallEnd(answered, Decimal(seconds), "ANSWER", 16)
    return settlement_payload(record, c, end, ("classic", ("anytime",)), TARIFF.id)


def refused(call_id: str) -> CallRecord:
    return CallRecord(
        key=CallKey(HOST, call_id), line=ANYTIME, dialled="077123456", e164=None,
        group="special", country="BE", clir=False, action="refuse", target=None, sip_code=403,
        reason="077 is not a voice service", decided_at=ANSWERED, disposition="REFUSED",
        period=PERIOD,
    )  # fmt: skip


@asynccontextmanager
async def controller_on(db: str, spool_path: Path) -> AsyncIterator[Controller]:
    """A controller with a spool, on ``db`` holding the lab lines (not draining yet)."""
    engine = make_engine(db)
    store = Store(engine)
    await store.upsert_lines(parse_lines_yaml(LAB_LINES.read_text("utf-8"), TARIFF))
    spooler = Spooler(Spool(spool_path, db))
    controller = Controller(
        store, TARIFF, default_emergency_plan(), Clock.starting_at(ANSWERED), spooler=spooler
    )
    try:
        yield controller
    finally:
        await controller.drain()
        await engine.dispose()


async def drained(controller: Controller, timeout: float = 10) -> None:
    """Start draining and wait until the spool is empty."""
    assert controller.spooler is not None
    controller.start()
    deadline = time.monotonic() + timeout
    while controller.spooler.waiting:
        assert time.monotonic() < deadline, f"spool not drained: {controller.spooler.depth}"
        await asyncio.sleep(0.05)


async def put(controller: Controller, *payloads: dict[str, Any]) -> None:
    assert controller.spooler is not None
    for p in payloads:
        record, _, _, _ = settlement_inputs(p)
        await controller.spooler.put_settlement(record.key, p)


def metric_value(svc: Service, sample: str) -> float:
    for line in svc.metrics.exposition().decode().splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    return 0.0


async def zone_records(store: Store) -> list[CallRecord]:
    return [r for r in await store.list_records(line=ANYTIME) if r.group == "zone"]


_WRITER = """
import os, signal, sys
from datetime import datetime, UTC
from callctl.core.records import CallKey
from callctl.store.spool import Spool
spool = Spool(sys.argv[1], sys.argv[2])
for i in range(3):
    spool.append("record", CallKey("pbx", f"call-{i}"), {"n": i}, datetime.now(UTC))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_entries_survive_a_killed_process_in_order(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    db = "postgresql://callctl@db.example/callctl"
    proc = subprocess.run([sys.executable, "-c", _WRITER, str(path), db], check=False)
    assert proc.returncode == -signal.SIGKILL
    spool = Spool(path, db)
    entries = spool.head()
    assert [(e.kind, e.key.call_id, e.payload) for e in entries] == [
        (RECORD, f"call-{i}", {"n": i}) for i in range(3)
    ]
    assert spool.depth() == {SETTLE: 0, RECORD: 3}
    spool.close()
    # The file is this database's: another one may not drain it into itself.
    with pytest.raises(SpoolError, match=r"db\.example"):
        Spool(path, "sqlite:///other.db")


def test_default_spool_paths_are_per_database(tmp_path: Path) -> None:
    a = default_spool_path(f"sqlite:///{tmp_path / 'a.db'}")
    assert a.parent == tmp_path
    assert a.name.startswith("callctl-spool-")
    assert a != default_spool_path(f"sqlite:///{tmp_path / 'b.db'}")
    pg = default_spool_path("postgresql://u:secret@h/x", cwd=tmp_path)
    assert pg.parent == tmp_path
    assert pg == default_spool_path("postgresql://u:other@h/x", cwd=tmp_path)  # no password
    assert pg != default_spool_path("postgresql://u@h/y", cwd=tmp_path)


def test_drain_writes_in_arrival_order_and_twice_writes_once(db: str, tmp_path: Path) -> None:
    async def main() -> None:
        async with controller_on(db, tmp_path / "spool.db") as controller:
            store = controller.store

            def leave_100(usage: Usage) -> tuple[CallRecord, Usage]:  # 100 bundle seconds left
                return refused("earlier"), Usage(PERIOD, TARIFF.bundle_seconds - 100, 0)

            await store.settle(CallKey(HOST, "earlier"), ANYTIME, PERIOD, leave_100)
            calls = [zone_call(f"c{i}", 60, ANSWERED + timedelta(minutes=i)) for i in range(3)]
            await put(controller, *calls)
            assert controller.spooler is not None
            await controller.spooler.put_records([refused("r1"), refused("r2")])
            assert controller.spooler.depth == {SETTLE: 3, RECORD: 2}
            await drained(controller)
            by_id = {r.key.call_id: r for r in await zone_records(store)}
            # Arrival order: c0 takes 60 bundle seconds, c1 the last 40, c2 none (R6).
            assert [by_id[f"c{i}"].bundle_seconds for i in range(3)] == [60, 40, 0]
            assert [by_id[f"c{i}"].charged_seconds for i in range(3)] == [0, 20, 60]
            assert by_id["c1"].amount == Decimal("0.2733")  # 0.08 setup + 20 s at 0.58/min
            usage = await store.get_usage(ANYTIME, PERIOD)
            assert usage.bundle_seconds == TARIFF.bundle_seconds
            assert {r.key.call_id for r in await store.list_records(line=ANYTIME)} == {
                "earlier",
                "c0",
                "c1",
                "c2",
                "r1",
                "r2",
            }
            # The same entries again (a retry): nothing more is written or drawn (R10).
            await put(controller, *calls)
            await controller.spooler.put_records([refused("r1")])
            await drained(controller)
            assert len(await store.list_records(line=ANYTIME)) == 6
            assert await store.get_usage(ANYTIME, PERIOD) == usage

    asyncio.run(main())


def test_a_crash_between_commit_and_delete_duplicates_nothing(db: str, tmp_path: Path) -> None:
    path = tmp_path / "spool.db"

    async def main() -> None:
        async with controller_on(db, path) as controller:
            assert controller.spooler is not None
            await put(controller, zone_call("crash", 90))
            (entry,) = controller.spooler.spool.head()
            await controller._settle_entry(entry)  # committed; the process "dies" here
        # After the restart, the entry is still spooled and drained at start.
        async with controller_on(db, path) as controller:
            assert controller.spooler is not None
            assert controller.spooler.depth[SETTLE] == 1
            await drained(controller)
            (record,) = await zone_records(controller.store)
            assert (record.key.call_id, record.billsec, record.bundle_seconds) == ("crash", 90, 90)
            assert (await controller.store.get_usage(ANYTIME, PERIOD)).bundle_seconds == 90

    asyncio.run(main())


def test_a_hangup_the_database_cannot_take_is_spooled_then_written(tmp_path: Path) -> None:
    """SQLite locked by another writer: the hangup gets the deadline's safe answer while its
    transaction waits, then misses its budget and goes to the spool; a refusal goes there
    too; both are written once the lock is gone, and the record equals a live one's."""

    async def main() -> None:
        async with service(tmp_path) as svc:
            port = svc.agi.port
            assert (await route(port, "live", "022345678")).startswith("route,carrier")
            await hangup(port, "live", "022345678", answered_ms=61_500)
            assert (await route(port, "late", "022345678")).startswith("route,carrier")
            blocker = sqlite3.connect(tmp_path / "callctl.db", isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                refusal = await route(port, "refused", "077123456")
                assert refusal.startswith("refuse,")
                commands = await hangup(port, "late", "022345678", answered_ms=61_500)
                assert commands == ['SET VARIABLE "CALLCTL_STATUS" "timeout"']  # the deadline
                spooler = svc.controller.spooler
                assert spooler is not None
                deadline = time.monotonic() + 15
                while spooler.waiting < 2:  # each write waits 5 s, then spools
                    assert time.monotonic() < deadline, spooler.depth
                    await asyncio.sleep(0.1)
                assert spooler.depth == {SETTLE: 1, RECORD: 1}
                assert b"callctl_spool_depth 2.0" in svc.metrics.exposition()
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            deadline = time.monotonic() + 20
            while spooler.waiting:
                assert time.monotonic() < deadline, spooler.depth
                await asyncio.sleep(0.1)
            store = svc.controller.store
            live = await store.get_record(CallKey("callctl-lab", "live"))
            late = await store.get_record(CallKey("callctl-lab", "late"))
            assert live is not None
            assert late is not None
            assert (late.billsec, late.amount, late.charged_seconds) == (62, live.amount, 62)
            assert late.amount == Decimal("0.1757")  # 62 s at 0.17/min, peak (R5)
            assert await store.get_record(CallKey("callctl-lab", "refused")) is not None
            metrics = svc.metrics.exposition().decode()
            assert 'callctl_spooled_total{kind="settle"} 1.0' in metrics
            assert 'callctl_spool_drained_total{kind="record"} 1.0' in metrics

    asyncio.run(main())


def test_postgresql_stopped_between_route_and_hangup(tmp_path: Path) -> None:
    """A private PostgreSQL cluster stopped under a running service (real FastAGI requests):
    decisions go on from the last known line (calls abroad 503, emergency and helplines
    routed), hangups and refusals are spooled, and all is written once it is back."""
    cluster = PrivateCluster(free_port())
    try:
        cluster.start()
        asyncio.run(_stopped_between_route_and_hangup(cluster, tmp_path))
    finally:
        cluster.remove()


async def _stopped_between_route_and_hangup(cluster: PrivateCluster, tmp_path: Path) -> None:
    db = cluster.url
    await migrate(db)
    engine = make_engine(db)
    try:
        await Store(engine).upsert_lines(parse_lines_yaml(LAB_LINES.read_text("utf-8"), TARIFF))
    finally:
        await engine.dispose()
    settings = Settings(db=db, agi_port=0, http_port=0, clock=OFFPEAK,
                        spool=str(tmp_path / "spool.db"))  # fmt: skip
    async with running(settings) as svc:
        port = svc.agi.port
        assert (await route(port, "before", "022345678")).startswith("route,carrier")
        await asyncio.to_thread(cluster.stop)
        assert 'SET VARIABLE "CALLCTL_SPOOLED" "1"' in await hangup(
            port, "before", "022345678", answered_ms=30_000
        )
        await asyncio.sleep(DEFAULT_TTL)  # the cached line is stale: only the last read is left
        assert (await route(port, "during", "022345678")).startswith("route,carrier")
        assert (await route(port, "abroad", "+33142685300")).startswith("refuse,,,0,503,")
        assert (await route(port, "sos", "112")).startswith("route,psap-112-brussels,112")
        assert (await route(port, "help", "116000")).startswith("route,carrier")
        await hangup(port, "during", "022345678", answered_ms=45_000)
        spooler = svc.controller.spooler
        assert spooler is not None
        assert spooler.depth[SETTLE] == 2
        svc.controller.spool_max = 2  # full: no new call is decided without the database
        assert await route(port, "full", "022345678") == ""  # the dialplan's fallback decides
        assert (await route(port, "help2", "116000")).startswith("route,carrier")
        await asyncio.to_thread(cluster.start)
        deadline = time.monotonic() + 30
        while spooler.waiting or svc.controller.records._pending:
            assert time.monotonic() < deadline, spooler.depth
            await asyncio.sleep(0.1)
        store = svc.controller.store
        records = {r.key.call_id: r for r in await store.list_records(line=CLASSIC)}
        assert {"before", "during", "abroad"} <= set(records)
        assert (records["before"].billsec, records["during"].billsec) == (30, 45)
        assert records["abroad"].reason is not None
        assert records["abroad"].sip_code == 503
        usage = await store.get_usage(CLASSIC, PERIOD)
        assert usage.fair_use_seconds == 75 == sum(r.fair_use_seconds for r in records.values())
        assert metric_value(svc, "callctl_degraded_decisions_total") >= 3


def test_serve_refuses_another_databases_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool.db"
    Spool(spool, "postgresql://callctl@db.example/callctl").close()
    proc = subprocess.run(
        [sys.executable, "-m", "callctl", "serve", "--db", f"sqlite:///{tmp_path / 'b.db'}",
         "--spool", str(spool), "--agi-port", "0", "--http-port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "is the spool of postgresql+asyncpg://callctl@db.example/callctl" in proc.stderr
    assert "Traceback" not in proc.stderr
