"""The live stream's events: numbered, kept in a bounded ring, fanned out to subscribers.

:class:`EventHub` is an :class:`Observer` of the controller: every step of a call becomes
one event (``call.decided``, ``call.refused``, ``call.cancelled``, ``call.ended``,
``record``), and every fraud guard alert one ``alert.fraud`` (a refusal that is an alert,
an address blocked or unblocked). Each event gets the next id of one increasing sequence;
the sequence of a process starts at the time the hub was made, in microseconds since the epoch, so a
restarted server's ids are all larger than its predecessor's (a client's old position is
then older than the new ring, and it is told to reset).

The hub keeps the last ``ring_size`` events. A subscriber names the last id it has (or
none): it gets the events after it from the ring, then the live ones. When the ring no
longer holds everything after that id (the client was away too long, or the server
restarted), the subscription starts with ``reset``: the client reloads its state from the
database (records are the durable part) and goes on from the current position.

Publishing never waits: each subscriber has a queue of at most ``client_queue`` events;
a subscriber that lets it fill (a slow client) is dropped at once and its connection
aborted (its handler may be stuck writing to a full socket); it reconnects and resumes
from its last id. The protocol is in docs/dashboard.md.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from callctl.core.fraud import AuthAlert
from callctl.core.records import CallRecord
from callctl.service.jsonview import (
    JsonObject,
    auth_alert_json,
    call_alert_json,
    call_json,
    call_name,
    record_json,
)
from callctl.service.observer import ActiveCall, Observer

RING_SIZE = 10_000  # about three minutes of events at 50 calls/s
CLIENT_QUEUE = 1_000  # events a client may be behind before it is dropped


@dataclass(frozen=True, slots=True)
class Event:
    """One event as sent: ``wire`` is its Server-Sent Events frame, encoded once.

    Only the frame is kept, not the JSON object it was made from: the ring holds
    ``ring_size`` of these for minutes, and a record's object (a dict of twenty-odd
    strings) costs about three times its frame. Keeping the objects made the ring grow the
    process by about 30 MiB as it filled, and their long lives scattered among the short
    ones of each call kept the allocator's arenas from being freed (docs/performance.md,
    "Soak (30 minutes)"). :meth:`data` parses the frame back, for tests and tools.
    """

    id: int
    type: str
    wire: bytes

    def data(self) -> JsonObject:
        """The event's JSON object, read back from its frame."""
        body = self.wire.split(b"\ndata: ", 1)[1].removesuffix(b"\n\n")
        parsed: JsonObject = json.loads(body)
        return parsed


def frame(event_id: int, kind: str, data: JsonObject) -> bytes:
    """A Server-Sent Events frame (the JSON is one line: no newline can split it)."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event_id}\nevent: {kind}\ndata: {body}\n\n".encode()


def stamped(data: JsonObject) -> JsonObject:
    """An event's body: ``at`` (when it was published, seconds since the epoch) and the data."""
    return {"at": time.time(), **data}


@dataclass(eq=False)
class Subscription:
    """One client's queue of events not yet sent."""

    limit: int
    pending: deque[Event] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False  # fell ``limit`` events behind
    closed: bool = False  # the hub closed (server stopping) or the client left
    on_drop: Callable[[], None] | None = None  # e.g. abort the connection stuck in a write

    def push(self, event: Event) -> bool:
        """Queue an event; False (and nothing queued) when the client is too far behind."""
        if len(self.pending) >= self.limit:
            return False
        self.pending.append(event)
        self.wake.set()
        return True

    async def next(self, timeout: float) -> list[Event] | None:
        """Every queued event (waiting up to ``timeout`` for one; [] if none came), or None
        once the subscription is dropped or closed."""
        if not self.pending and not (self.dropped or self.closed):
            self.wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self.wake.wait()
            except TimeoutError:
                return []
        if self.dropped or self.closed:
            return None
        batch = list(self.pending)
        self.pending.clear()
        return batch


@dataclass(frozen=True, slots=True)
class Start:
    """How a subscription begins: the control frame, then the backlog from the ring."""

    subscription: Subscription
    control: bytes  # a ``hello`` (resumed or fresh) or a ``reset``
    backlog: list[Event]
    reset: bool


