"""A session on the test PBX: Asterisk up with the lab lines, ``callctl serve`` on a fresh
SQLite file, SIPp far ends on the trunks, and calls placed at given times.

Used by ``callctl demo --live``, ``callctl replay --live`` and ``scripts/make-traces``. Whoever
uses it holds ``/tmp/callctl-live.lock`` (one PBX and one FastAGI port on the machine).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from callctl.core.lines import Line
from callctl.core.records import CallRecord
from callctl.core.tariff import Tariff
from callctl.pbx.lab import Credential, Lab
from callctl.pbx.serve_process import ServeProcess
from callctl.pbx.sipp import FarEnd, SippResult, UacCall, place_call
from callctl.store import make_engine, migrate
from callctl.store.lines_yaml import parse_lines_yaml
from callctl.store.repository import Store

LAB_LINES = Path(__file__).resolve().parents[2] / "dialplan" / "lab-lines.yaml"
MAX_PARALLEL_CALLS = 32


async def setup_db(url: str, lines: Sequence[Line]) -> None:
    """Migrate the database and store the lines."""
    engine = make_engine(url)
    try:
        await migrate(engine)
        await Store(engine).upsert_lines(lines)
    finally:
        await engine.dispose()


async def read_records(url: str) -> list[CallRecord]:
    engine = make_engine(url)
    try:
        return await Store(engine).list_records()
    finally:
        await engine.dispose()


def lab_lines(tariff: Tariff) -> list[Line]:
    return parse_lines_yaml(LAB_LINES.read_text("utf-8"), tariff)


@dataclass(frozen=True, slots=True)
class Placement:
    """A call to place: when (seconds after the first), from which lab line, from where."""

    offset: float
    number: str  # a lab line or licence (its credentials)
    call: UacCall
    local_ip: str = "127.0.0.1"


@dataclass
class LabSession:
    lab: Lab
    creds: dict[str, Credential]
    db: str
    server: ServeProcess

    def records(self) -> list[CallRecord]:
        return asyncio.run(read_records(self.db))

    def place(self, calls: Sequence[Placement], timeout: float = 120) -> list[SippResult]:
        """Place every call at its offset (concurrently), and wait for all of them."""
        start = time.monotonic()

        def one(p: Placement) -> SippResult:
            time.sleep(max(start + p.offset - time.monotonic(), 0))
            cred = self.creds[p.number]
            return place_call(
                p.call, cred.username, cred.password, local_ip=p.local_ip, timeout=timeout
            )

        workers = max(min(len(calls), MAX_PARALLEL_CALLS), 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, calls))


@contextmanager
def lab_session(
    tariff: Tariff,
    work: Path,
    *,
    clock: str | None,
    trunks: Iterable[str] = ("carrier",),
    ring_ms: int | None = None,
) -> Iterator[LabSession]:
    """The PBX up (left up if it was), callctl serving the lab lines, far ends on ``trunks``
    (ringing ``ring_ms`` before answering, when given)."""
    lab = Lab()
    was_running = lab.running()
    lines = lab_lines(tariff)
    creds = {c.number: c for c in lab.up(lines)}
    db = f"sqlite:///{work / 'callctl.db'}"
    asyncio.run(setup_db(db, lines))
    with ExitStack() as stack:
        if not was_running:
            stack.callback(lab.down)
        server = ServeProcess(db, clock, work).start()
        stack.callback(server.stop)
        for trunk in sorted(set(trunks)):
            stack.enter_context(FarEnd(lab.trunk_address(trunk), ring_ms=ring_ms))
        time.sleep(0.3)  # SIPp binds its sockets
        yield LabSession(lab, creds, db, server)
