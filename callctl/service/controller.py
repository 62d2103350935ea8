"""The FastAGI requests of the dialplan: ``route`` (decide) and ``hangup`` (rate and record).

Thin around the core: it decodes the AGI arguments, asks the store for the line and its
counters, lets :func:`callctl.core.policy.decide` decide, answers with one SET VARIABLE,
and at hangup lets :func:`callctl.core.settlement.settle_call` rate the call inside the
store's transaction (R10: the record is committed before the hangup hook returns).

Emergency calls never wait on the database: they are decided first, from the line when it
loads within a short budget, else from the centres configured on the caller's endpoint.
Other requests wait at most ``ROUTE_DB_BUDGET`` for the line; when the database does not
answer they are decided from the line as last read (helplines always; calls abroad, whose
fraud guard needs the records, are refused 503), and a hangup whose record cannot be
committed goes to the durable spool (:mod:`callctl.service.spooler`) before it is answered:
docs/operations.md, "Database unavailable".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from callctl.agi.protocol import AgiEnvironment, AgiError
from callctl.agi.server import AgiHangup, AgiSession
from callctl.core.classify import Classification, Classifier
from callctl.core.emergency import Centres, EmergencyPlan
from callctl.core.fraud import LineActivity, seconds_in_window
from callctl.core.lines import Line
from callctl.core.location import DeviceContext, assess_location
from callctl.core.policy import UNAVAILABLE, Decision, decide, emergency_route, line_plan, refuse
from callctl.core.rating import Rater, Usage
from callctl.core.records import CallKey, CallRecord
from callctl.core.settlement import CallEnd, Settlement, base_record, refusal_record
from callctl.core.tariff import Plan, Tariff, TariffError
from callctl.data.geo import default_provinces
from callctl.service.clock import Clock
from callctl.service.line_cache import LineCache
from callctl.service.observer import ActiveCall, Observer
from callctl.service.record_queue import RecordQueue
from callctl.service.spooler import (
    Budget,
    Spooler,
    database_unavailable,
    settlement_inputs,
    settlement_payload,
)
from callctl.sip.context import pbx_device_context, request_from_headers
from callctl.sip.message import SipParseError, device_id
from callctl.store.repository import Store
from callctl.store.spool import Entry

log = logging.getLogger("callctl.controller")

# AGI argument positions (dialplan/extensions.conf, [callctl-route] and [callctl-hangup]).
ROUTE_ARGS = (
    "dialled", "line", "endpoint", "remote_addr", "host", "callerid", "device_type",
    "device_id", "contact", "access_network", "geolocation", "geolocation_routing",
    "psap", "cic", "geoloc_format", "geoloc_info",
)  # fmt: skip
ENCODED = frozenset(
    {"dialled", "callerid", "device_type", "device_id", "contact", "access_network",
     "geolocation", "geolocation_routing", "geoloc_format", "geoloc_info"}
)  # fmt: skip
HANGUP_ARGS = (
    "host", "ended", "answered_ms", "dial_status", "cause", "trunk", "line", "dialled", "asked",
)  # fmt: skip
EMERGENCY_DB_BUDGET = 0.3  # seconds an emergency decision may wait for the line's address
# Seconds another decision may wait for the line, its counters and its calls abroad in all
# (under the AGI deadline, 1.5 s, so that callctl still answers from what it last read).
ROUTE_DB_BUDGET = 1.2
# Seconds a hangup's transaction may take before it is spooled. A failing database (refused,
# reset) is spooled at once, before the AGI answer; one that is merely slow under load keeps
# committing as before (past the AGI deadline if need be), and one that hangs is spooled here.
SETTLE_DB_BUDGET = 5.0
DB_COOLDOWN = 1.0  # seconds the database is not asked again after it failed
SPOOL_MAX = 100_000  # spooled writes beyond which calls are no longer decided without the DB
CALLCTL_VAR = "CALLCTL"
# A routed call whose hangup request never came (Asterisk restarted, or the request was
# turned away) would stay in ``active`` (and its grant in ``reserved``) for good. No call
# outlives the dialplan's ring time plus its limit (Dial(…,120,L(limit))); one without a
# limit is given UNLIMITED_CALL seconds. Past that (and SWEEP_GRACE), it is forgotten:
# its grant no longer counts, and a late hangup is still rated (``_rebuild``).
DIAL_TIMEOUT = 120  # seconds, dialplan/extensions.conf
UNLIMITED_CALL = 12 * 3600  # seconds: the longest a call without a limit is expected to last
SWEEP_GRACE = 60  # seconds
SWEEP_EVERY = 60.0  # seconds between two sweeps (done by a route request)


def device_context_of(args: dict[str, str]) -> DeviceContext:
    """R9 inputs from the headers the dialplan passed, read as a captured request would be."""
    headers = {
        "X-Device-Type": args["device_type"],
        "X-Device-Id": args["device_id"],
        "Contact": args["contact"],
        "P-Access-Network-Info": args["access_network"],
        "Geolocation": args["geolocation"],
        "Geolocation-Routing": args["geolocation_routing"],
    }
    source = args["remote_addr"].rsplit(":", 1)[0] or None
    return pbx_device_context(headers, source, args["geoloc_format"], args["geoloc_info"])


def device_of(args: dict[str, str]) -> str | None:
    """The device identity: the Contact's +sip.instance, else X-Device-Id (R9)."""
    request = request_from_headers({"Contact": args["contact"], "X-Device-Id": args["device_id"]})
    try:
        return device_id(request)
    except SipParseError:
        return args["device_id"] or None


