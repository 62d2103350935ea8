"""What the dashboard shows, read from the database: today's calls and cost (by hour and by
destination group), recent refusals and emergency calls, and every line's counters.

"Today" is the local day (the tariff's time zone) of the controller's clock, so a test
clock shows the day its calls are rated in. The stream's position is read before the
database, so a client that follows the stream from it misses nothing; the keys of the
records inserted last come with the summary, so it can skip an event it already counted.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from callctl.core.policy import line_plan
from callctl.core.records import CallRecord
from callctl.core.tariff import TariffError
from callctl.service.controller import Controller
from callctl.service.jsonview import JsonObject, call_name, record_json
from callctl.service.stream import EventHub
from callctl.store.reports import latest_keys, period_usage

RECENT = 20  # refusals, emergency calls and records listed
MAX_DAY_RECORDS = 200_000
OVERLAP = 500  # keys of the records inserted last, for the client to skip duplicates


def day_bounds(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The local day around ``now``: its first instant and the next day's (aware)."""
    tz = ZoneInfo(timezone)
    day = now.astimezone(tz).date()
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)


def _add(bucket: JsonObject, record: CallRecord) -> None:
    bucket["calls"] += 1
    bucket["billsec"] += record.billsec
    bucket["amount"] = str(Decimal(bucket["amount"]) + record.amount)


def _bucket() -> JsonObject:
    return {"calls": 0, "billsec": 0, "amount": "0.0000"}


def summarise(records: list[CallRecord], timezone: str) -> JsonObject:
    """Totals, by local hour and by group, and the recent refusals and emergency calls."""
    tz = ZoneInfo(timezone)
    total = _bucket() | {"answered": 0, "refused": 0, "emergency": 0}
    hours = [_bucket() | {"hour": h} for h in range(24)]
    groups: dict[str, JsonObject] = {}
    for r in records:
        _add(total, r)
        total["answered"] += r.disposition == "ANSWERED"
        total["refused"] += r.action == "refuse"
        total["emergency"] += r.group == "emergency"
        _add(hours[r.decided_at.astimezone(tz).hour], r)
        _add(groups.setdefault(r.group, _bucket()), r)
    refusals = [r for r in records if r.action == "refuse"]
    emergency = [r for r in records if r.group == "emergency"]
    return {
        "totals": total,
        "by_hour": hours,
        "by_group": groups,
        "refusals": [record_json(r) for r in refusals[-RECENT:]],
        "emergency": [record_json(r) for r in emergency[-RECENT:]],
        "records": [record_json(r) for r in records[-RECENT:]],
    }


async def day_summary(controller: Controller, hub: EventHub) -> JsonObject:
    """Today's summary, the stream position it is valid from, and the live calls."""
    position = hub.position
    now = controller.clock.now()
    timezone = controller.tariff.timezone
    start, end = day_bounds(now, timezone)
    records = await controller.store.list_records(since=start, until=end, limit=MAX_DAY_RECORDS)
    latest = await latest_keys(controller.store, OVERLAP)
    return {
        "day": start.date().isoformat(),
        "timezone": timezone,
        "now": now.isoformat(),
        "stream_after": position,
        "latest": [call_name(k) for k in latest],
        "live": list(hub.live.values()),
        **summarise(records, timezone),
    }


async def line_usage(controller: Controller) -> JsonObject:
    """Every line with its counters for the current period and the limits that apply."""
    tariff = controller.tariff
    period = controller.rater.period_of(controller.clock.now())
    lines = await controller.store.list_lines()
    usage = await period_usage(controller.store, period)
    out = []
    for line in lines:
        try:
            plan = line_plan(line, tariff)
        except TariffError:
            plan = None
        used = usage.get(line.number)
        out.append(
            {
                "number": line.number,
                "product": line.product,
                "options": list(line.options),
                "paused": line.paused,
                "bundle_seconds": used.bundle_seconds if used else 0,
                "bundle_limit": tariff.bundle_seconds if plan and plan.bundle else None,
                "fair_use_seconds": used.fair_use_seconds if used else 0,
                "fair_use_limit": tariff.fair_use_seconds if plan and plan.unlimited else None,
            }
        )
    return {"period": period, "lines": out}
