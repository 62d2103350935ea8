"""What the controller says about calls as they happen: the seam for metrics and the stream.

The controller calls an :class:`Observer` at each step of a call (decided, cancelled,
ended, recorded, forgotten when its hangup never came, decided without the database,
spooled, drained) and on a request it cannot read; the security log watcher calls it when
the fraud guard blocks or unblocks an address (``auth_alert``). Observers run inside the
controller's request, on the event loop: they must be quick, never await, and never raise (the
:class:`Observers` fan-out logs and swallows what one raises, so a broken observer cannot
change a decision). The core knows nothing of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from callctl.core.fraud import AuthAlert
from callctl.core.policy import Decision
from callctl.core.records import CallKey, CallRecord

log = logging.getLogger("callctl.observer")


@dataclass(frozen=True, slots=True)
class ActiveCall:
    """A decided call: routed (in progress until its hangup) or refused."""

    key: CallKey
    line: str
    dialled: str
    decision: Decision
    decided_at: datetime
    endpoint: str = ""  # the SIP account that called (a Phone2Go licence, a line)
    device: str | None = None  # the device identity, when the request carried one


def outcome(decision: Decision) -> str:
    """A decision's outcome for counters: route, emergency or refuse."""
    if not decision.routed:
        return "refuse"
    return "emergency" if decision.classification.group == "emergency" else "route"


def location_trust(decision: Decision) -> str:
    """An emergency call's location: trusted, untrusted, or unknown (no verdict was made)."""
    if decision.location is None:
        return "unknown"
    return "trusted" if decision.location.trusted else "untrusted"


class Observer:
    """Does nothing: subclasses pick the steps they care about."""

    def decided(self, call: ActiveCall, seconds: float) -> None:
        """A route request was answered (routed or refused) after ``seconds``."""

    def cancelled(self, call: ActiveCall) -> None:
        """The caller hung up while callctl decided: the call will not be dialled."""

    def ended(self, call: ActiveCall) -> None:
        """A hangup request arrived: the call is no longer in progress (its record follows)."""

    def forgotten(self, call: ActiveCall) -> None:
        """A routed call's hangup request never came, long after it must have ended: it is
        no longer counted in progress (``callctl reconcile`` rates it from the CDR file)."""

    def recorded(self, records: Sequence[CallRecord], seconds: float, kind: str) -> None:
        """Records committed in ``seconds``: ``kind`` is ``settle`` (one hangup, counters
        drawn) or ``batch`` (refusals and cancelled attempts, written together)."""

    def bad_request(self, script: str) -> None:
        """A FastAGI request whose arguments could not be read."""

    def auth_alert(self, alert: AuthAlert) -> None:
        """The fraud guard blocked, unblocked, or would have blocked an address."""

    def degraded(self, call: ActiveCall) -> None:
        """A route request was decided without the database (from the last known line)."""

    def spooled(self, kind: str) -> None:
        """The database did not answer: a write (``settle`` or ``record``) went to the spool."""

    def drained(self, kind: str) -> None:
        """A spooled write was committed to the database and left the spool."""

    def spool_rejected(self, kind: str) -> None:
        """A spooled write kept failing (not an outage) and was moved aside."""


class Observers(Observer):
    """Several observers, called in order; one that raises is logged and skipped."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def decided(self, call: ActiveCall, seconds: float) -> None:
        for o in self.observers:
            self._call(o.decided, call, seconds)

    def cancelled(self, call: ActiveCall) -> None:
        for o in self.observers:
            self._call(o.cancelled, call)

    def ended(self, call: ActiveCall) -> None:
        for o in self.observers:
            self._call(o.ended, call)

    def forgotten(self, call: ActiveCall) -> None:
        for o in self.observers:
            self._call(o.forgotten, call)

    def recorded(self, records: Sequence[CallRecord], seconds: float, kind: str) -> None:
        for o in self.observers:
            self._call(o.recorded, records, seconds, kind)

    def bad_request(self, script: str) -> None:
        for o in self.observers:
            self._call(o.bad_request, script)

    def auth_alert(self, alert: AuthAlert) -> None:
        for o in self.observers:
            self._call(o.auth_alert, alert)

    def degraded(self, call: ActiveCall) -> None:
        for o in self.observers:
            self._call(o.degraded, call)

    def spooled(self, kind: str) -> None:
        for o in self.observers:
            self._call(o.spooled, kind)

    def drained(self, kind: str) -> None:
        for o in self.observers:
            self._call(o.drained, kind)

    def spool_rejected(self, kind: str) -> None:
        for o in self.observers:
            self._call(o.spool_rejected, kind)

    @staticmethod
    def _call(method: Callable[..., None], *args: object) -> None:
        try:
            method(*args)
        except Exception:
            log.exception("observer %r failed", method)