def _longest(limit_seconds: int | None) -> timedelta:
    """How long after its decision a call is surely over (see DIAL_TIMEOUT)."""
    limit = UNLIMITED_CALL if limit_seconds is None else limit_seconds
    return timedelta(seconds=DIAL_TIMEOUT + limit + SWEEP_GRACE)


class BadRequest(ValueError):
    """The AGI request's arguments cannot be used."""


def _decode(value: str) -> str:
    """An argument the dialplan sent as ``BASE64_ENCODE(x<value>)`` (see extensions.conf)."""
    if not value:
        return ""
    try:
        text = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise BadRequest(f"argument is not base64 text: {value[:40]!r}") from None
    if not text.startswith("x"):
        raise BadRequest(f"encoded argument without its 'x' prefix: {value[:40]!r}")
    return text[1:]


def parse_args(env: AgiEnvironment, names: Sequence[str]) -> dict[str, str]:
    """AGI arguments by name; missing trailing ones are empty, encoded ones decoded."""
    values = list(env.args) + [""] * max(len(names) - len(env.args), 0)
    return {
        name: _decode(value) if name in ENCODED else value
        for name, value in zip(names, values, strict=False)
    }


def _epoch(value: str) -> datetime | None:
    try:
        seconds = Decimal(value)
    except InvalidOperation:
        return None
    if not seconds.is_finite() or seconds <= 0:
        return None
    return datetime.fromtimestamp(float(seconds), UTC)


def _decimal(value: str) -> Decimal:
    try:
        amount = Decimal(value or "0")
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() and amount > 0 else Decimal(0)


__all__ = ["ActiveCall", "BadRequest", "Controller"]


def channel_number(call_id: str) -> tuple[int, int] | None:
    """Asterisk's unique id ``[systemname-]<epoch>.<n>``: the channel's creation second and
    its number, counted from 0 at each start of Asterisk; None for any other form."""
    epoch, dot, n = call_id.rpartition("-")[2].partition(".")
    if not (dot and epoch.isdigit() and n.isdigit()):
        return None
    return int(epoch), int(n)


