"""Properties of R3 (band split) and R4–R8 (rating), checked with hypothesis.

Dialled numbers come from a fixed list covering every group; plans are the shipped
tariff's products with random options.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from callctl.core.classify import Classification, Classifier
from callctl.core.rating import Call, RatedCall, Rater, Usage
from callctl.core.tariff import PRODUCT_GROUPS, Plan
from callctl.data import default_tariff
from tests.legal_calendar import legal_holidays

BRU = ZoneInfo("Europe/Brussels")
ZONES = [BRU, UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")]
TARIFF = default_tariff()
RATER = Rater(TARIFF)
CAL = RATER.calendar
CLASSIFY = Classifier(TARIFF.numbering)
THREE_DAYS = 3 * 86400

DIALLED = [
    "02 123 45 67",  # be_fixed
    "0470 12 34 56",  # be_mobile
    "+33 1 23 45 67 89",  # zone
    "+1 212 555 0123",  # zone
    "+212 522 123 456",  # zone (Maroc Telecom fixed)
    "+212 612 345 678",  # ma_tr
    "+90 532 123 45 67",  # ma_tr
    "+81 3 1234 5678",  # international
    "112",  # emergency
    "1813",  # helpline
    "0800 12 345",  # freephone
    "070 12 34 56",  # special 070
    "078 15 15 15",  # special 078
    "1207",  # special short
    "077 12 34 56",  # special 077 (refused)
    *(f"09{i:02d}12345" for i in range(10)),  # premium 0900–0909
    "abc",  # invalid
]
CLASSES: list[Classification] = [CLASSIFY(d) for d in DIALLED]
ALL_GROUPS = {
    "be_fixed", "be_mobile", "zone", "ma_tr", "international", "emergency", "helpline",
    "freephone", "special", "premium", "invalid",
}  # fmt: skip
assert {c.group for c in CLASSES} == ALL_GROUPS

# Per-test settings (not a global profile: other test files keep theirs).
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)

aware_times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31, 23, 59, 59),
    timezones=st.sampled_from(ZONES),
)  # fmt: skip


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    product = draw(st.sampled_from(sorted(TARIFF.products)))
    offered = sorted(TARIFF.products[product].options)
    options = draw(st.lists(st.sampled_from(offered), unique=True)) if offered else []
    return TARIFF.plan(product, options)


# ----------------------------------------------------------------- R3 split


@PROPERTY
@given(aware_times, st.integers(0, THREE_DAYS))
def test_r3_split_conserves_seconds(answered: datetime, seconds: int) -> None:
    peak, offpeak = CAL.split(answered, seconds)
    assert peak >= 0
    assert offpeak >= 0
    assert peak + offpeak == seconds
    # At most 8 h of peak a day: a call of 3 days touches at most 4 local days.
    assert peak <= 4 * 8 * 3600


def oracle_peak(instant: datetime) -> bool:
    """R3 written out independently: Mon–Fri 08:00:00–15:59:59 local, not a legal holiday."""
    loc = instant.astimezone(BRU)
    day = loc.date()
    return (
        day.weekday() < 5
        and day not in legal_holidays(day.year).values()
        and time(8) <= loc.time() < time(16)
    )


@st.composite
def near_boundaries(draw: st.DrawFn) -> datetime:
    """An instant within a few minutes of a band boundary (or a DST change)."""
    day = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)))
    wall = draw(st.sampled_from([time(0), time(8), time(16), time(2), time(3)]))
    base = datetime.combine(day, wall, tzinfo=BRU).astimezone(UTC)
    offset = draw(st.integers(-400_000_000, 400_000_000))  # ± 400 s, in microseconds
    return (base + timedelta(microseconds=offset)).astimezone(draw(st.sampled_from(ZONES)))


@PROPERTY
@given(near_boundaries(), st.integers(0, 900))
def test_r3_split_matches_second_by_second_oracle(answered: datetime, seconds: int) -> None:
    # Second k starts at answer + k s (real time) and takes the band in force then.
    start = answered.astimezone(UTC)
    peak = sum(oracle_peak(start + timedelta(seconds=k)) for k in range(seconds))
    assert CAL.split(answered, seconds) == (peak, seconds - peak)
    assert CAL.is_peak(answered) is oracle_peak(answered)


# ----------------------------------------------------------------- R4–R8 rating

# Calls around a month end and the spring clock change, so periods, DST and overlapping
# calls all occur; and anywhere in 2020–2035 for the simple invariants.
month_end_times = st.datetimes(
    min_value=datetime(2026, 3, 27), max_value=datetime(2026, 4, 2),
    timezones=st.sampled_from(ZONES),
)  # fmt: skip
calls_strategy = st.builds(
    Call,
    answered_at=st.one_of(month_end_times, aware_times),
    billsec=st.one_of(st.integers(0, 120), st.integers(0, 4 * 3600), st.just(0)),
    classification=st.sampled_from(CLASSES),
)
close_calls = st.builds(
    Call,
    answered_at=month_end_times,
    billsec=st.integers(0, 4 * 3600),
    classification=st.sampled_from(CLASSES),
)
bundle_used = st.one_of(
    st.integers(0, TARIFF.bundle_seconds),
    st.integers(TARIFF.bundle_seconds - 7200, TARIFF.bundle_seconds),
)
fair_used = st.one_of(
    st.integers(0, TARIFF.fair_use_seconds + 10),
    st.integers(TARIFF.fair_use_seconds - 7200, TARIFF.fair_use_seconds + 10),
)


@st.composite
def start_usage(draw: st.DrawFn) -> dict[str, Usage]:
    return {
        p: Usage(p, draw(bundle_used), draw(fair_used))
        for p in ("2026-03", "2026-04")
        if draw(st.booleans())
    }


def check_rated(call: Call, r: RatedCall) -> None:
    assert r.amount >= 0
    assert r.setup_fee >= 0
    assert r.per_call_fee >= 0
    assert r.amount.as_tuple().exponent == -4  # R8: exactly 4 decimals
    assert r.peak_seconds + r.offpeak_seconds == call.billsec
    assert r.bundle_seconds >= 0
    assert r.fair_use_seconds >= 0
    assert r.charged_seconds >= 0
    if call.billsec == 0 or r.refused is not None:
        assert r.amount == 0
        assert (r.bundle_seconds, r.fair_use_seconds) == (0, 0)
    if r.refused is not None:  # R1, R5, R9: a refused call charges nothing
        assert r.charged_seconds == 0
    elif r.group in PRODUCT_GROUPS and call.billsec > 0:
        assert r.charged_seconds + r.bundle_seconds + r.fair_use_seconds == call.billsec
    else:
        assert (r.bundle_seconds, r.fair_use_seconds) == (0, 0)
        assert r.charged_seconds <= call.billsec
        if r.group == "premium":  # R5: per-minute premium calls cut after 10 minutes
            assert r.charged_seconds <= TARIFF.premium_cutoff_seconds
    if r.setup_fee:  # R5: only with a charged second
        assert r.charged_seconds > 0
        assert r.group in TARIFF.setup_fee_groups
    if r.group in TARIFF.pause_exempt_groups:
        assert not r.over_fair_use


def end_order(calls: Sequence[Call]) -> list[int]:
    return sorted(
        range(len(calls)),
        key=lambda i: (calls[i].ended_at, calls[i].answered_at.astimezone(UTC), i),
    )


@PROPERTY
@given(plans(), st.lists(calls_strategy, max_size=12), start_usage())
def test_r4_r8_rated_calls_are_well_formed(
    plan: Plan, calls: list[Call], usage: dict[str, Usage]
) -> None:
    rated, book = RATER.rate_calls(calls, plan, usage)
    assert len(rated) == len(calls)
    for c, r in zip(calls, rated, strict=True):
        assert r.period == RATER.period_of(c.answered_at)
        check_rated(c, r)
    for period, u in book.items():
        before = usage.get(period, Usage(period))
        drawn = sum(r.bundle_seconds for r in rated if r.period == period)
        free = sum(r.fair_use_seconds for r in rated if r.period == period)
        # R6: a bundle never goes below zero or above its size.
        assert 0 <= u.bundle_seconds <= TARIFF.bundle_seconds
        assert u.bundle_seconds == before.bundle_seconds + drawn
        assert u.fair_use_seconds == before.fair_use_seconds + free
        if not plan.bundle:
            assert drawn == 0


@PROPERTY
@given(plans(), st.lists(close_calls, max_size=10), start_usage())
def test_r6_batch_equals_one_by_one_in_end_order(
    plan: Plan, calls: list[Call], usage: dict[str, Usage]
) -> None:
    rated, book = RATER.rate_calls(calls, plan, usage)
    # The same calls rated one at a time in the order they end, carrying each period's
    # Usage from one call to the next.
    carried = dict(usage)
    one_by_one: dict[int, RatedCall] = {}
    for i in end_order(calls):
        period = RATER.period_of(calls[i].answered_at)
        one_by_one[i], carried[period] = RATER.rate_call(
            calls[i], plan, carried.get(period, Usage(period))
        )
    assert rated == [one_by_one[i] for i in range(len(calls))]
    assert book == carried


@PROPERTY
@given(plans(), st.lists(close_calls, min_size=1, max_size=8), start_usage(), st.data())
def test_r6_batch_result_does_not_depend_on_list_order(
    plan: Plan, calls: list[Call], usage: dict[str, Usage], data: st.DataObject
) -> None:
    # R6: calls are rated in end order, ties by answer time. Only calls equal on both keys
    # are left in list order, so such draws are set aside.
    keys = [(c.ended_at, c.answered_at.astimezone(UTC)) for c in calls]
    assume(len(set(keys)) == len(keys))
    rated, book = RATER.rate_calls(calls, plan, usage)
    perm = data.draw(st.permutations(range(len(calls))))
    rated2, book2 = RATER.rate_calls([calls[i] for i in perm], plan, usage)
    assert [rated2[perm.index(i)] for i in range(len(calls))] == rated
    assert book2 == book


@PROPERTY
@given(plans(), calls_strategy)
def test_r8_single_call_amount_formula(plan: Plan, call: Call) -> None:
    # R8: amount = setup + per-call + charged × per-minute / 60, half-up to 4 decimals,
    # never negative; and amounts only grow with the charged seconds.
    period = RATER.period_of(call.answered_at)
    r, _ = RATER.rate_call(call, plan, Usage(period))
    check_rated(call, r)
    if r.refused is None and call.billsec > 0:
        if r.group in PRODUCT_GROUPS:
            per_minute = plan.per_minute[r.group]
        else:
            price = TARIFF.third_party[r.price_key or r.group]
            per_minute = price.per_minute
        raw = r.setup_fee + r.per_call_fee + r.charged_seconds * per_minute / 60
        assert abs(r.amount - raw) <= Decimal("0.00005")
