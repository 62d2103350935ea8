"""``callctl reconcile``: rate the calls of Asterisk's own CDR file that callctl missed.

When callctl is down, the dialplan's fallback still connects emergency, helpline and
Belgian calls; Asterisk's ``cdr_custom`` file (dialplan/cdr_custom.conf) keeps them. This
reads that file, skips every call that already has a record (R10 key: host and unique id),
and settles the others exactly as a live hangup would, so running it twice adds nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from callctl.core.classify import Classifier
from callctl.core.policy import Decision
from callctl.core.rating import Rater
from callctl.core.records import CallKey
from callctl.core.settlement import CallEnd, Settlement, base_record
from callctl.core.tariff import Tariff, TariffError
from callctl.store.repository import Store

# dialplan/cdr_custom.conf, [callctl-cdr.csv] fields, in order.
CDR_FIELDS = (
    "host", "uniqueid", "linkedid", "line", "dialled", "src", "dst", "dcontext", "channel",
    "dstchannel", "start", "answer", "end", "duration", "billsec", "disposition", "cause",
    "route", "sequence",
)  # fmt: skip
DISPOSITION_STATUS = {"ANSWERED": "ANSWER", "BUSY": "BUSY", "NO ANSWER": "NOANSWER"}


class CdrFileError(ValueError):
    """The CDR file cannot be read; the message names the row."""


@dataclass(frozen=True, slots=True)
class CdrCall:
    key: CallKey
    line: str
    dialled: str
    trunk: str
    started_at: datetime
    end: CallEnd


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    rows: int
    calls: int
    already_recorded: int
    recorded: int
    skipped: int  # refused by the fallback, or without a line


def _time(value: str, where: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        seconds = Decimal(value)
    except InvalidOperation:
        raise CdrFileError(f"{where}: {value!r} is not an epoch time") from None
    if not seconds.is_finite() or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(float(seconds), UTC)
    except (OverflowError, ValueError, OSError):  # beyond the years datetime can hold
        raise CdrFileError(f"{where}: {value!r} is not an epoch time") from None


def read_cdr(path: str | Path) -> Iterator[CdrCall | None]:
    """The routed calls of the file, one per call (the first row of a unique id wins).

    Yields None for a row that is not a routed call of a known line (refused, no line).
    """
    seen: set[CallKey] = set()
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                where = f"row {number}"
                if len(row) != len(CDR_FIELDS):
                    raise CdrFileError(f"{where}: {len(row)} fields, expected {len(CDR_FIELDS)}")
                f = dict(zip(CDR_FIELDS, row, strict=True))
                key = CallKey(f["host"] or "asterisk", f["uniqueid"])
                route = f["route"]
                if key in seen:
                    continue
                seen.add(key)
                if not f["line"] or not route or "refused" in route:
                    yield None
                    continue
                started = _time(f["start"], where)
                if started is None:
                    raise CdrFileError(f"{where}: no start time")
                answered = _time(f["answer"], where)
                ended = _time(f["end"], where)
                duration = (
                    Decimal(str((ended - answered).total_seconds()))
                    if answered and ended and ended > answered
                    else Decimal(0)
                )
                yield CdrCall(
                    key=key,
                    line=f["line"],
                    dialled=f["dialled"],
                    trunk=route.removeprefix("fallback:"),
                    started_at=started,
                    end=CallEnd(
                        answered_at=answered,
                        duration=duration,
                        dial_status=DISPOSITION_STATUS.get(f["disposition"], "CONGESTION"),
                        hangup_cause=int(f["cause"]) if f["cause"].isdecimal() else None,
                    ),
                )
    except OSError as exc:
        raise CdrFileError(f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CdrFileError(f"{path} is not a readable CSV: {exc}") from None


async def reconcile(path: str | Path, store: Store, tariff: Tariff) -> ReconcileResult:
    """Record every routed call of the CDR file that has no record yet."""
    classifier = Classifier(tariff.numbering)
    rater = Rater(tariff)
    default_plan = tariff.plan(next(iter(tariff.products)))
    rows = list(read_cdr(path))
    calls = [c for c in rows if c is not None]
    existing = await store.existing_keys(c.key for c in calls)
    recorded = 0
    for call in calls:
        if call.key in existing:
            continue
        c = classifier(call.dialled)
        decision = Decision("route", c, trunk=call.trunk, number=c.dial)
        base = replace(
            base_record(call.key, call.line, call.dialled, decision, call.started_at),
            source="reconcile",
            reason="rated from Asterisk's CDR: callctl did not see this call end",
        )
        line = await store.get_line(call.line)
        try:
            plan = tariff.plan(line.product, list(line.options)) if line else default_plan
        except TariffError:
            plan = default_plan
        settlement = Settlement(base, c, call.end, plan, rater)
        _, written = await store.settle(call.key, call.line, settlement.period, settlement)
        recorded += written
    return ReconcileResult(
        rows=len(rows),
        calls=len(calls),
        already_recorded=len(existing),
        recorded=recorded,
        skipped=len(rows) - len(calls),
    )
