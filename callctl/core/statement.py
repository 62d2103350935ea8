"""Rule R8: a line's statement for one billing period, from its rated calls and counters.

:func:`summary_dict` is the statement's one plain form (money as text), shared by
``callctl rate --json`` and the REST API; :func:`rated_of` reads a stored call
record (R10) back as the rated call it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from callctl.core.money import ZERO, money_text, round_cents
from callctl.core.rating import RatedCall, Usage
from callctl.core.records import CallRecord
from callctl.core.settlement import RATED_FIELDS
from callctl.core.tariff import Fee, Plan, Tariff


@dataclass(frozen=True, slots=True)
class GroupTotal:
    group: str
    calls: int
    billed_seconds: int
    charged_seconds: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Statement:
    period: str
    product: str
    options: tuple[str, ...]
    tariff_id: str
    calls: int
    answered_calls: int
    groups: tuple[GroupTotal, ...]
    bundle_size: int
    bundle_used: int
    bundle_left: int
    fair_use_seconds: int
    fair_use_cap: int
    calls_total: Decimal  # sum of the calls' 4-decimal amounts
    fees: tuple[Fee, ...]
    fees_total: Decimal
    total_excl_vat: Decimal  # cents
    vat_rate: Decimal
    vat: Decimal  # cents
    total_incl_vat: Decimal  # cents


def build_statement(
    period: str, rated: Iterable[RatedCall], usage: Usage, plan: Plan, tariff: Tariff
) -> Statement:
    """Add a period's calls and monthly fees (R8): half-up to cents, VAT apart."""
    calls = [r for r in rated if r.period == period]
    groups: dict[str, list[RatedCall]] = {}
    for r in calls:
        groups.setdefault(r.group, []).append(r)
    group_totals = tuple(
        GroupTotal(
            group=g,
            calls=len(rs),
            billed_seconds=sum(r.peak_seconds + r.offpeak_seconds for r in rs),
            charged_seconds=sum(r.charged_seconds for r in rs),
            amount=sum((r.amount for r in rs), ZERO),
        )
        for g, rs in sorted(groups.items())
    )
    calls_total = sum((r.amount for r in calls), ZERO)
    fees_total = sum((f.amount for f in plan.fees), ZERO)
    bundle_size = tariff.bundle_seconds if plan.bundle else 0
    excl = round_cents(calls_total + fees_total)
    vat = round_cents(excl * tariff.vat_rate)
    return Statement(
        period=period,
        product=plan.product,
        options=plan.options,
        tariff_id=tariff.id,
        calls=len(calls),
        answered_calls=sum(1 for r in calls if r.peak_seconds + r.offpeak_seconds > 0),
        groups=group_totals,
        bundle_size=bundle_size,
        bundle_used=usage.bundle_seconds,
        bundle_left=max(bundle_size - usage.bundle_seconds, 0),
        fair_use_seconds=usage.fair_use_seconds,
        fair_use_cap=tariff.fair_use_seconds,
        calls_total=calls_total,
        fees=plan.fees,
        fees_total=fees_total,
        total_excl_vat=excl,
        vat_rate=tariff.vat_rate,
        vat=vat,
        total_incl_vat=excl + vat,
    )


def build_statements(
    rated: Iterable[RatedCall], usage: Mapping[str, Usage], plan: Plan, tariff: Tariff
) -> list[Statement]:
    """One statement per period that has calls or counters, oldest first."""
    calls = list(rated)
    periods = sorted({r.period for r in calls} | set(usage))
    return [build_statement(p, calls, usage.get(p, Usage(p)), plan, tariff) for p in periods]


def summary_dict(s: Statement, currency: str) -> dict[str, Any]:
    """The statement as plain values: counts, seconds, and money as text (R8)."""
    return {
        "period": s.period,
        "product": s.product,
        "options": list(s.options),
        "tariff": s.tariff_id,
        "currency": currency,
        "calls": s.calls,
        "answered_calls": s.answered_calls,
        "groups": {
            g.group: {
                "calls": g.calls,
                "billed_seconds": g.billed_seconds,
                "charged_seconds": g.charged_seconds,
                "amount": money_text(g.amount),
            }
            for g in s.groups
        },
        "bundle_seconds_size": s.bundle_size,
        "bundle_seconds_used": s.bundle_used,
        "bundle_seconds_left": s.bundle_left,
        "fair_use_seconds": s.fair_use_seconds,
        "fair_use_cap_seconds": s.fair_use_cap,
        "calls_total": money_text(s.calls_total),
        "monthly_fees": [{"name": f.name, "amount": str(f.amount)} for f in s.fees],
        "monthly_fees_total": str(s.fees_total),
        "total_excl_vat": str(s.total_excl_vat),
        "vat_rate": str(s.vat_rate),
        "vat": str(s.vat),
        "total_incl_vat": str(s.total_incl_vat),
    }


def rated_of(record: CallRecord) -> RatedCall:
    """A call record's rated figures (R10 holds them all), for statements built from records."""
    figures = {name: getattr(record, name) for name in RATED_FIELDS}
    figures["period"] = record.period or ""
    refused = record.reason if record.action == "refuse" else None
    return RatedCall(group=record.group, price_key=None, refused=refused, **figures)
