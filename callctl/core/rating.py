"""Rules R4–R8: rate one answered call, drawing the bundle and the fair-use counter.

Usage counters are explicit values: :func:`rate_call` takes a line's :class:`Usage` for the
call's period and returns the new one. :func:`rate_calls` rates a batch in the order the
calls end (R6), keeping one :class:`Usage` per period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from callctl.core.bands import BandCalendar
from callctl.core.classify import Classification
from callctl.core.money import ZERO, round_call
from callctl.core.tariff import PRODUCT_GROUPS, Plan, Tariff

SECONDS_PER_MINUTE = 60


@dataclass(frozen=True, slots=True)
class Usage:
    """A line's counters for one billing period (R6, R7)."""

    period: str
    bundle_seconds: int = 0  # drawn from the zone bundle
    fair_use_seconds: int = 0  # given free by an unlimited allowance


@dataclass(frozen=True, slots=True)
class Call:
    """A call to rate: when it was answered, how long, and what was dialled."""

    answered_at: datetime
    billsec: int
    classification: Classification

    @property
    def ended_at(self) -> datetime:
        """R6: answer time + billed seconds, in UTC (wall-clock sums are wrong on DST days)."""
        return self.answered_at.astimezone(UTC) + timedelta(seconds=self.billsec)


@dataclass(frozen=True, slots=True)
class RatedCall:
    """The rated figures of one call (R4–R8); money as Decimal."""

    period: str
    group: str
    price_key: str | None
    peak_seconds: int
    offpeak_seconds: int
    bundle_seconds: int
    fair_use_seconds: int
    charged_seconds: int
    setup_fee: Decimal
    per_call_fee: Decimal
    amount: Decimal
    tariff_id: str
    refused: str | None = None  # the call should not have been connected (R1, R5)
    cut_off: bool = False  # a per-minute premium call charged only up to the cut-off (R5)
    # R7: the line was past its fair-use cap when the call started, or the call went past
    # it; live, such a call is refused or cut. Emergency and helpline calls are exempt.
    over_fair_use: bool = False


class Rater:
    """Rates calls for one tariff; holds the band calendar (and its holiday cache)."""

    def __init__(self, tariff: Tariff) -> None:
        self.tariff = tariff
        self.calendar = BandCalendar(tariff.bands, tariff.timezone)

    def period_of(self, answered_at: datetime) -> str:
        """R6: the calendar month, in Europe/Brussels, of the answer time."""
        local = self.calendar.local(answered_at)
        return f"{local.year:04d}-{local.month:02d}"

    def rate_call(self, call: Call, plan: Plan, usage: Usage) -> tuple[RatedCall, Usage]:
        """Rate one call against the line's usage for the call's period."""
        period = self.period_of(call.answered_at)
        if usage.period != period:
            raise ValueError(f"usage is for {usage.period}, the call is in {period}")
        return self._rate(call, plan, usage)

    def _rate(self, call: Call, plan: Plan, usage: Usage) -> tuple[RatedCall, Usage]:
        if call.billsec < 0:
            raise ValueError("billed seconds cannot be negative")
        c = call.classification
        t = self.tariff
        peak, offpeak = self.calendar.split(call.answered_at, call.billsec)
        bundle = free = charged = 0
        setup = per_call = ZERO
        amount = ZERO
        cut_off = False
        refused = c.reason if c.group == "invalid" else None
        if refused is None and not plan.allows(c.group):  # R9: Phone2Go restrictions
            refused = f"{c.group} numbers cannot be called with {plan.product}"
        # R7: a call that starts on a paused line would have been refused live.
        over = usage.fair_use_seconds >= t.fair_use_seconds and (
            c.group not in t.pause_exempt_groups
        )
        after = usage
        if refused is None and call.billsec > 0:  # R4: unanswered calls cost nothing
            if c.group in PRODUCT_GROUPS:
                by_band = {"peak": peak, "offpeak": offpeak}
                group = c.group
                free = sum(by_band[b] for b in plan.unlimited.get(group, ()))
                eligible = sum(by_band[b] for b in plan.bundle.get(group, ()))
                # R6: the eligible seconds draw the bundle in call order until it is empty.
                eligible = min(eligible, call.billsec - free)
                bundle = min(eligible, max(t.bundle_seconds - usage.bundle_seconds, 0))
                charged = call.billsec - free - bundle
                if group in t.setup_fee_groups and charged > 0:
                    setup = t.setup_fee
                amount = setup + charged * plan.per_minute[group] / SECONDS_PER_MINUTE
                over = over or usage.fair_use_seconds + free > t.fair_use_seconds
                after = Usage(
                    usage.period, usage.bundle_seconds + bundle, usage.fair_use_seconds + free
                )
            else:
                price = t.third_party.get(c.price_key or c.group)
                if price is None:
                    raise ValueError(f"tariff {t.id} has no price for {c.price_key or c.group!r}")
                refused = price.refused
                if refused is None:
                    # Charged seconds are those billed at a per-minute price; free numbers
                    # and per-call prices charge none.
                    charged = call.billsec if price.per_minute > 0 else 0
                    if c.group == "premium" and charged > t.premium_cutoff_seconds:
                        charged, cut_off = t.premium_cutoff_seconds, True  # R5
                    per_call = price.per_call
                    amount = per_call + charged * price.per_minute / SECONDS_PER_MINUTE
        rated = RatedCall(
            period=usage.period,
            group=c.group,
            price_key=c.price_key,
            peak_seconds=peak,
            offpeak_seconds=offpeak,
            bundle_seconds=bundle,
            fair_use_seconds=free,
            charged_seconds=charged,
            setup_fee=setup,
            per_call_fee=per_call,
            amount=round_call(amount),  # R8: 4 decimals, also 0.0000
            tariff_id=t.id,
            refused=refused,
            cut_off=cut_off,
            over_fair_use=over,
        )
        return rated, after

    def rate_calls(
        self, calls: Iterable[Call], plan: Plan, usage: Mapping[str, Usage] | None = None
    ) -> tuple[list[RatedCall], dict[str, Usage]]:
        """Rate calls of one line in the order they end (R6), returned in input order.

        Ties on end time go by answer time, then input order. ``usage`` carries counters
        from earlier calls; the returned mapping holds every period's counters after.
        """
        items = list(calls)
        book = dict(usage or {})
        order = sorted(
            range(len(items)),
            key=lambda i: (items[i].ended_at, items[i].answered_at.astimezone(UTC), i),
        )
        out: list[RatedCall | None] = [None] * len(items)
        for i in order:
            call = items[i]
            period = self.period_of(call.answered_at)
            rated, book[period] = self._rate(call, plan, book.get(period, Usage(period)))
            out[i] = rated
        return [r for r in out if r is not None], book
