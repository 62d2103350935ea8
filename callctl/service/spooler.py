"""Writes what the database could not take to the durable spool, and drains it back later.

The controller hands a hangup's settlement inputs (or records that draw nothing) to the
:class:`Spooler` when the database does not answer; they are on disk (:mod:`callctl.store.spool`)
before the hangup request is answered. A background task drains the spool in arrival order
as soon as the database answers again, through the controller's own write paths (the
hangup's :meth:`~callctl.store.repository.Store.settle`, the refusals' ``add_records``), and
deletes an entry only after its commit. While settlements wait in the spool, later hangups
are spooled behind them, so usage counters are drawn in arrival order (R6, R7).

File operations run on one worker thread (an fsync per append must not stall the event loop)
in submission order.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc

from callctl.core.classify import Classification
from callctl.core.records import CallKey, CallRecord
from callctl.core.settlement import CallEnd
from callctl.service.observer import Observer
from callctl.store.repository import StoreError
from callctl.store.spool import (
    KINDS,
    RECORD,
    SETTLE,
    Entry,
    Spool,
    record_from_json,
    record_to_json,
)

log = logging.getLogger("callctl.spool")

T = TypeVar("T")

PAGE = 200  # entries read at a time
RETRY_MIN = 0.25  # seconds between attempts while the database is down, doubled up to…
RETRY_MAX = 1.0
WRITE_BUDGET = 5.0  # seconds a drained write may take before the database counts as down
MAX_ATTEMPTS = 3  # failures (other than an outage) before an entry is moved aside

SettleEntry = Callable[[Entry], Awaitable[None]]
WriteRecords = Callable[[Sequence[CallRecord]], Awaitable[None]]

_BAD_DATA = (
    sa_exc.IntegrityError,
    sa_exc.DataError,
    sa_exc.ProgrammingError,
    sa_exc.NotSupportedError,
    StoreError,
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
)


class DatabaseDown(ConnectionError):
    """Not tried: the database failed a moment ago (:class:`Budget`'s cooldown)."""


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` may mean the database is down, starting or unreachable, rather than
    that the data is bad. Anything unknown counts as an outage: a spooled entry is then
    tried again later (and the spool's depth shows it), never dropped."""
    if isinstance(exc, OSError | TimeoutError | sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    return not isinstance(exc, _BAD_DATA)


class Budget:
    """Runs database work within a time budget, without waiting for late work to stop.

    ``await budget(aw, seconds)`` is ``aw``'s result if it comes within ``seconds``, else a
    TimeoutError at once. Unlike ``asyncio.wait_for``, it does not wait for the late work to
    be cancelled (a driver thread blocked on a database lock can take long to notice): that
    work is left to finish on its own (a late commit is harmless: the spooled copy then
    finds its record, R10) and cancelled by :meth:`cancel_late` at shutdown.

    With a ``cooldown``, a failure that says the database is down (:func:`database_unavailable`;
    not a late answer) makes every call fail at once for that many seconds, without trying:
    during an outage, requests do not each pay for a refused connection.
    """

    def __init__(self, cooldown: float = 0.0) -> None:
        self.late: set[asyncio.Future[Any]] = set()
        self.cooldown = cooldown
        self._down_until = 0.0

    async def __call__(self, aw: Awaitable[T], seconds: float | None) -> T:
        if self.cooldown and time.monotonic() < self._down_until:
            if inspect.iscoroutine(aw):
                aw.close()
            raise DatabaseDown("the database failed less than a moment ago")
        task = asyncio.ensure_future(aw)
        if seconds is None:
            return await self._watch(task)
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        except asyncio.CancelledError:  # the caller was cut (its deadline): the work goes on
            self._abandon(task)
            raise
        if task in done:
            return await self._watch(task)
        self._abandon(task)
        raise TimeoutError(f"no answer from the database within {seconds} s")

    def _abandon(self, task: asyncio.Future[Any]) -> None:
        self.late.add(task)
        task.add_done_callback(self._done)

    async def _watch(self, task: asyncio.Future[T]) -> T:
        try:
            return await task
        except Exception as exc:
            if self.cooldown and database_unavailable(exc):
                self._down_until = time.monotonic() + self.cooldown
            raise

    def _done(self, task: asyncio.Future[Any]) -> None:
        self.late.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its failure was already handled as a timeout

    async def cancel_late(self) -> None:
        for task in list(self.late):
            task.cancel()
        await asyncio.gather(*self.late, return_exceptions=True)


# ------------------------------------------------------------------ settlement inputs


def settlement_payload(
    record: CallRecord,
    classification: Classification,
    end: CallEnd,
    plan: tuple[str, tuple[str, ...]] | None,
    tariff_id: str,
) -> dict[str, Any]:
    """Everything a hangup's settlement needs, as JSON values. ``plan`` is (product,
    options), or None when the line could not be read (it is read when drained)."""
    return {
        "record": record_to_json(record),
        "classification": asdict(classification),
        "end": {
            "answered_at": end.answered_at.isoformat() if end.answered_at else None,
            "duration": str(end.duration),
            "dial_status": end.dial_status,
            "hangup_cause": end.hangup_cause,
        },
        "plan": None if plan is None else {"product": plan[0], "options": list(plan[1])},
        "tariff": tariff_id,
    }


def settlement_inputs(
    payload: dict[str, Any],
) -> tuple[CallRecord, Classification, CallEnd, tuple[str, tuple[str, ...]] | None]:
    """The inputs :func:`settlement_payload` wrote: record, classification, end, plan."""
    end = payload["end"]
    answered = end["answered_at"]
    plan = payload["plan"]
    return (
        record_from_json(payload["record"]),
        Classification(**payload["classification"]),
        CallEnd(
            answered_at=datetime.fromisoformat(answered) if answered else None,
            duration=Decimal(end["duration"]),
            dial_status=end["dial_status"],
            hangup_cause=end["hangup_cause"],
        ),
        None if plan is None else (plan["product"], tuple(plan["options"])),
    )


# ------------------------------------------------------------------ the spooler


class Spooler:
    """The spool of one ``callctl serve``: appends, depth, and the drain task."""

    def __init__(self, spool: Spool, observer: Observer | None = None) -> None:
        self.spool = spool
        self.observer = observer or Observer()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callctl-spool")
        self.depth = spool.depth()  # mirrors the file: entries waiting, by kind
        self.rejected = spool.rejected()
        self._wake = asyncio.Event()
        self._draining = asyncio.Lock()  # one drain at a time: entries are written once
        self._task: asyncio.Task[None] | None = None
        self._settle: SettleEntry | None = None
        self._records: WriteRecords | None = None

    @property
    def waiting(self) -> int:
        return sum(self.depth.values())

    @property
    def holds_settlements(self) -> bool:
        """Settlements wait: a new one goes behind them, to draw counters in order."""
        return self.depth[SETTLE] > 0

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, partial(fn, *args))

    # -------------------------------------------------------------- appends

    async def put_settlement(self, key: CallKey, payload: dict[str, Any]) -> None:
        await self._put([(SETTLE, key, payload)])

    async def put_records(self, records: Sequence[CallRecord]) -> None:
        await self._put([(RECORD, r.key, record_to_json(r)) for r in records])

    async def _put(self, items: list[tuple[str, CallKey, dict[str, Any]]]) -> None:
        now = datetime.now(UTC)

        def append() -> None:
            for kind, key, payload in items:
                self.spool.append(kind, key, payload, now)

        await self._run(append)
        for kind, _, _ in items:
            self.depth[kind] += 1
            self.observer.spooled(kind)
        self._wake.set()

    # -------------------------------------------------------------- drain

    def start(self, settle: SettleEntry, records: WriteRecords) -> None:
        """Start draining (leftover entries first) with the controller's write paths."""
        self._settle, self._records = settle, records
        if self._task is None:
            self._task = asyncio.ensure_future(self._drain_forever())
        if self.waiting:
            log.warning("spool %s holds %d entries from before: writing them to the database",
                        self.spool.path, self.waiting)  # fmt: skip
            self._wake.set()

    async def _drain_forever(self) -> None:
        delay = RETRY_MIN
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except Exception as exc:
                if delay == RETRY_MIN:
                    log.warning("spool: the database does not take its %d entries yet (%s: %s); "
                                "trying again", self.waiting, type(exc).__name__, exc)  # fmt: skip
                # Appends meanwhile do not bring the next attempt forward: one per delay.
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                self._wake.set()
                continue
            delay = RETRY_MIN

    async def drain(self) -> int:
        """Write every entry waiting, oldest first; how many were written. An outage
        raises (the entries stay); an entry that keeps failing otherwise is moved aside."""
        done = 0
        async with self._draining:
            while entries := await self._run(self.spool.head, PAGE):
                done += await self._drain_page(entries)
        return done

    async def _drain_page(self, entries: list[Entry]) -> int:
        done = 0
        i = 0
        while i < len(entries):
            entry = entries[i]
            if entry.kind == SETTLE:
                batch = [entry]
            else:  # consecutive records that draw nothing go in one transaction
                j = i
                while j < len(entries) and entries[j].kind == RECORD:
                    j += 1
                batch = entries[i:j]
            i += len(batch)
            try:
                await asyncio.wait_for(self._write(batch), WRITE_BUDGET)
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                await self._failed(batch, exc)
                continue
            await self._run(self.spool.delete, [e.id for e in batch])
            self.depth[batch[0].kind] -= len(batch)
            for e in batch:
                self.observer.drained(e.kind)
            done += len(batch)
        return done

    async def _write(self, batch: list[Entry]) -> None:
        assert self._settle is not None, "not started"
        assert self._records is not None, "not started"
        if batch[0].kind == SETTLE:
            await self._settle(batch[0])
        else:
            await self._records([record_from_json(e.payload) for e in batch])

    async def _failed(self, batch: list[Entry], exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:1000]
        for e in batch:
            attempts = await self._run(self.spool.failed, e.id, error)
            if attempts >= MAX_ATTEMPTS:
                log.error("spool entry %d (%s %s/%s) moved aside after %d failures: %s",
                          e.id, e.kind, e.key.host, e.key.call_id, attempts, error)  # fmt: skip
                await self._run(self.spool.reject, e.id, error)
                self.depth[e.kind] -= 1
                self.rejected += 1
                self.observer.spool_rejected(e.kind)

    async def close(self) -> None:
        """Stop draining (an entry being written is finished or left for next time) and
        close the file; what is left is drained at the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.waiting:
            log.warning("spool %s keeps %d entries for the next start", self.spool.path,
                        self.waiting)  # fmt: skip
        await self._run(self.spool.close)
        self._thread.shutdown(wait=True)


__all__ = [
    "KINDS",
    "Budget",
    "Spooler",
    "database_unavailable",
    "settlement_inputs",
    "settlement_payload",
]
