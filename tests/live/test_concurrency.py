"""Live: two calls of one line ending together draw the bundle once per second (R6, R10),
on SQLite and PostgreSQL; a caller who cancels during the decision gets a record (R10)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlalchemy.engine import make_url

from callctl.pbx.sipp import FarEnd, SippResult, UacCall
from callctl.store import make_engine
from callctl.store.repository import Store
from tests.databases import fresh_database
from tests.live.conftest import CLASSIC, LAB_LINES, OFFPEAK, PEAK, Callctl, run_cli, wait_for


def usage(db: str, line: str, period: str) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        engine = make_engine(db)
        try:
            u = await Store(engine).get_usage(line, period)
        finally:
            await engine.dispose()
        return u.bundle_seconds, u.fair_use_seconds

    return asyncio.run(main())


def test_two_calls_ending_together_draw_each_second_once(
    any_lines_db: str,
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> None:
    server = start_callctl(any_lines_db, OFFPEAK)
    far_ends("carrier")
    specs = [UacCall("+33142685300", hold_ms=2000), UacCall("+4930123456", hold_ms=2000)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda spec: call(CLASSIC, spec), specs))
    assert [r.returncode for r in results] == [0, 0]
    recs = server.records()
    assert len(recs) == 2
    assert [r.group for r in recs] == ["zone", "zone"]
    assert all(abs(r.billsec - 2) <= 1 for r in recs)  # R4: what SIPp held, within 1 s
    drawn = sum(r.bundle_seconds for r in recs)
    assert drawn == sum(r.billsec for r in recs)  # R6: every off-peak zone second, once
    assert usage(any_lines_db, CLASSIC, "2026-11") == (drawn, 0)


def test_caller_cancel_during_the_decision_is_recorded(
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> None:
    far = far_ends("carrier")
    with fresh_database() as db:
        run_cli("lines", "import", str(LAB_LINES), "--db", db)
        server = start_callctl(db, PEAK)
        name = make_url(db).database or ""
        # Hold the lines table for 1 s (under the 1.5 s AGI deadline): the decision waits,
        # the caller cancels after 0.3 s, the answer then meets a dead channel.
        locker = subprocess.Popen(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", name, "-q", "-c",
             "BEGIN; LOCK TABLE lines IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1); COMMIT;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(0.2)
        result = call(CLASSIC, UacCall("022345672", cancel_after_ms=300))
        assert locker.wait(timeout=10) == 0
        assert result.returncode == 0, result.stderr[-2000:]
        wait_for(lambda: bool(server.records()), 5)  # refusal records are batched
        recs = server.records()
        assert [(r.dialled, r.action, r.disposition, r.billsec, r.amount) for r in recs] == [
            ("022345672", "route", "NO ANSWER", 0, Decimal(0))
        ]
        assert recs[0].reason == "the caller hung up during the decision"
        assert not far.invites()  # the call never left the PBX
