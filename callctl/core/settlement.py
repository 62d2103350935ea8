"""Rule R10: turning a decision, and later the call's end, into its call record.

``refusal_record`` is written when a call is refused; ``settle_call`` rates a routed call
when it ends, drawing the line's usage (R4–R8) and returning the new counters, so the store
can run it inside the transaction that holds the usage row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from callctl.core.classify import Classification
from callctl.core.policy import Decision
from callctl.core.rating import Call, Rater, Usage
from callctl.core.records import CallKey, CallRecord
from callctl.core.tariff import Plan

# Asterisk's DIALSTATUS → the record's disposition.
DISPOSITIONS = {
    "ANSWER": "ANSWERED",
    "BUSY": "BUSY",
    "NOANSWER": "NO ANSWER",
    "CANCEL": "NO ANSWER",
    "CONGESTION": "FAILED",
    "CHANUNAVAIL": "FAILED",
    "DONTCALL": "FAILED",
    "TORTURE": "FAILED",
    "INVALIDARGS": "FAILED",
}


RATED_FIELDS = (
    "period", "peak_seconds", "offpeak_seconds", "bundle_seconds", "fair_use_seconds",
    "charged_seconds", "setup_fee", "per_call_fee", "amount", "tariff_id",
)  # fmt: skip
"""The rated figures a call record copies from its :class:`RatedCall` (same names)."""


def billed_seconds(duration: Decimal) -> int:
    """R4: every started second counts; the duration is first taken to the millisecond."""
    if duration <= 0:
        return 0
    # Whole milliseconds, truncated as the PBX measures them (ANSWEREDTIME_MS): under a
    # millisecond is 0 ms, so 0 s, as the live hangup would report the same call.
    millis = int(duration * 1000)
    return math.ceil(millis / 1000)


@dataclass(frozen=True, slots=True)
class CallEnd:
    """What the PBX reports when a routed call ends."""

    answered_at: datetime | None  # None: never answered
    duration: Decimal  # answered seconds, with sub-second precision
    dial_status: str
    hangup_cause: int | None

    @property
    def disposition(self) -> str:
        if self.answered_at is not None and billed_seconds(self.duration) > 0:
            return "ANSWERED"
        status = DISPOSITIONS.get(self.dial_status, "FAILED")
        return "NO ANSWER" if status == "ANSWERED" else status


def base_record(
    key: CallKey, line: str, dialled: str, decision: Decision, decided_at: datetime
) -> CallRecord:
    c = decision.classification
    loc = decision.location
    centres = decision.centres
    province: str | None
    if loc is None and centres is not None:  # a fixed line: its installation address
        reasons: tuple[str, ...] = (f"province {centres.province} from the installation address",)
        source, trusted, province = "declared_address", True, centres.province
    elif loc is not None:
        reasons, source, trusted, province = loc.reasons, loc.source, loc.trusted, loc.province
    else:
        reasons, source, trusted, province = (), None, None, None
    return CallRecord(
        key=key,
        line=line,
        dialled=dialled,
        e164=c.e164,
        group=c.group,
        country=c.country,
        clir=c.clir,
        action=decision.action,
        target=decision.trunk if decision.routed else None,
        sip_code=decision.sip_code,
        reason=decision.reason,
        decided_at=decided_at,
        location_source=source,
        location_trusted=trusted,
        location_province=province,
        location_reasons=reasons,
        alert=decision.alert,
    )


def refusal_record(
    key: CallKey, line: str, dialled: str, decision: Decision, decided_at: datetime, *, period: str
) -> CallRecord:
    """R10: a refused attempt is recorded with its reason, at no charge."""
    return replace(
        base_record(key, line, dialled, decision, decided_at),
        disposition="REFUSED",
        period=period,
    )


def _answered(end: CallEnd) -> tuple[int, datetime | None]:
    billsec = billed_seconds(end.duration) if end.answered_at is not None else 0
    return billsec, end.answered_at if billsec > 0 else None


def settlement_time(record: CallRecord, end: CallEnd) -> datetime:
    """The instant whose month is the call's period (R6): answer time, else decision time."""
    return _answered(end)[1] or record.decided_at


def settle_call(
    record: CallRecord,
    c: Classification,
    end: CallEnd,
    *,
    plan: Plan,
    rater: Rater,
    usage: Usage,
) -> tuple[CallRecord, Usage]:
    """Rate a routed call that ended (R4–R8) against the line's usage for its period."""
    billsec, answered = _answered(end)
    when = answered or record.decided_at
    rated, after = rater.rate_call(Call(when, billsec, c), plan, usage)
    return (
        replace(
            record,
            answered_at=answered,
            ended_at=(answered + timedelta(seconds=billsec)) if answered else None,
            billsec=billsec,
            disposition=end.disposition,
            hangup_cause=end.hangup_cause,
            reason=record.reason or rated.refused,
            **{name: getattr(rated, name) for name in RATED_FIELDS},
        ),
        after,
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    """A routed call's end waiting to be rated: the store calls it with the locked usage."""

    record: CallRecord
    classification: Classification
    end: CallEnd
    plan: Plan
    rater: Rater

    def __call__(self, usage: Usage) -> tuple[CallRecord, Usage]:
        return settle_call(
            self.record, self.classification, self.end,
            plan=self.plan, rater=self.rater, usage=usage,
        )  # fmt: skip

    @property
    def period(self) -> str:
        return self.rater.period_of(settlement_time(self.record, self.end))
