"""Rules R4–R8: rating calls against a plan, bundles, fair use, money and statements.

Every expected amount is worked out by hand in a comment: amount = setup + per-call price
+ charged seconds × per-minute price / 60, rounded half-up to 4 decimals (R8).
Times are Europe/Brussels unless written in UTC. Reference days (2026, winter time):
Wednesday 4 March is an ordinary working day (peak 08:00–15:59:59), 20:00 is off-peak.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callctl.core.classify import Classifier
from callctl.core.money import CALL_QUANTUM, CENT, round_call
from callctl.core.rating import Call, RatedCall, Rater, Usage
from callctl.core.statement import build_statement, build_statements
from callctl.core.tariff import Plan, Tariff, TariffError, parse_tariff
from callctl.data import default_tariff

BRU = ZoneInfo("Europe/Brussels")
TARIFF = default_tariff()
RATER = Rater(TARIFF)
CLASSIFY = Classifier(TARIFF.numbering)
D = Decimal
ZERO = D("0.0000")

# One dialled number per group / price key (R2 groups checked in test_numbers_are_classified).
NUMBERS = {
    "be_fixed": "02 123 45 67",
    "be_mobile": "0470 12 34 56",
    "zone": "+33 1 23 45 67 89",
    "zone_us": "+1 212 555 0123",
    "ma_tr_ma": "+212 612 345 678",
    "ma_tr_tr": "+90 532 123 45 67",
    "international": "+81 3 1234 5678",
    "international_hr": "+385 1 234 5678",
    "emergency": "112",
    "helpline": "1813",
    "helpline_070": "070 245 245",
    "freephone": "0800 12 345",
    "special_070": "070 12 34 56",
    "special_078": "078 15 15 15",
    "special_short": "1207",
    "special_077": "077 12 34 56",
    "invalid": "abc",
}
GROUP_OF = {
    "be_fixed": "be_fixed",
    "be_mobile": "be_mobile",
    "zone": "zone",
    "zone_us": "zone",
    "ma_tr_ma": "ma_tr",
    "ma_tr_tr": "ma_tr",
    "international": "international",
    "international_hr": "international",
    "emergency": "emergency",
    "helpline": "helpline",
    "helpline_070": "helpline",
    "freephone": "freephone",
    "special_070": "special",
    "special_078": "special",
    "special_short": "special",
    "special_077": "special",
    "invalid": "invalid",
}

PEAK = datetime(2026, 3, 4, 10, 0, tzinfo=BRU)  # Wednesday 10:00: peak
OFFPEAK = datetime(2026, 3, 4, 20, 0, tzinfo=BRU)  # Wednesday 20:00: off-peak
MARCH = "2026-03"

CLASSIC = TARIFF.plan("classic")
KLIK = TARIFF.plan("klik")


def call(key_or_number: str, answered: datetime, billsec: int) -> Call:
    return Call(answered, billsec, CLASSIFY(NUMBERS.get(key_or_number, key_or_number)))


def rate(
    key: str,
    answered: datetime,
    billsec: int,
    plan: Plan = CLASSIC,
    usage: Usage | None = None,
    *,
    rater: Rater = RATER,
) -> tuple[RatedCall, Usage]:
    c = call(key, answered, billsec)
    return rater.rate_call(c, plan, usage or Usage(rater.period_of(answered)))


def tariff_with(patch: dict[tuple[str, ...], Any]) -> Tariff:
    """The shipped tariff data with some keys changed, parsed like the real file."""
    text = resources.files("callctl.data").joinpath("tariff.toml").read_text("utf-8")
    data = tomllib.loads(text)
    for path, value in patch.items():
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return parse_tariff(data)


def test_numbers_are_classified() -> None:
    for key, number in NUMBERS.items():
        assert CLASSIFY(number).group == GROUP_OF[key], key


# ============================================================ R5 plans and options


def test_r5_plans_merge_options() -> None:
    assert CLASSIC.fees[0].amount == D("22.29")
    assert KLIK.fees[0].amount == D("11.45")
    full = TARIFF.plan("classic", ("anytime", "24_belgium"))
    assert [f.amount for f in full.fees] == [D("22.29"), D("6.20"), D("4.13")]
    assert [f.amount for f in TARIFF.plan("klik", ["international_calling"]).fees] == [
        D("11.45"),
        D("8.26"),
    ]


@pytest.mark.parametrize(
    ("product", "options"),
    [
        ("classic", ("international_calling",)),  # a KLIK option
        ("klik", ("anytime",)),  # Classic options
        ("klik", ("24_belgium",)),
        ("classic", ("anytime", "nonsense")),
    ],
)
def test_r5_option_not_offered_is_an_error(product: str, options: tuple[str, ...]) -> None:
    with pytest.raises(TariffError, match="not offered"):
        TARIFF.plan(product, options)


def test_r5_unknown_product_is_an_error() -> None:
    with pytest.raises(TariffError, match="unknown product"):
        TARIFF.plan("gold")


# ============================================================ R5 Belgian calls


@pytest.mark.parametrize("key", ["be_fixed", "be_mobile"])
def test_r5_classic_belgian_peak_is_charged(key: str) -> None:
    # Classic peak: 0.17/min, no setup fee. 60 s → 0.17; 90 s → 90 × 0.17 / 60 = 0.255.
    r, u = rate(key, PEAK, 60)
    assert (r.amount, r.charged_seconds, r.setup_fee, r.fair_use_seconds) == (
        D("0.1700"),
        60,
        ZERO,
        0,
    )
    assert u == Usage(MARCH)  # charged seconds are not fair use
    r, _ = rate(key, PEAK, 90)
    assert r.amount == D("0.2550")


@pytest.mark.parametrize("key", ["be_fixed", "be_mobile"])
def test_r5_r7_classic_belgian_offpeak_is_free_and_counted_as_fair_use(key: str) -> None:
    r, u = rate(key, OFFPEAK, 600)
    assert (r.amount, r.charged_seconds, r.fair_use_seconds, r.bundle_seconds) == (ZERO, 0, 600, 0)
    assert (r.peak_seconds, r.offpeak_seconds) == (0, 600)
    assert u == Usage(MARCH, bundle_seconds=0, fair_use_seconds=600)


@pytest.mark.parametrize("key", ["be_fixed", "be_mobile"])
@pytest.mark.parametrize("when", [PEAK, OFFPEAK])
def test_r5_r7_klik_belgian_is_always_free_and_counted(key: str, when: datetime) -> None:
    r, u = rate(key, when, 600, KLIK)
    assert (r.amount, r.charged_seconds, r.fair_use_seconds, r.setup_fee) == (ZERO, 0, 600, ZERO)
    assert u.fair_use_seconds == 600


def test_r3_r5_classic_belgian_call_straddling_8am() -> None:
    # 07:59:30 for 60 s: 30 s off-peak (free, fair use) + 30 s peak × 0.17 / 60 = 0.085.
    r, u = rate("be_fixed", datetime(2026, 3, 4, 7, 59, 30, tzinfo=BRU), 60)
    assert (r.peak_seconds, r.offpeak_seconds) == (30, 30)
    assert (r.fair_use_seconds, r.charged_seconds, r.amount) == (30, 30, D("0.0850"))
    assert u.fair_use_seconds == 30


def test_r3_r5_classic_belgian_on_weekend_and_holiday_is_free() -> None:
    saturday = datetime(2026, 3, 7, 10, tzinfo=BRU)
    christmas = datetime(2026, 12, 25, 10, tzinfo=BRU)  # a Friday
    for when in (saturday, christmas):
        r, _ = rate("be_mobile", when, 120)
        assert (r.amount, r.fair_use_seconds, r.offpeak_seconds) == (ZERO, 120, 120)


def test_r3_r5_extra_offpeak_date_makes_belgian_peak_free() -> None:
    bands = replace(TARIFF.bands, extra_offpeak_dates=frozenset({date(2026, 3, 4)}))
    rater = Rater(replace(TARIFF, bands=bands))
    r, _ = rate("be_fixed", PEAK, 60, rater=rater)
    assert (r.amount, r.fair_use_seconds, r.peak_seconds) == (ZERO, 60, 0)
    r, _ = rate("be_fixed", PEAK, 60)  # shipped tariff: still peak
    assert r.amount == D("0.1700")


def test_r5_r7_option_24_belgium_makes_belgian_calls_free_at_all_hours() -> None:
    plan = TARIFF.plan("classic", ["24_belgium"])
    usage = Usage(MARCH)
    for key, when in (("be_fixed", PEAK), ("be_mobile", PEAK), ("be_fixed", OFFPEAK)):
        r, usage = rate(key, when, 300, plan, usage)
        assert (r.amount, r.charged_seconds, r.fair_use_seconds) == (ZERO, 0, 300)
    assert usage == Usage(MARCH, 0, 900)
    # It does not touch the zone: a peak zone call on Classic + 24_belgium is still charged.
    r, _ = rate("zone", PEAK, 60, plan)
    assert r.amount == D("0.6600")  # 0.08 + 60 × 0.58 / 60


# ============================================================ R5/R6 the zone bundle


def test_r5_r6_classic_zone_offpeak_draws_the_bundle_without_setup_fee() -> None:
    r, u = rate("zone", OFFPEAK, 120)
    assert (r.bundle_seconds, r.charged_seconds, r.setup_fee, r.amount) == (120, 0, ZERO, ZERO)
    assert r.fair_use_seconds == 0  # the bundle is not an unlimited allowance
    assert u == Usage(MARCH, bundle_seconds=120, fair_use_seconds=0)


def test_r5_classic_zone_peak_is_outside_the_bundle() -> None:
    # Classic's bundle covers off-peak seconds only: 0.08 + 120 × 0.58 / 60 = 0.08 + 1.16.
    r, u = rate("zone_us", PEAK, 120)
    assert (r.bundle_seconds, r.charged_seconds, r.setup_fee, r.amount) == (
        0,
        120,
        D("0.08"),
        D("1.2400"),
    )
    assert u == Usage(MARCH)


def test_r3_r5_classic_zone_call_straddling_4pm() -> None:
    # 15:59:30 for 60 s: 30 peak s charged, 30 off-peak s from the bundle.
    # 0.08 + 30 × 0.58 / 60 = 0.08 + 0.29 = 0.37.
    r, u = rate("zone", datetime(2026, 3, 4, 15, 59, 30, tzinfo=BRU), 60)
    assert (r.peak_seconds, r.offpeak_seconds) == (30, 30)
    assert (r.bundle_seconds, r.charged_seconds, r.amount) == (30, 30, D("0.3700"))
    assert u.bundle_seconds == 30


def test_r5_option_anytime_bundle_covers_peak() -> None:
    plan = TARIFF.plan("classic", ["anytime"])
    r, u = rate("zone", PEAK, 120, plan)
    assert (r.bundle_seconds, r.charged_seconds, r.setup_fee, r.amount) == (120, 0, ZERO, ZERO)
    assert u.bundle_seconds == 120


def test_r5_klik_has_no_bundle() -> None:
    # KLIK zone: 0.58/min + 0.08 at all hours. 60 s → 0.66.
    for when in (PEAK, OFFPEAK):
        r, u = rate("zone", when, 60, KLIK)
        assert (r.bundle_seconds, r.charged_seconds, r.amount) == (0, 60, D("0.6600"))
        assert u == Usage(MARCH)


def test_r5_klik_international_calling_bundle_covers_all_hours() -> None:
    plan = TARIFF.plan("klik", ["international_calling"])
    usage = Usage(MARCH)
    for when in (PEAK, OFFPEAK):
        r, usage = rate("zone", when, 60, plan, usage)
        assert (r.bundle_seconds, r.charged_seconds, r.amount) == (60, 0, ZERO)
    assert usage.bundle_seconds == 120
    # Only the zone: ma_tr on KLIK stays 0.08 + 0.83.
    r, _ = rate("ma_tr_ma", PEAK, 60, plan, usage)
    assert (r.bundle_seconds, r.amount) == (0, D("0.9100"))


@pytest.mark.parametrize(
    "plan",
    [
        TARIFF.plan("classic"),
        TARIFF.plan("classic", ["anytime"]),
        TARIFF.plan("klik", ["international_calling"]),
    ],
)
def test_r6_bundle_exhausted_in_the_middle_of_a_call(plan: Plan) -> None:
    # 119 940 s used, 120-s off-peak zone call: 60 s from the bundle, 60 s charged.
    # 0.08 + 60 × 0.58 / 60 = 0.66.
    usage = Usage(MARCH, bundle_seconds=119_940)
    r, usage = rate("zone", OFFPEAK, 120, plan, usage)
    assert (r.bundle_seconds, r.charged_seconds, r.setup_fee, r.amount) == (
        60,
        60,
        D("0.08"),
        D("0.6600"),
    )
    assert usage.bundle_seconds == 120_000
    # The bundle is empty: the next zone call is wholly charged (0.08 + 30 × 0.58 / 60).
    r, usage = rate("zone", OFFPEAK, 30, plan, usage)
    assert (r.bundle_seconds, r.charged_seconds, r.amount) == (0, 30, D("0.3700"))
    assert usage.bundle_seconds == 120_000


def test_r5_r6_call_that_exactly_empties_the_bundle_has_no_setup_fee() -> None:
    r, u = rate("zone", OFFPEAK, 120, usage=Usage(MARCH, bundle_seconds=119_880))
    assert (r.bundle_seconds, r.charged_seconds, r.setup_fee, r.amount) == (120, 0, ZERO, ZERO)
    assert u.bundle_seconds == 120_000


def test_r5_setup_fee_once_for_one_charged_second() -> None:
    # 119 999 used, 60-s off-peak zone call: 1 s from the bundle, 59 s charged.
    # 0.08 + 59 × 0.58 / 60 = 0.08 + 0.570333… = 0.650333… → 0.6503.
    r, _ = rate("zone", OFFPEAK, 60, usage=Usage(MARCH, bundle_seconds=119_999))
    assert (r.bundle_seconds, r.charged_seconds, r.setup_fee, r.amount) == (
        1,
        59,
        D("0.08"),
        D("0.6503"),
    )


# ============================================================ R5 ma_tr and international


@pytest.mark.parametrize("key", ["ma_tr_ma", "ma_tr_tr"])
def test_r5_ma_tr_classic_vs_klik(key: str) -> None:
    # Classic 1.16/min: 60 s → 0.08 + 1.16 = 1.24; 30 s → 0.08 + 0.58 = 0.66.
    # KLIK 0.83/min: 60 s → 0.08 + 0.83 = 0.91; 30 s → 0.08 + 0.415 = 0.495.
    assert rate(key, PEAK, 60)[0].amount == D("1.2400")
    assert rate(key, OFFPEAK, 30)[0].amount == D("0.6600")
    assert rate(key, PEAK, 60, KLIK)[0].amount == D("0.9100")
    assert rate(key, OFFPEAK, 30, KLIK)[0].amount == D("0.4950")


@pytest.mark.parametrize("key", ["international", "international_hr"])
@pytest.mark.parametrize(
    "plan",
    [TARIFF.plan("classic", ["anytime"]), TARIFF.plan("klik", ["international_calling"])],
)
def test_r5_international_is_116_never_in_the_bundle(key: str, plan: Plan) -> None:
    # 45 s → 0.08 + 45 × 1.16 / 60 = 0.08 + 0.87 = 0.95, even off-peak with a bundle.
    r, u = rate(key, OFFPEAK, 45, plan)
    assert (r.bundle_seconds, r.charged_seconds, r.setup_fee, r.amount) == (
        0,
        45,
        D("0.08"),
        D("0.9500"),
    )
    assert u == Usage(MARCH)


def test_r5_ma_tr_is_never_in_the_bundle() -> None:
    r, _ = rate("ma_tr_tr", OFFPEAK, 60, TARIFF.plan("classic", ["anytime"]))
    assert (r.bundle_seconds, r.amount) == (0, D("1.2400"))


# ============================================================ R5 third-party numbers


@pytest.mark.parametrize("key", ["emergency", "helpline", "helpline_070", "freephone"])
@pytest.mark.parametrize("plan", [CLASSIC, KLIK])
def test_r5_free_numbers_cost_nothing_and_touch_no_counter(key: str, plan: Plan) -> None:
    for when in (PEAK, OFFPEAK):
        r, u = rate(key, when, 1800, plan)
        assert (r.amount, r.charged_seconds, r.setup_fee, r.per_call_fee) == (ZERO, 0, ZERO, ZERO)
        assert (r.bundle_seconds, r.fair_use_seconds, r.refused) == (0, 0, None)
        assert u == Usage(MARCH)


@pytest.mark.parametrize(
    ("key", "seconds", "amount"),
    [
        ("special_070", 60, "0.3000"),  # 0.30/min
        ("special_070", 1, "0.0050"),  # 0.30 / 60 = 0.005 exactly
        ("special_070", 90, "0.4500"),
        ("special_078", 60, "0.1700"),  # 0.17/min
        ("special_078", 1, "0.0028"),  # 0.002833… → 0.0028
        ("special_short", 60, "0.1700"),
        ("special_short", 2, "0.0057"),  # 0.005666… → 0.0057
    ],
)
@pytest.mark.parametrize("plan", [CLASSIC, TARIFF.plan("klik", ["international_calling"])])
def test_r5_special_numbers(key: str, seconds: int, amount: str, plan: Plan) -> None:
    # Same at peak and off-peak, no setup fee, outside every bundle and allowance.
    for when in (PEAK, OFFPEAK):
        r, u = rate(key, when, seconds, plan)
        assert (r.amount, r.setup_fee, r.charged_seconds) == (D(amount), ZERO, seconds)
        assert u == Usage(MARCH)


def test_r5_077_is_refused_and_costs_nothing() -> None:
    r, u = rate("special_077", PEAK, 60)
    assert r.refused is not None
    assert "077" in r.refused
    assert (r.amount, r.charged_seconds) == (ZERO, 0)
    assert u == Usage(MARCH)


PREMIUM = [
    # prefix, per-minute, per-call
    ("0900", "0.50", None),
    ("0901", None, "0.50"),
    ("0902", "1.00", None),
    ("0903", "1.50", None),
    ("0904", "2.00", None),
    ("0905", None, "2.00"),
    ("0906", "1.00", None),
    ("0907", "2.00", None),
    ("0908", "2.00", None),
    ("0909", None, "31.00"),
]


@pytest.mark.parametrize(("prefix", "per_minute", "per_call"), PREMIUM)
def test_r5_premium_prices_and_cutoff(
    prefix: str, per_minute: str | None, per_call: str | None
) -> None:
    number = prefix + "12345"
    assert CLASSIFY(number).price_key == prefix
    if per_minute is not None:
        price = D(per_minute)
        # 60 s → one minute's price; 90 s → 1.5 × price (exact at 4 decimals).
        r, _ = rate(number, PEAK, 60)
        assert (r.amount, r.charged_seconds, r.cut_off, r.setup_fee) == (
            round_call(price),
            60,
            False,
            ZERO,
        )
        assert rate(number, OFFPEAK, 90, KLIK)[0].amount == round_call(price * D("1.5"))
        # Exactly 10 minutes: not cut; 10 × price.
        r, _ = rate(number, PEAK, 600)
        assert (r.amount, r.charged_seconds, r.cut_off) == (round_call(10 * price), 600, False)
        # Longer: charged only 600 s and marked cut off.
        for seconds in (601, 900, 7200):
            r, _ = rate(number, PEAK, seconds)
            assert (r.amount, r.charged_seconds, r.cut_off) == (
                round_call(10 * price),
                600,
                True,
            )
            assert r.peak_seconds + r.offpeak_seconds == seconds
    else:
        assert per_call is not None
        price = D(per_call)
        # A per-call price whatever the length; no seconds charged, never cut.
        for seconds in (1, 60, 900, 7200):
            r, _ = rate(number, PEAK, seconds)
            assert (r.amount, r.per_call_fee, r.charged_seconds, r.cut_off) == (
                round_call(price),
                price,
                0,
                False,
            )


def test_r5_premium_worked_examples() -> None:
    # 0900 at 0.50/min for 900 s → cut at 600 s: 600 × 0.50 / 60 = 5.00.
    assert rate("090012345", PEAK, 900)[0].amount == D("5.0000")
    # 0903 at 1.50/min for 61 s: 61 × 1.50 / 60 = 1.525.
    assert rate("090312345", PEAK, 61)[0].amount == D("1.5250")
    # 0909: 31.00 per call.
    assert rate("090912345", PEAK, 5)[0].amount == D("31.0000")


# ============================================================ R1/R4 unanswered, invalid


@pytest.mark.parametrize("key", sorted(NUMBERS))
@pytest.mark.parametrize("plan", [CLASSIC, KLIK])
def test_r4_unanswered_calls_cost_nothing(key: str, plan: Plan) -> None:
    usage = Usage(MARCH, bundle_seconds=119_000, fair_use_seconds=5)
    for when in (PEAK, OFFPEAK):
        r, u = rate(key, when, 0, plan, usage)
        assert (r.amount, r.setup_fee, r.per_call_fee, r.charged_seconds) == (ZERO, ZERO, ZERO, 0)
        assert (r.bundle_seconds, r.fair_use_seconds, r.cut_off) == (0, 0, False)
        assert str(r.amount) == "0.0000"  # R8: still 4 decimals
        assert u == usage
    # Also a per-call premium number.
    assert rate("090912345", PEAK, 0)[0].amount == ZERO


@pytest.mark.parametrize(
    ("dialled", "reason"),
    [("abc", "letters"), ("", "nothing to dial"), ("+999 123", "unknown country code")],
)
def test_r1_invalid_numbers_cost_nothing_and_carry_the_reason(dialled: str, reason: str) -> None:
    usage = Usage(MARCH, bundle_seconds=10, fair_use_seconds=10)
    for seconds in (0, 60):
        r, u = rate(dialled, PEAK, seconds, usage=usage)
        assert r.group == "invalid"
        assert r.refused is not None
        assert reason in r.refused
        assert r.refused == CLASSIFY(dialled).reason
        assert (r.amount, r.charged_seconds, r.setup_fee) == (ZERO, 0, ZERO)
        assert str(r.amount) == "0.0000"
        assert u == usage


def test_r4_per_second_billing_from_the_first_second() -> None:
    # No minimum: 1 s at Classic peak is 0.17 / 60 = 0.0028333… → 0.0028.
    r, _ = rate("be_fixed", PEAK, 1)
    assert (r.charged_seconds, r.amount) == (1, D("0.0028"))


def test_r4_negative_duration_is_an_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        rate("be_fixed", PEAK, -1)


def test_rated_call_records_what_was_rated() -> None:
    r, _ = rate("zone", PEAK, 60)
    assert (r.period, r.group, r.price_key, r.tariff_id) == (MARCH, "zone", "zone", TARIFF.id)
    assert (r.peak_seconds, r.offpeak_seconds) == (60, 0)


# ============================================================ R8 call rounding


@pytest.mark.parametrize(
    ("key", "plan", "when", "seconds", "amount"),
    [
        # 1 × 0.17 / 60 = 0.0028333… → 0.0028 (down)
        ("be_fixed", CLASSIC, PEAK, 1, "0.0028"),
        # 2 × 0.17 / 60 = 0.0056666… → 0.0057 (up)
        ("be_fixed", CLASSIC, PEAK, 2, "0.0057"),
        # 3 × 0.17 / 60 = 0.0085 exactly
        ("be_mobile", CLASSIC, PEAK, 3, "0.0085"),
        # 0.30 / 60 = 0.005 exactly → 0.0050
        ("special_070", CLASSIC, PEAK, 1, "0.0050"),
        # 0.08 + 0.58 / 60 = 0.08 + 0.0096666… = 0.0896666… → 0.0897
        ("zone", CLASSIC, PEAK, 1, "0.0897"),
        # 0.08 + 0.83 / 60 = 0.0938333… → 0.0938
        ("ma_tr_ma", KLIK, PEAK, 1, "0.0938"),
        # 0.08 + 7 × 1.16 / 60 = 0.08 + 0.1353333… → 0.2153
        ("international", KLIK, PEAK, 7, "0.2153"),
        # 0.08 + 5 × 1.16 / 60 = 0.08 + 0.0966666… → 0.1767
        ("international", CLASSIC, OFFPEAK, 5, "0.1767"),
    ],
)
def test_r8_call_amount_rounded_half_up_to_4_decimals(
    key: str, plan: Plan, when: datetime, seconds: int, amount: str
) -> None:
    r, _ = rate(key, when, seconds, plan)
    assert r.amount == D(amount)
    assert r.amount.as_tuple().exponent == -4


def shipped_per_minute_prices() -> set[Decimal]:
    prices = {p for prod in TARIFF.products.values() for p in prod.allowances.per_minute.values()}
    prices |= {p.per_minute for p in TARIFF.third_party.values()}
    return prices


def test_r8_no_half_way_tie_is_possible_with_the_shipped_prices() -> None:
    # Searching for a genuine tie: with prices in whole cents, s × p / 60 in units of
    # 0.0001 is s × p(cents) × 5 / 3, whose fraction is 0, 1/3 or 2/3, never 1/2; the setup
    # fee and per-call prices are whole cents too. The pattern repeats every 3 seconds, so
    # 1…600 s covers every case.
    fixed = {D("0"), TARIFF.setup_fee} | {p.per_call for p in TARIFF.third_party.values()}
    ties = [
        (price, s, extra)
        for price in shipped_per_minute_prices()
        for extra in fixed
        for s in range(1, 601)
        if (extra + s * price / 60).quantize(CALL_QUANTUM, ROUND_HALF_UP)
        != (extra + s * price / 60).quantize(CALL_QUANTUM, ROUND_HALF_EVEN)
        or ((extra + s * price / 60) * 10**5) % 10 == 5
    ]
    assert ties == []


def test_r8_genuine_half_up_tie_rounds_up() -> None:
    # Shipped prices cannot tie (above), so change two prices in the tariff data:
    # 070 at 0.303/min: 1 s = 0.00505 → half-up 0.0051 (banker's would give 0.0050).
    # Classic be_fixed at 0.015/min: 1 s = 0.00025 → 0.0003 (banker's 0.0002);
    # 3 s = 0.00075 → 0.0008 (both); 5 s = 0.00125 → 0.0013 (banker's 0.0012).
    tariff = tariff_with(
        {
            ("prices", "third_party", "070", "per_minute"): "0.303",
            ("products", "classic", "per_minute", "be_fixed"): "0.015",
        }
    )
    rater = Rater(tariff)
    plan = tariff.plan("classic")
    assert rate("special_070", PEAK, 1, plan, rater=rater)[0].amount == D("0.0051")
    assert rate("be_fixed", PEAK, 1, plan, rater=rater)[0].amount == D("0.0003")
    assert rate("be_fixed", PEAK, 3, plan, rater=rater)[0].amount == D("0.0008")
    assert rate("be_fixed", PEAK, 5, plan, rater=rater)[0].amount == D("0.0013")
    # And the helper itself.
    assert round_call(D("0.00005")) == D("0.0001")
    assert round_call(D("0.00025")) == D("0.0003")


# ============================================================ R8 statements


def test_r8_statement_rounds_half_up_to_cents() -> None:
    # Classic 22.29 + one 070 call of 3 s (3 × 0.30 / 60 = 0.0150) = 22.3050
    # → half-up 22.31 (banker's rounding would give 22.30).
    # VAT on the rounded total: 22.31 × 0.21 = 4.6851 → 4.69; incl. VAT 27.00.
    rated, usage = RATER.rate_calls([call("special_070", PEAK, 3)], CLASSIC)
    st = build_statement(MARCH, rated, usage[MARCH], CLASSIC, TARIFF)
    assert st.calls_total == D("0.0150")
    assert st.fees_total == D("22.29")
    assert st.total_excl_vat == D("22.31")
    assert st.vat == D("4.69")
    assert st.total_incl_vat == D("27.00")
    assert st.vat_rate == D("0.21")
    for amount in (st.total_excl_vat, st.vat, st.total_incl_vat):
        assert amount.as_tuple().exponent == -2


def test_r8_vat_is_computed_on_the_rounded_total_half_up() -> None:
    # Classic 22.29 + one 070 call of 41 s (41 × 0.30 / 60 = 0.205) = 22.4950 → 22.50.
    # VAT 22.50 × 0.21 = 4.725 → half-up 4.73 (banker's: 4.72; VAT on the unrounded
    # 22.495 × 0.21 = 4.72395 → 4.72). Incl. VAT 22.50 + 4.73 = 27.23.
    rated, usage = RATER.rate_calls([call("special_070", PEAK, 41)], CLASSIC)
    st = build_statement(MARCH, rated, usage[MARCH], CLASSIC, TARIFF)
    assert st.calls_total == D("0.2050")
    assert (st.total_excl_vat, st.vat, st.total_incl_vat) == (D("22.50"), D("4.73"), D("27.23"))
    assert D("22.50") * D("0.21") == D("4.7250")
    assert D("4.725").quantize(CENT, ROUND_HALF_EVEN) == D("4.72")  # what banker's would do


def test_r8_statement_with_options_groups_and_counters() -> None:
    plan = TARIFF.plan("classic", ["anytime", "24_belgium"])
    calls = [
        call("be_fixed", PEAK, 600),  # free (24_belgium), 600 s fair use
        call("zone", PEAK, 1200),  # bundle (anytime)
        call("ma_tr_ma", OFFPEAK, 60),  # 0.08 + 1.16 = 1.24
        call("international", OFFPEAK, 30),  # 0.08 + 0.58 = 0.66
        call("090112345", PEAK, 10),  # 0.50 per call
        call("112", PEAK, 100),  # free
        call("zone", PEAK, 0),  # unanswered
    ]
    rated, usage = RATER.rate_calls(calls, plan)
    st = build_statement(MARCH, rated, usage[MARCH], plan, TARIFF)
    # Fees 22.29 + 6.20 + 4.13 = 32.62; calls 1.24 + 0.66 + 0.50 = 2.40; total 35.02.
    # VAT 35.02 × 0.21 = 7.3542 → 7.35; incl. 42.37.
    assert st.fees_total == D("32.62")
    assert st.calls_total == D("2.4000")
    assert (st.total_excl_vat, st.vat, st.total_incl_vat) == (D("35.02"), D("7.35"), D("42.37"))
    assert (st.calls, st.answered_calls) == (7, 6)
    assert (st.bundle_size, st.bundle_used, st.bundle_left) == (120_000, 1200, 118_800)
    assert (st.fair_use_seconds, st.fair_use_cap) == (600, 1_800_000)
    by_group = {g.group: g for g in st.groups}
    assert by_group["zone"].calls == 2
    assert by_group["zone"].billed_seconds == 1200
    assert by_group["ma_tr"].amount == D("1.2400")
    assert by_group["premium"].amount == D("0.5000")
    assert by_group["emergency"].amount == ZERO


def test_r8_klik_statement_has_no_bundle() -> None:
    rated, usage = RATER.rate_calls([call("be_mobile", PEAK, 60)], KLIK)
    st = build_statement(MARCH, rated, usage[MARCH], KLIK, TARIFF)
    assert (st.bundle_size, st.bundle_left) == (0, 0)
    # 11.45, VAT 11.45 × 0.21 = 2.4045 → 2.40, incl. 13.85.
    assert (st.total_excl_vat, st.vat, st.total_incl_vat) == (D("11.45"), D("2.40"), D("13.85"))


# ============================================================ R6 periods


def test_r6_call_across_midnight_at_month_end_belongs_to_its_answer_month() -> None:
    # Saturday 31 October 2026 23:59 local (CET) = 22:59 UTC, 120 s: ends 1 November 00:01.
    answered_utc = datetime(2026, 10, 31, 22, 59, tzinfo=UTC)
    answered_local = datetime(2026, 10, 31, 23, 59, tzinfo=BRU)
    assert answered_utc == answered_local
    for answered in (answered_utc, answered_local):
        assert RATER.period_of(answered) == "2026-10"
        c = call("zone", answered, 120)
        assert c.ended_at == datetime(2026, 10, 31, 23, 1, tzinfo=UTC)
        r, u = RATER.rate_call(c, CLASSIC, Usage("2026-10"))
        assert (r.period, u.period, r.bundle_seconds) == ("2026-10", "2026-10", 120)
        with pytest.raises(ValueError, match="usage is for 2026-11"):
            RATER.rate_call(c, CLASSIC, Usage("2026-11"))


def test_r6_period_is_the_brussels_month_not_the_utc_month() -> None:
    # 30 November 2026 23:30 UTC is 1 December 00:30 in Brussels → December.
    assert RATER.period_of(datetime(2026, 11, 30, 23, 30, tzinfo=UTC)) == "2026-12"
    # 31 March 2026 22:30 UTC is 1 April 00:30 CEST → April; 21:59 UTC is 23:59 → March.
    assert RATER.period_of(datetime(2026, 3, 31, 22, 30, tzinfo=UTC)) == "2026-04"
    assert RATER.period_of(datetime(2026, 3, 31, 21, 59, tzinfo=UTC)) == "2026-03"


def test_r6_rate_call_refuses_usage_of_another_period() -> None:
    with pytest.raises(ValueError, match="usage is for 2026-02, the call is in 2026-03"):
        RATER.rate_call(call("zone", OFFPEAK, 60), CLASSIC, Usage("2026-02"))


def test_r6_separate_periods_keep_separate_bundles() -> None:
    # October: 119 940 s already used. A 120-s call answered 31 Oct 23:59 (Saturday, off-peak)
    # draws 60 s and pays 60 s (0.66) although it ends in November. A 120-s call on
    # Sunday 1 November draws November's fresh bundle.
    oct_call = call("zone", datetime(2026, 10, 31, 23, 59, tzinfo=BRU), 120)
    nov_call = call("zone", datetime(2026, 11, 1, 0, 0, 30, tzinfo=BRU), 120)
    rated, book = RATER.rate_calls(
        [nov_call, oct_call], CLASSIC, {"2026-10": Usage("2026-10", bundle_seconds=119_940)}
    )
    assert [r.period for r in rated] == ["2026-11", "2026-10"]
    assert (rated[1].bundle_seconds, rated[1].charged_seconds, rated[1].amount) == (
        60,
        60,
        D("0.6600"),
    )
    assert (rated[0].bundle_seconds, rated[0].charged_seconds, rated[0].amount) == (120, 0, ZERO)
    assert book == {
        "2026-10": Usage("2026-10", 120_000, 0),
        "2026-11": Usage("2026-11", 120, 0),
    }
    statements = build_statements(rated, book, CLASSIC, TARIFF)
    assert [s.period for s in statements] == ["2026-10", "2026-11"]
    assert [s.bundle_left for s in statements] == [0, 119_880]
    # October: 22.29 + 0.66 = 22.95, VAT 4.8195 → 4.82; November: 22.29, VAT 4.6809 → 4.68.
    assert [(s.total_excl_vat, s.vat) for s in statements] == [
        (D("22.95"), D("4.82")),
        (D("22.29"), D("4.68")),
    ]


# ============================================================ R6 bundle order


def test_r6_bundle_is_drawn_in_the_order_calls_end() -> None:
    # 100 s left. A answered 20:00:00 for 300 s (ends 20:05:00); B answered 20:01:00 for
    # 60 s (ends 20:02:00). B ends first: B takes 60 s (0.00), A takes the last 40 s and pays
    # 260 s: 0.08 + 260 × 0.58 / 60 = 0.08 + 2.513333… = 2.593333… → 2.5933.
    # (In start order A would pay 200 s = 2.0133 and B 0.66.)
    a = call("zone", datetime(2026, 3, 4, 20, 0, 0, tzinfo=BRU), 300)
    b = call("zone", datetime(2026, 3, 4, 20, 1, 0, tzinfo=BRU), 60)
    start = {MARCH: Usage(MARCH, bundle_seconds=119_900)}
    for order in ([a, b], [b, a]):
        rated, book = RATER.rate_calls(order, CLASSIC, start)
        got = {id(c): r for c, r in zip(order, rated, strict=True)}
        ra, rb = got[id(a)], got[id(b)]
        assert (rb.bundle_seconds, rb.charged_seconds, rb.amount) == (60, 0, ZERO)
        assert (ra.bundle_seconds, ra.charged_seconds, ra.setup_fee, ra.amount) == (
            40,
            260,
            D("0.08"),
            D("2.5933"),
        )
        assert book[MARCH].bundle_seconds == 120_000
    # One by one in end order with the usage passed along gives the same.
    rb, u = RATER.rate_call(b, CLASSIC, start[MARCH])
    ra, u = RATER.rate_call(a, CLASSIC, u)
    assert (ra.amount, rb.amount, u.bundle_seconds) == (D("2.5933"), ZERO, 120_000)


def test_r6_end_time_ties_go_by_answer_time() -> None:
    # Both end 20:02:00. C (answered 20:00:00, 120 s) draws first: 100 s bundle, 20 s
    # charged: 0.08 + 20 × 0.58 / 60 = 0.273333… → 0.2733. D (20:01:00, 60 s) pays 0.66.
    c = call("zone", datetime(2026, 3, 4, 20, 0, 0, tzinfo=BRU), 120)
    d = call("zone", datetime(2026, 3, 4, 20, 1, 0, tzinfo=BRU), 60)
    assert c.ended_at == d.ended_at
    start = {MARCH: Usage(MARCH, bundle_seconds=119_900)}
    rated, _ = RATER.rate_calls([d, c], CLASSIC, start)
    assert [(r.bundle_seconds, r.amount) for r in rated] == [(0, D("0.6600")), (100, D("0.2733"))]


def test_r6_bundle_order_uses_real_seconds_on_dst_day() -> None:
    # Sunday 29 March 2026, 02:00 CET → 03:00 CEST. E answered 01:30 CET (00:30 UTC) for
    # 5 400 s really ends 02:00 UTC (04:00 CEST), though wall clock + 1 h 30 says "03:00"
    # (01:00 UTC). F answered 03:10 CEST (01:10 UTC) for 1 800 s ends 01:40 UTC: F ends
    # first in real time, E first by naive wall-clock sums. 2 000 s left:
    # F takes 1 800 s (0.00); E takes 200 s and pays 5 200 s:
    # 0.08 + 5 200 × 0.58 / 60 = 0.08 + 50.266666… = 50.346666… → 50.3467.
    # (Wall-clock order would give E 0.08 + 3 400 × 0.58 / 60 = 32.9467 and F 17.48.)
    e = call("zone", datetime(2026, 3, 29, 1, 30, tzinfo=BRU), 5400)
    f = call("zone", datetime(2026, 3, 29, 3, 10, tzinfo=BRU), 1800)
    assert e.ended_at == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    assert f.ended_at == datetime(2026, 3, 29, 1, 40, tzinfo=UTC)
    start = {MARCH: Usage(MARCH, bundle_seconds=120_000 - 2000)}
    rated, _ = RATER.rate_calls([e, f], CLASSIC, start)
    assert [(r.bundle_seconds, r.amount) for r in rated] == [(200, D("50.3467")), (1800, ZERO)]


def test_r6_usage_beyond_the_bundle_size_draws_nothing() -> None:
    # Counters carried from a tariff with a bigger bundle: nothing left, nothing negative.
    # 0.08 + 60 × 0.58 / 60 = 0.66.
    r, u = rate("zone", OFFPEAK, 60, usage=Usage(MARCH, bundle_seconds=130_000))
    assert (r.bundle_seconds, r.charged_seconds, r.amount) == (0, 60, D("0.6600"))
    assert u.bundle_seconds == 130_000


def test_r6_third_party_and_belgian_calls_do_not_touch_the_bundle() -> None:
    calls = [call(k, OFFPEAK, 60) for k in ("special_070", "be_fixed", "freephone", "112")]
    rated, book = RATER.rate_calls(calls, CLASSIC)
    assert all(r.bundle_seconds == 0 for r in rated)
    assert book[MARCH].bundle_seconds == 0


# ============================================================ R7 fair use

CAP = 1_800_000


def test_r7_cap_is_30000_minutes() -> None:
    assert TARIFF.fair_use_seconds == CAP == 30_000 * 60


def test_r7_fair_use_accumulates_over_calls() -> None:
    # KLIK: Belgian seconds are free at all hours and all count: 1 000 + 2 000 + 500.
    calls = [
        call("be_fixed", PEAK, 1000),
        call("be_mobile", OFFPEAK, 2000),
        call("be_fixed", datetime(2026, 3, 7, 10, tzinfo=BRU), 500),
        call("zone", OFFPEAK, 60),  # not an unlimited allowance: not counted
    ]
    rated, book = RATER.rate_calls(calls, KLIK)
    assert [r.fair_use_seconds for r in rated] == [1000, 2000, 500, 0]
    assert book[MARCH].fair_use_seconds == 3500
    assert not any(r.over_fair_use for r in rated)


def test_r7_call_reaching_the_cap_exactly_is_not_over() -> None:
    r, u = rate("be_fixed", OFFPEAK, 60, usage=Usage(MARCH, fair_use_seconds=CAP - 60))
    assert (r.over_fair_use, u.fair_use_seconds) == (False, CAP)


def test_r7_call_going_past_the_cap_is_over() -> None:
    r, u = rate("be_fixed", OFFPEAK, 61, usage=Usage(MARCH, fair_use_seconds=CAP - 60))
    assert (r.over_fair_use, u.fair_use_seconds) == (True, CAP + 1)
    # Still free: the flag tells that live, the call would have been cut at the cap.
    assert r.amount == ZERO


@pytest.mark.parametrize(
    ("key", "plan", "when"),
    [
        ("be_fixed", CLASSIC, OFFPEAK),
        ("be_fixed", CLASSIC, PEAK),  # charged, but the line is paused
        ("be_mobile", KLIK, PEAK),
        ("zone", CLASSIC, OFFPEAK),
        ("international", KLIK, PEAK),
        ("freephone", CLASSIC, PEAK),
        ("special_070", CLASSIC, PEAK),
        ("090012345", CLASSIC, PEAK),
    ],
)
@pytest.mark.parametrize("used", [CAP, CAP + 1, 2 * CAP])
def test_r7_call_starting_at_or_over_the_cap_is_over(
    key: str, plan: Plan, when: datetime, used: int
) -> None:
    r, _ = rate(key, when, 30, plan, Usage(MARCH, fair_use_seconds=used))
    assert r.over_fair_use


@pytest.mark.parametrize("key", ["emergency", "helpline", "helpline_070"])
@pytest.mark.parametrize("used", [CAP - 1, CAP, 2 * CAP])
def test_r7_emergency_and_helpline_are_never_over(key: str, used: int) -> None:
    r, u = rate(key, PEAK, 600, usage=Usage(MARCH, fair_use_seconds=used))
    assert not r.over_fair_use
    assert (r.amount, u.fair_use_seconds) == (ZERO, used)


def test_r7_below_the_cap_nothing_is_over() -> None:
    for key in NUMBERS:
        r, _ = rate(key, OFFPEAK, 60, usage=Usage(MARCH, fair_use_seconds=CAP - 60))
        assert not r.over_fair_use, key


def test_r7_over_flag_follows_end_order_in_a_batch() -> None:
    # 100 s below the cap. G (20:00:00, 300 s, ends 20:05) and H (20:01:00, 60 s, ends
    # 20:02): H is rated first (60 s, counter CAP − 40), then G goes past the cap.
    g = call("be_fixed", datetime(2026, 3, 4, 20, 0, tzinfo=BRU), 300)
    h = call("be_fixed", datetime(2026, 3, 4, 20, 1, tzinfo=BRU), 60)
    rated, book = RATER.rate_calls([g, h], CLASSIC, {MARCH: Usage(MARCH, 0, CAP - 100)})
    assert [r.over_fair_use for r in rated] == [True, False]
    assert book[MARCH].fair_use_seconds == CAP + 260