@dataclass(slots=True)
class Reservation:
    """Seconds granted to a call abroad, held until its record is written (fraud guard)."""

    line: str
    seconds: int
    granted: datetime  # when (the controller's clock)
    live: bool = True  # False once the call hung up: its record is being written


class Controller:
    """Decides and records calls for the FastAGI server; tells ``observer`` as it goes."""

    def __init__(
        self,
        store: Store,
        tariff: Tariff,
        emergency: EmergencyPlan,
        clock: Clock | None = None,
        observer: Observer | None = None,
        *,
        spooler: Spooler | None = None,
        spool_max: int = SPOOL_MAX,
    ) -> None:
        self.store = store
        self.tariff = tariff
        self.emergency = emergency
        self.clock = clock or Clock()
        self.classifier = Classifier(tariff.numbering)
        self.rater = Rater(tariff)
        self.active: dict[CallKey, ActiveCall] = {}
        self.reserved: dict[CallKey, Reservation] = {}
        self.provinces = default_provinces()
        self.lines = LineCache(store)
        self.observer = observer or Observer()
        self.spooler = spooler
        self.spool_max = spool_max
        self.records = RecordQueue(
            store,
            on_written=self._batch_written,
            spill=spooler.put_records if spooler is not None else None,
        )
        self._db_down_logged = False
        self._settling: set[asyncio.Task[object]] = set()
        # Database work past its budget is left to finish alone; after a failure, nothing is
        # tried for DB_COOLDOWN seconds (decided without it, spooled).
        self._within = Budget(cooldown=DB_COOLDOWN)
        self._default_plan = tariff.plan(next(iter(tariff.products)))
        # Per PBX host: the highest channel number seen, with its creation second.
        self._channels: dict[str, tuple[int, int]] = {}
        self._swept = time.monotonic()
        self.forgotten = 0  # calls swept from ``active`` without their hangup

    # ------------------------------------------------------------------ dispatch

    async def handle(self, session: AgiSession) -> None:
        script = session.env.script
        if script == "route":
            await self.route(session)
        elif script == "hangup":
            await self.hangup(session)
        else:
            log.warning("unknown AGI request %r from %s", script, session.env.channel)

    def start(self) -> None:
        """Start draining the spool (its leftover entries first), if there is one."""
        if self.spooler is not None:
            self.spooler.start(self._settle_entry, self._write_records)

    async def drain(self) -> None:
        """Wait for settlements and queued records still being written (at shutdown); what
        the database cannot take stays in the spool for the next start."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)
        await self._within.cancel_late()
        await self.records.close()
        if self.spooler is not None:
            await self.spooler.close()

    def safe_answer(self, env: AgiEnvironment) -> Sequence[tuple[str, str]]:
        """On a missed deadline: no decision, so the dialplan's fallback runs.

        The fallback still routes emergency numbers and helplines and Belgian calls.
        """
        del env
        return [("CALLCTL_STATUS", "timeout")]

    # ------------------------------------------------------------------ route

    async def route(self, session: AgiSession) -> None:
        env = session.env
        started = time.perf_counter()
        now = self.clock.now()
        if time.monotonic() - self._swept >= SWEEP_EVERY:
            self.sweep(now)
        try:
            args = parse_args(env, ROUTE_ARGS)
        except BadRequest as exc:
            log.warning("route request with bad arguments: %s", exc)
            self.observer.bad_request("route")
            return  # no answer: the dialplan falls back
        key = CallKey(args["host"] or "asterisk", env.uniqueid)
        self._check_restart(key)
        c = self.classifier(args["dialled"])
        device = device_of(args)  # the Contact's +sip.instance, else X-Device-Id (R9)
        degraded = False
        if c.group == "emergency":
            decision = await self._emergency(c, args)
        else:
            busy = self._device_busy(args["endpoint"], device)
            try:
                until = time.monotonic() + ROUTE_DB_BUDGET
                line, usage = await self._within(
                    self._line_state(args["line"], now), ROUTE_DB_BUDGET
                )
                left = max(until - time.monotonic(), 0.01)
                abroad = await self._abroad(args["line"], c, now, left) if line else None
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                without = self._without_database(c, args, now, busy, exc)
                if without is None:
                    return  # no answer: the dialplan's fallback decides
                decision, degraded = without, True
            else:
                decision = decide(
                    c, line, usage, self.tariff, self.emergency, device_busy=busy, abroad=abroad
                )
                self._db_down_logged = False
                if abroad is not None and decision.routed and decision.limit_seconds is not None:
                    # No await since the activity was read: the next decision sees this grant.
                    self.reserved[key] = Reservation(args["line"], decision.limit_seconds, now)
        try:
            await session.set_variable(CALLCTL_VAR, decision.agi_value())
        except AgiHangup:
            await self._cancelled(key, args, decision, now)
            return
        if session.hungup:  # HANGUP came while deciding: the dialplan will not dial
            await self._cancelled(key, args, decision, now)
            return
        call = ActiveCall(
            key, args["line"], args["dialled"], decision, now,
            endpoint=args["endpoint"], device=device,
        )  # fmt: skip
        if decision.routed:
            self.active[key] = call
        else:
            self.records.put(
                refusal_record(
                    key, args["line"], args["dialled"], decision, now,
                    period=self.rater.period_of(now),
                )
            )  # fmt: skip
        self.observer.decided(call, time.perf_counter() - started)
        if degraded:
            self.observer.degraded(call)

    async def _line_state(self, number: str, now: datetime) -> tuple[Line | None, Usage]:
        """What a decision reads: the line and its counters."""
        line = await self.lines.line(number) if number else None
        return line, await self.lines.usage(number, self.rater.period_of(now))

    def _without_database(
        self, c: Classification, args: dict[str, str], now: datetime, busy: bool,
        exc: Exception,
    ) -> Decision | None:  # fmt: skip
        """The decision when the line or its counters cannot be read in time; None for no
        answer (the dialplan's fallback). Helplines are routed; a line read before is
        decided from what was read then, except calls the fraud guard must count (503);
        nothing else is decided once the spool holds ``spool_max`` writes."""
        if not self._db_down_logged:
            self._db_down_logged = True
            log.warning("database not answering within %.1f s (%s): deciding from the last "
                        "known lines, spooling records", ROUTE_DB_BUDGET,
                        type(exc).__name__)  # fmt: skip
        number = args["line"]
        line = self.lines.last(number) if number else None
        usage = self.lines.last_usage(number, self.rater.period_of(now)) if number else None
        if c.group == "helpline":  # free, never refused (R9); no line needed
            return decide(c, line, usage or Usage(self.rater.period_of(now)), self.tariff,
                          self.emergency, device_busy=False)  # fmt: skip
        if line is None or usage is None or self.spooler is None:
            return None
        if self.spooler.waiting >= self.spool_max:
            return None
        if (
            c.group in self.tariff.fraud.velocity.groups
            and decide(c, line, usage, self.tariff, self.emergency, device_busy=busy).routed
        ):
            why = "calls abroad wait for the database (the fraud guard counts them)"
            return refuse(c, UNAVAILABLE, "database_unavailable", why)
        return decide(c, line, usage, self.tariff, self.emergency, device_busy=busy)

    async def _abroad(
        self, line: str, c: Classification, now: datetime, budget: float = ROUTE_DB_BUDGET
    ) -> LineActivity | None:
        """What the line is doing abroad, for the fraud guard's velocity limits.

        Grants are read before and after the records: a call whose record is committed in
        between may count twice (never too few), and grants made meanwhile are seen.
        """
        rules = self.tariff.fraud.velocity
        if not line or c.group not in rules.groups:
            return None
        before = self._reservations(line)
        window = timedelta(seconds=rules.window_seconds)
        calls = await self._within(
            self.store.answered_intervals(line, rules.groups, now - window), budget
        )
        after = self._reservations(line)
        held = {**before, **after}
        return LineActivity(
            finished_seconds=seconds_in_window(calls, now, rules.window_seconds),
            reserved_seconds=sum(r.seconds for r in held.values()),
            in_progress=sum(1 for r in after.values() if r.live),
        )

    def _check_restart(self, key: CallKey) -> None:
        """Forget the calls in progress of a PBX that restarted: they send no hangup.

        Asterisk numbers channels from 0 at each start, and a number and its creation second
        only grow within one run (requests may arrive a little out of order, never with a
        later second for a lower number). A lower number created in a later second than the
        highest seen therefore means a new run: every call still held for that host is of
        the old one. Their records come from ``callctl reconcile`` (Asterisk's CDR file).
        """
        seen = channel_number(key.call_id)
        if seen is None:
            return
        epoch, number = seen
        last = self._channels.get(key.host)
        if last is not None and number < last[1] and epoch > last[0]:
            stale = [k for k in self.active if k.host == key.host]
            log.warning("PBX %s restarted (channel %s): %d calls in progress forgotten, "
                        "their records come from callctl reconcile", key.host, key.call_id,
                        len(stale))  # fmt: skip
            for k in stale:
                self.observer.ended(self.active.pop(k))
            for k in [k for k in self.reserved if k.host == key.host]:
                del self.reserved[k]
        if last is None or number > last[1] or (number < last[1] and epoch > last[0]):
            self._channels[key.host] = (epoch, number)

    def _reservations(self, line: str) -> dict[CallKey, Reservation]:
        return {k: r for k, r in self.reserved.items() if r.line == line}

    async def _emergency(self, c: Classification, args: dict[str, str]) -> Decision:
        """Never refused, never waits long on the database (R9)."""
        line: Line | None = None
        try:
            line = await self._within(self.lines.line(args["line"]), EMERGENCY_DB_BUDGET)
        except Exception as exc:  # the database is down or slow: the line as last read, else
            line = self.lines.last(args["line"]) if args["line"] else None  # the endpoint's
            log.warning("emergency call: line %s not loaded (%s); using %s", args["line"],
                        type(exc).__name__, "the line as last read" if line else
                        "the endpoint's centres")  # fmt: skip
        if line is not None:
            verdict = assess_location(
                line, device_context_of(args), self.emergency, self.provinces.province_at
            )
            return emergency_route(c, line, self.emergency, verdict)
        if not (args["psap"] and args["cic"]):
            return emergency_route(c, None, self.emergency)
        province = args["psap"].removeprefix(self.emergency.psap_trunk_prefix + "-")
        centres = Centres(province, args["psap"], args["cic"])
        number = c.dial or ""
        return Decision(
            "route", c, trunk=self.emergency.trunk_for(number, centres), number=number,
            centres=centres,
        )  # fmt: skip

    async def _cancelled(
        self, key: CallKey, args: dict[str, str], decision: Decision, now: datetime
    ) -> None:
        """The caller hung up while callctl decided (a CANCEL during the AGI)."""
        self.reserved.pop(key, None)
        self.observer.cancelled(ActiveCall(key, args["line"], args["dialled"], decision, now))
        record = replace(
            base_record(key, args["line"], args["dialled"], decision, now),
            disposition="NO ANSWER",
            period=self.rater.period_of(now),
            reason="the caller hung up during the decision",
        )
        self.records.put(record)

    # ------------------------------------------------------------------ hangup

    async def hangup(self, session: AgiSession) -> None:
        env = session.env
        try:
            args = parse_args(env, HANGUP_ARGS)
        except BadRequest as exc:  # rate what this process decided; reconcile does the rest
            log.warning("hangup request with bad arguments: %s", exc)
            self.observer.bad_request("hangup")
            raw = list(env.args) + [""] * len(HANGUP_ARGS)
            args = {**dict(zip(HANGUP_ARGS, raw, strict=False)), "dialled": ""}
        key = CallKey(args["host"] or "asterisk", env.uniqueid)
        if key not in self.active and not args["dialled"]:
            log.warning("hangup of %s/%s: unknown call, nothing to rate", key.host, key.call_id)
            return
        active = self.active.pop(key, None) or self._rebuild(key, args)
        reservation = self.reserved.get(key)
        if reservation is not None:
            reservation.live = False  # no longer in progress; its seconds stay held
        self.observer.ended(active)
        ended = _epoch(args["ended"]) or datetime.now(UTC)
        duration = _decimal(args["answered_ms"]) / 1000
        answered = ended - timedelta(seconds=float(duration)) if duration > 0 else None
        end = CallEnd(
            answered_at=self.clock.shift(answered) if answered else None,
            duration=duration,
            dial_status=args["dial_status"],
            hangup_cause=int(args["cause"]) if args["cause"].isdigit() else None,
        )
        record = base_record(key, active.line, active.dialled, active.decision, active.decided_at)
        plan = await self._plan_or_none(active.line)
        c = active.decision.classification
        # The record must be written even if this request misses its deadline (R10): the
        # settlement runs as its own task, which the deadline's cancellation does not reach.
        task = asyncio.ensure_future(self._settle_or_spool(record, c, end, plan))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)
        task.add_done_callback(lambda _: self.reserved.pop(key, None))  # the record holds them
        outcome = await asyncio.shield(task)
        if outcome == "duplicate":
            log.info("hangup of %s/%s already recorded: nothing drawn", key.host, key.call_id)
        # CALLCTL_RECORDED: committed; CALLCTL_SPOOLED: in the durable spool (written later).
        name = "CALLCTL_SPOOLED" if outcome == "spooled" else "CALLCTL_RECORDED"
        with contextlib.suppress(AgiError):  # a gone channel: the record is kept anyway
            await session.set_variable(name, "1")

    async def _settle_or_spool(
        self, record: CallRecord, c: Classification, end: CallEnd, plan: Plan | None
    ) -> str:
        """Commit the record and draw the counters: ``written`` or ``duplicate``; or, when the
        database does not answer in time (or settlements already wait in the spool, which
        keeps the draws in order), put the settlement's inputs in the spool: ``spooled``."""
        spooler = self.spooler
        if plan is not None and (spooler is None or not spooler.holds_settlements):
            settlement = Settlement(record, c, end, plan, self.rater)
            try:
                _, written = await self._within(
                    self._settle(record.key, record.line, settlement),
                    SETTLE_DB_BUDGET if spooler is not None else None,
                )
            except Exception as exc:
                if spooler is None:
                    raise
                log.warning("hangup of %s/%s not committed (%s): spooled", record.key.host,
                            record.key.call_id, type(exc).__name__)  # fmt: skip
            else:
                self.lines.drawn(record.line, settlement.period)
                return "written" if written else "duplicate"
        if spooler is None:  # the line cannot be read and there is no spool
            raise RuntimeError(f"line {record.line} cannot be read: its call is not rated")
        named = None if plan is None else (plan.product, plan.options)
        await spooler.put_settlement(
            record.key, settlement_payload(record, c, end, named, self.tariff.id)
        )
        return "spooled"

    async def _settle_entry(self, entry: Entry) -> None:
        """A spooled hangup, settled as the live hangup would have been (same transaction)."""
        record, c, end, named = settlement_inputs(entry.payload)
        if named is None:
            plan = await self._plan(record.line)
        else:
            try:
                plan = self.tariff.plan(*named)
            except TariffError:  # the tariff changed since: the line's plan of today
                plan = await self._plan(record.line)
        spooled_with = entry.payload.get("tariff")
        if spooled_with != self.tariff.id:
            log.warning("spooled hangup of %s/%s rated with tariff %s, not %s", record.key.host,
                        record.key.call_id, self.tariff.id, spooled_with)  # fmt: skip
        settlement = Settlement(record, c, end, plan, self.rater)
        await self._settle(record.key, record.line, settlement)
        self.lines.drawn(record.line, settlement.period)

    async def _write_records(self, records: Sequence[CallRecord]) -> None:
        """Spooled records that draw nothing, written as the record queue writes them."""
        started = time.perf_counter()
        await self.store.add_records(records)
        self._batch_written(records, time.perf_counter() - started)

    async def _settle(
        self, key: CallKey, line: str, settlement: Settlement
    ) -> tuple[CallRecord, bool]:
        started = time.perf_counter()
        record, written = await self.store.settle(key, line, settlement.period, settlement)
        if written:
            self.observer.recorded([record], time.perf_counter() - started, "settle")
        return record, written

    def _batch_written(self, records: Sequence[CallRecord], seconds: float) -> None:
        self.observer.recorded(records, seconds, "batch")

    def sweep(self, now: datetime) -> int:
        """Forget the calls in progress that must have ended long ago (their hangup request
        never came) and the grants of calls abroad no longer in progress; how many calls."""
        self._swept = time.monotonic()
        stale = [
            key
            for key, call in self.active.items()
            if now - call.decided_at > _longest(call.decision.limit_seconds)
        ]
        for key in stale:
            call = self.active.pop(key)
            log.warning("call %s/%s decided at %s: no hangup came; forgotten (reconcile rates "
                        "it from the CDR file)", key.host, key.call_id,
                        call.decided_at.isoformat())  # fmt: skip
            self.observer.forgotten(call)
        # A grant whose call is no longer in progress here and never hung up (swept above,
        # or its route request cut at the deadline after the grant) is over by then too.
        for key, r in list(self.reserved.items()):
            if r.live and key not in self.active and now - r.granted > _longest(r.seconds):
                del self.reserved[key]
        self.forgotten += len(stale)
        return len(stale)

    def _device_busy(self, endpoint: str, device: str | None) -> bool:
        """R9: the licence is in a call on another device."""
        if not endpoint or device is None:
            return False
        return any(
            a.endpoint == endpoint and a.device is not None and a.device != device
            for a in self.active.values()
        )

    def _rebuild(self, key: CallKey, args: dict[str, str]) -> ActiveCall:
        """A hangup whose route decision this process did not make: it was restarted since,
        or another callctl process decided (docs/operations.md, "Two callctl processes").

        Rating needs only what the hangup carries (line, dialled string, trunk, times) and
        the counters, which are locked in the database; the decision's time is when the
        dialplan asked (``asked``), else the end. Its emergency location is not known here.
        """
        c = self.classifier(args["dialled"])
        decision = Decision("route", c, trunk=args["trunk"] or None, number=c.dial)
        when = _epoch(args["asked"]) or _epoch(args["ended"]) or datetime.now(UTC)
        decided = self.clock.shift(when)
        return ActiveCall(key, args["line"], args["dialled"], decision, decided)

    async def _plan_or_none(self, number: str) -> Plan | None:
        """The line's plan, from the line as last read when the database does not answer in
        time; None when it was never read (the spool reads it later)."""
        try:
            return await self._within(self._plan(number), ROUTE_DB_BUDGET)
        except Exception as exc:
            if not database_unavailable(exc) or self.spooler is None:
                raise
            line = self.lines.last(number) if number else None
            if line is None:
                return None if number else self._default_plan
            return self._line_plan(line)

    async def _plan(self, number: str) -> Plan:
        line = await self.lines.line(number) if number else None
        if line is None:
            return self._default_plan  # only emergency calls and helplines: free anyway
        return self._line_plan(line)

    def _line_plan(self, line: Line) -> Plan:
        try:
            return line_plan(line, self.tariff)
        except TariffError:
            return self._default_plan