class EventHub(Observer):
    """Numbered call events, a ring of the recent ones, and their subscribers."""

    def __init__(
        self,
        ring_size: int = RING_SIZE,
        client_queue: int = CLIENT_QUEUE,
        first_id: int | None = None,
    ) -> None:
        if ring_size < 1 or client_queue < 1:
            raise ValueError("ring_size and client_queue must be positive")
        first = time.time_ns() // 1000 if first_id is None else first_id
        self._ids = itertools.count(first)
        self.position = first - 1  # the id of the last event published
        self.ring: deque[Event] = deque(maxlen=ring_size)
        self.client_queue = client_queue
        self.subscribers: set[Subscription] = set()
        self.live: dict[str, JsonObject] = {}  # routed calls in progress, by call name
        self.published = 0
        self.dropped = 0

    # ------------------------------------------------------------------ publishing

    def publish(self, kind: str, data: JsonObject) -> Event:
        """Number, keep and send an event (``at``: when, in seconds since the epoch)."""
        return self._publish(kind, stamped(data))

    def _publish(self, kind: str, body: JsonObject) -> Event:
        event_id = next(self._ids)
        event = Event(event_id, kind, frame(event_id, kind, body))
        self.position = event_id
        self.ring.append(event)
        self.published += 1
        slow = [s for s in self.subscribers if not s.push(event)]
        for sub in slow:
            self.dropped += 1
            sub.dropped = True
            sub.wake.set()
            self.subscribers.discard(sub)
            if sub.on_drop is not None:
                sub.on_drop()
        return event

    # ------------------------------------------------------------------ subscribing

    @property
    def oldest(self) -> int:
        """The id of the oldest event still in the ring (position + 1 when it is empty)."""
        return self.ring[0].id if self.ring else self.position + 1

    def subscribe(self, after: int | None) -> Start:
        """A new subscriber that has every event up to ``after`` (None: a new client).

        Atomic on the event loop: nothing is published between the backlog and the queue.
        """
        sub = Subscription(self.client_queue)
        if after is None:
            control, backlog, reset = self._control("hello", resumed=False), [], False
        elif self.oldest - 1 <= after <= self.position:
            skip = after - self.oldest + 1
            backlog = list(itertools.islice(self.ring, skip, None))
            control, reset = self._control("hello", resumed=True, after=after), False
        else:
            why = "after the last event" if after > self.position else "older than the ring"
            control, backlog, reset = self._control("reset", reason=why, after=after), [], True
        self.subscribers.add(sub)
        return Start(sub, control, backlog, reset)

    def unsubscribe(self, sub: Subscription) -> None:
        sub.closed = True
        self.subscribers.discard(sub)

    def close(self) -> None:
        """End every subscription (the server is stopping)."""
        for sub in self.subscribers:
            sub.closed = True
            sub.wake.set()
        self.subscribers.clear()

    def _control(self, kind: str, **extra: object) -> bytes:
        """``hello`` or ``reset``: carries the current position as its id (it is not an
        event of its own) and the calls in progress."""
        data = {
            "position": self.position,
            "oldest": self.oldest,
            "live": list(self.live.values()),
            **extra,
        }
        return frame(self.position, kind, data)

    # ------------------------------------------------------------------ Observer

    def decided(self, call: ActiveCall, seconds: float) -> None:
        if call.decision.routed:
            body = stamped(call_json(call))
            self._publish("call.decided", body)
            self.live[body["call"]] = body  # until its hangup (``ended``)
        else:
            self.publish("call.refused", call_json(call))
            if call.decision.alert is not None:
                self.publish("alert.fraud", call_alert_json(call))

    def cancelled(self, call: ActiveCall) -> None:
        self.publish("call.cancelled", call_json(call))

    def ended(self, call: ActiveCall) -> None:
        name = call_name(call.key)
        self.live.pop(name, None)
        self.publish("call.ended", {"call": name, "line": call.line, "dialled": call.dialled})

    def forgotten(self, call: ActiveCall) -> None:
        """No hangup came: the call leaves the live list (``call.ended``, ``forgotten``)."""
        name = call_name(call.key)
        self.live.pop(name, None)
        self.publish(
            "call.ended",
            {"call": name, "line": call.line, "dialled": call.dialled, "forgotten": True},
        )

    def recorded(self, records: Sequence[CallRecord], seconds: float, kind: str) -> None:
        for record in records:
            self.publish("record", record_json(record))

    def auth_alert(self, alert: AuthAlert) -> None:
        self.publish("alert.fraud", auth_alert_json(alert))
