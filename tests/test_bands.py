"""Rule R3: peak and off-peak in Europe/Brussels, and the per-second split of a call.

Peak is Monday–Friday 08:00:00–15:59:59 local time, except the 10 legal holidays and the
tariff's extra off-peak dates. Second k of a call starts at answer + k s and is rated in the
band in force at that instant. Expected figures are worked out by hand in the comments.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callctl.core.bands import BandCalendar
from callctl.data import default_tariff
from tests.legal_calendar import legal_holidays

BRU = ZoneInfo("Europe/Brussels")
TARIFF = default_tariff()
CAL = BandCalendar(TARIFF.bands, TARIFF.timezone)
HOUR = 3600
DAY = 86400
PEAK_DAY = 8 * HOUR  # 08:00:00–15:59:59 = 28 800 s


def local(*parts: int) -> datetime:
    """Brussels wall time: year, month, day[, hour, minute, second, microsecond]."""
    return datetime(*parts, tzinfo=BRU)  # type: ignore[arg-type, misc]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


# ----------------------------------------------------------------- R3 boundaries


@pytest.mark.parametrize(
    ("when", "peak"),
    [
        # Wednesday 4 March 2026, an ordinary working day (winter time).
        (local(2026, 3, 4, 0, 0, 0), False),
        (local(2026, 3, 4, 7, 59, 59), False),
        (local(2026, 3, 4, 7, 59, 59, 999_999), False),
        (local(2026, 3, 4, 8, 0, 0), True),
        (local(2026, 3, 4, 12, 0, 0), True),
        (local(2026, 3, 4, 15, 59, 59), True),
        (local(2026, 3, 4, 15, 59, 59, 999_999), True),
        (local(2026, 3, 4, 16, 0, 0), False),
        (local(2026, 3, 4, 23, 59, 59), False),
        # Same on a summer working day (Wednesday 17 June 2026).
        (local(2026, 6, 17, 7, 59, 59), False),
        (local(2026, 6, 17, 8, 0, 0), True),
        (local(2026, 6, 17, 15, 59, 59), True),
        (local(2026, 6, 17, 16, 0, 0), False),
    ],
)
def test_r3_peak_boundaries(when: datetime, peak: bool) -> None:
    assert CAL.is_peak(when) is peak
    # A 1-second call answered then is rated wholly in that band.
    assert CAL.split(when, 1) == ((1, 0) if peak else (0, 1))


@pytest.mark.parametrize(
    ("answered", "seconds", "expected"),
    [
        # 07:59:30 + 60 s: seconds 0–29 start 07:59:30–07:59:59 (off), 30–59 start 08:00:00+.
        (local(2026, 3, 4, 7, 59, 30), 60, (30, 30)),
        # 15:59:30 + 60 s: 30 peak (…15:59:59), 30 off-peak (16:00:00…).
        (local(2026, 3, 4, 15, 59, 30), 60, (30, 30)),
        # Sub-second answers: second k starts at answer + k s.
        # 07:59:59.500: second 0 starts 07:59:59.5 (off), second 1 starts 08:00:00.5 (peak).
        (local(2026, 3, 4, 7, 59, 59, 500_000), 1, (0, 1)),
        (local(2026, 3, 4, 7, 59, 59, 500_000), 2, (1, 1)),
        (local(2026, 3, 4, 7, 59, 59, 500_000), 10, (9, 1)),
        # 07:59:58.999999: seconds 0 and 1 start before 08:00 (…59.999999), second 2 after.
        (local(2026, 3, 4, 7, 59, 58, 999_999), 2, (0, 2)),
        (local(2026, 3, 4, 7, 59, 58, 999_999), 3, (1, 2)),
        # 07:59:59.000001: second 1 starts 08:00:00.000001 → peak.
        (local(2026, 3, 4, 7, 59, 59, 1), 2, (1, 1)),
        # 15:59:59.500: second 0 peak, second 1 starts 16:00:00.5 → off-peak.
        (local(2026, 3, 4, 15, 59, 59, 500_000), 2, (1, 1)),
        # The whole peak window and one second more.
        (local(2026, 3, 4, 8, 0, 0), PEAK_DAY, (PEAK_DAY, 0)),
        (local(2026, 3, 4, 8, 0, 0), PEAK_DAY + 1, (PEAK_DAY, 1)),
        # 07:00 for 10 h: 1 h off, 8 h peak, 1 h off.
        (local(2026, 3, 4, 7, 0, 0), 10 * HOUR, (PEAK_DAY, 2 * HOUR)),
        # An unanswered call has no seconds.
        (local(2026, 3, 4, 12, 0, 0), 0, (0, 0)),
    ],
)
def test_r3_call_split_at_boundaries(
    answered: datetime, seconds: int, expected: tuple[int, int]
) -> None:
    assert CAL.split(answered, seconds) == expected


def test_r3_split_rejects_naive_times_and_negative_durations() -> None:
    with pytest.raises(ValueError, match="naive"):
        CAL.split(datetime(2026, 3, 4, 12, 0), 60)
    with pytest.raises(ValueError, match="negative"):
        CAL.split(local(2026, 3, 4, 12), -1)


def test_r3_answer_time_in_any_zone_is_the_same_instant() -> None:
    # 07:59:30 Brussels (CET, UTC+1) = 06:59:30 UTC = 01:59:30 in New York (EST, UTC-5).
    for when in (
        local(2026, 3, 4, 7, 59, 30),
        utc(2026, 3, 4, 6, 59, 30),
        datetime(2026, 3, 4, 1, 59, 30, tzinfo=ZoneInfo("America/New_York")),
    ):
        assert CAL.split(when, 60) == (30, 30)


# ----------------------------------------------------------------- R3 weekends


@pytest.mark.parametrize(
    "when",
    [
        local(2026, 3, 7, 8, 0, 0),  # Saturday
        local(2026, 3, 7, 12, 0, 0),
        local(2026, 3, 8, 8, 0, 0),  # Sunday
        local(2026, 3, 8, 15, 59, 59),
    ],
)
def test_r3_weekends_are_offpeak(when: datetime) -> None:
    assert not CAL.is_peak(when)


def test_r3_whole_weekend_is_offpeak() -> None:
    # Saturday 7 March 2026 00:00 → Monday 00:00: 2 days, all off-peak.
    assert CAL.split(local(2026, 3, 7), 2 * DAY) == (0, 2 * DAY)


def test_r3_call_over_a_weekend() -> None:
    # Friday 13 March 2026 15:59:00 for 64 h + 120 s: Fri 15:59:00–15:59:59 is 60 s peak,
    # Fri 16:00 → Mon 08:00 is 64 h off-peak, then Mon 08:00:00–08:00:59 is 60 s peak.
    assert CAL.split(local(2026, 3, 13, 15, 59), 64 * HOUR + 120) == (120, 64 * HOUR)


def test_r3_three_day_call_from_friday() -> None:
    # Friday 6 March 2026 15:00 + 72 h = Monday 15:00: Fri 15–16 peak (3 600 s),
    # Mon 08–15 peak (25 200 s); the rest (259 200 − 28 800 = 230 400 s) off-peak.
    assert CAL.split(local(2026, 3, 6, 15), 3 * DAY) == (3600 + 25200, 230_400)


# ----------------------------------------------------------------- R3 legal holidays

# Each of the 10 legal holidays in a year where it falls Monday–Friday.
HOLIDAYS_ON_WEEKDAYS = [
    pytest.param(date(2026, 1, 1), date(2026, 1, 8), id="new_year-2026-thu"),
    pytest.param(date(2026, 4, 6), date(2026, 4, 13), id="easter_monday-2026"),
    pytest.param(date(2026, 5, 1), date(2026, 5, 8), id="labour_day-2026-fri"),
    pytest.param(date(2026, 5, 14), date(2026, 5, 21), id="ascension-2026-thu"),
    pytest.param(date(2026, 5, 25), date(2026, 6, 1), id="whit_monday-2026"),
    pytest.param(date(2026, 7, 21), date(2026, 7, 28), id="national_day-2026-tue"),
    pytest.param(date(2028, 8, 15), date(2028, 8, 22), id="assumption-2028-tue"),
    pytest.param(date(2027, 11, 1), date(2027, 11, 8), id="all_saints-2027-mon"),
    pytest.param(date(2026, 11, 11), date(2026, 11, 18), id="armistice-2026-wed"),
    pytest.param(date(2026, 12, 25), date(2026, 12, 18), id="christmas-2026-fri"),
]


@pytest.mark.parametrize(("holiday", "control"), HOLIDAYS_ON_WEEKDAYS)
def test_r3_legal_holiday_is_offpeak_all_day(holiday: date, control: date) -> None:
    assert holiday.weekday() < 5  # a weekday: only the holiday rule makes it off-peak
    assert control.weekday() == holiday.weekday()
    at = datetime.combine(holiday, datetime.min.time(), tzinfo=BRU)
    for h, m, s in ((8, 0, 0), (12, 0, 0), (15, 59, 59)):
        assert not CAL.is_peak(at.replace(hour=h, minute=m, second=s))
    # None of these days is a daylight-saving day: a local day is 86 400 s.
    assert CAL.split(at, DAY) == (0, DAY)
    # The same weekday a week away is an ordinary working day.
    ctl = datetime.combine(control, datetime.min.time(), tzinfo=BRU)
    assert CAL.is_peak(ctl.replace(hour=12))
    assert CAL.split(ctl, DAY) == (PEAK_DAY, DAY - PEAK_DAY)


def test_r3_holidays_are_exactly_the_ten_legal_holidays() -> None:
    # 2020–2035: a weekday is off-peak all day iff it is one of the 10 dates of R3 (computed
    # here from Easter, so no holiday name is involved), i.e. the `holidays` package adds no
    # other weekday holiday (no Good Friday, no bank or school holidays).
    for year in range(2020, 2036):
        legal = set(legal_holidays(year).values())
        day = date(year, 1, 1)
        while day.year == year:
            if day.weekday() < 5:
                assert CAL.is_peak_day(day) is (day not in legal), day
            else:
                assert not CAL.is_peak_day(day), day
            day += timedelta(days=1)


def test_r3_call_crossing_midnight_into_a_holiday() -> None:
    # Thursday 24 Dec 2026 15:00 for 24 h: Thu 15:00–16:00 peak (3 600 s); Friday 25 Dec is
    # Christmas, so its 08:00–15:00 is off-peak: 86 400 − 3 600 = 82 800 s off-peak.
    assert CAL.split(local(2026, 12, 24, 15), DAY) == (3600, 82_800)


def test_r3_call_across_a_holiday_into_a_working_day() -> None:
    # Monday 20 Jul 2026 23:00 → Wednesday 22 Jul 09:00 (34 h = 122 400 s): Tuesday 21 Jul is
    # the national day (off-peak all day); only Wed 08:00–09:00 is peak.
    assert CAL.split(local(2026, 7, 20, 23), 34 * HOUR) == (3600, 122_400 - 3600)


def test_r3_call_crossing_midnight_into_a_weekend() -> None:
    # Friday 6 March 2026 23:59:30 for 9 h: 30 s on Friday night, then Saturday to 08:59:30;
    # Saturday 08:00–09:00 is not peak.
    assert CAL.split(local(2026, 3, 6, 23, 59, 30), 9 * HOUR) == (0, 9 * HOUR)
    # Sunday 8 March 23:59:30 for 8 h 1 min: Monday 00:00–07:59:59 is off-peak and
    # 08:00:00–08:00:29 is peak → 30 s peak.
    assert CAL.split(local(2026, 3, 8, 23, 59, 30), 8 * HOUR + 60) == (30, 8 * HOUR + 30)


# ----------------------------------------------------------------- R3 extra off-peak dates


def test_r3_no_extra_offpeak_dates_by_default() -> None:
    assert TARIFF.bands.extra_offpeak_dates == frozenset()


def test_r3_extra_offpeak_date_from_tariff_data() -> None:
    # A replacement day: Wednesday 4 March 2026 declared off-peak in the tariff data.
    bands = replace(TARIFF.bands, extra_offpeak_dates=frozenset({date(2026, 3, 4)}))
    tariff = replace(TARIFF, bands=bands)
    cal = BandCalendar(tariff.bands, tariff.timezone)
    assert not cal.is_peak(local(2026, 3, 4, 12))
    assert cal.split(local(2026, 3, 4), DAY) == (0, DAY)
    # The days around it are untouched.
    assert cal.is_peak(local(2026, 3, 3, 12))
    assert cal.is_peak(local(2026, 3, 5, 12))
    # A call from Tue 15:00 to Thu 09:00 (42 h): Tue 15–16 peak, Wed none, Thu 08–09 peak.
    assert cal.split(local(2026, 3, 3, 15), 42 * HOUR) == (2 * HOUR, 40 * HOUR)
    # The shipped calendar still has Wednesday as a working day.
    assert CAL.split(local(2026, 3, 3, 15), 42 * HOUR) == (10 * HOUR, 32 * HOUR)


# ----------------------------------------------------------------- R3 daylight saving

# 2026: summer time starts Sunday 29 March (01:00 UTC, 02:00 CET → 03:00 CEST) and ends
# Sunday 25 October (01:00 UTC, 03:00 CEST → 02:00 CET). CET = UTC+1, CEST = UTC+2.


@pytest.mark.parametrize(
    ("when", "peak"),
    [
        # Friday 27 March 2026, winter time: 07:00 UTC = 08:00 local.
        (utc(2026, 3, 27, 6, 59, 59), False),  # 07:59:59 CET
        (utc(2026, 3, 27, 7, 0, 0), True),  # 08:00:00 CET
        (utc(2026, 3, 27, 14, 59, 59), True),  # 15:59:59 CET
        (utc(2026, 3, 27, 15, 0, 0), False),  # 16:00:00 CET
        # Monday 30 March 2026, summer time: 07:00 UTC = 09:00 local; 06:00 UTC = 08:00.
        (utc(2026, 3, 30, 5, 59, 59), False),  # 07:59:59 CEST
        (utc(2026, 3, 30, 6, 0, 0), True),  # 08:00:00 CEST
        (utc(2026, 3, 30, 7, 0, 0), True),  # 09:00:00 CEST
        (utc(2026, 3, 30, 13, 59, 59), True),  # 15:59:59 CEST
        (utc(2026, 3, 30, 14, 0, 0), False),  # 16:00:00 CEST
        (utc(2026, 3, 30, 14, 30, 0), False),  # 16:30 CEST (would be 15:30 in winter)
        # Friday 23 October 2026, summer time.
        (utc(2026, 10, 23, 5, 59, 59), False),  # 07:59:59 CEST
        (utc(2026, 10, 23, 6, 0, 0), True),  # 08:00:00 CEST
        (utc(2026, 10, 23, 13, 59, 59), True),  # 15:59:59 CEST
        (utc(2026, 10, 23, 14, 0, 0), False),  # 16:00:00 CEST
        # Monday 26 October 2026, winter time again: 06:00 UTC = 07:00 local.
        (utc(2026, 10, 26, 6, 0, 0), False),  # 07:00 CET
        (utc(2026, 10, 26, 6, 59, 59), False),  # 07:59:59 CET
        (utc(2026, 10, 26, 7, 0, 0), True),  # 08:00:00 CET
        (utc(2026, 10, 26, 14, 30, 0), True),  # 15:30 CET (would be 16:30 in summer)
        (utc(2026, 10, 26, 14, 59, 59), True),  # 15:59:59 CET
        (utc(2026, 10, 26, 15, 0, 0), False),  # 16:00:00 CET
    ],
)
def test_r3_daylight_saving_weeks_given_in_utc(when: datetime, peak: bool) -> None:
    assert CAL.is_peak(when) is peak


@pytest.mark.parametrize(
    "answered",
    [
        utc(2026, 3, 27, 6, 59, 30),  # 07:59:30 CET
        utc(2026, 3, 30, 5, 59, 30),  # 07:59:30 CEST
        utc(2026, 10, 23, 5, 59, 30),  # 07:59:30 CEST
        utc(2026, 10, 26, 6, 59, 30),  # 07:59:30 CET
        utc(2026, 3, 30, 13, 59, 30),  # 15:59:30 CEST
        utc(2026, 10, 26, 14, 59, 30),  # 15:59:30 CET
    ],
)
def test_r3_daylight_saving_split_given_in_utc(answered: datetime) -> None:
    assert CAL.split(answered, 60) == (30, 30)


def test_r3_call_over_the_spring_forward_jump() -> None:
    # Answered 01:59:30 CET on Sunday 29 March 2026 (00:59:30 UTC) for 60 real seconds: the
    # clock jumps 02:00 → 03:00, so it ends 03:00:30 CEST (01:00:30 UTC). Sunday: off-peak.
    answered = local(2026, 3, 29, 1, 59, 30)
    assert answered.astimezone(UTC) == utc(2026, 3, 29, 0, 59, 30)
    assert CAL.split(answered, 60) == (0, 60)
    # Sunday 00:00 local (Sat 23:00 UTC) → Monday 08:00 CEST (Mon 06:00 UTC) is 32 h of
    # wall clock but 31 h (111 600 s) of real time: a call of 111 600 + 60 s has its last
    # 60 seconds in Monday's peak.
    start = local(2026, 3, 29)
    assert CAL.split(start, 111_600 + 60) == (60, 111_600)
    assert CAL.split(start, 111_600) == (0, 111_600)


def test_r3_call_over_the_autumn_repeat() -> None:
    # 03:00 CEST → 02:00 CET on Sunday 25 October 2026: 02:00–02:59 happens twice.
    first = datetime(2026, 10, 25, 2, 30, tzinfo=BRU, fold=0)  # 00:30 UTC, CEST
    second = datetime(2026, 10, 25, 2, 30, tzinfo=BRU, fold=1)  # 01:30 UTC, CET
    assert first.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    assert second.astimezone(UTC) == utc(2026, 10, 25, 1, 30)
    # A call from the first 02:30 to the second 02:30 lasts 3 600 real seconds.
    assert CAL.split(first, 3600) == (0, 3600)
    # Sunday 00:00 CEST (Sat 22:00 UTC) → Monday 08:00 CET (Mon 07:00 UTC) is 32 h of wall
    # clock but 33 h (118 800 s) of real time.
    start = local(2026, 10, 25)
    assert CAL.split(start, 118_800 + 60) == (60, 118_800)
    assert CAL.split(start, 118_800) == (0, 118_800)


def test_r3_week_long_calls_across_daylight_saving_changes() -> None:
    # Monday 23 March 2026 00:00 CET (22 Mar 23:00 UTC) → Monday 30 March 08:00 CEST
    # (30 Mar 06:00 UTC) = 7 d 7 h = 630 000 s; peak = Mon–Fri × 8 h = 144 000 s.
    assert CAL.split(local(2026, 3, 23), 630_000 + 60) == (144_000 + 60, 630_000 - 144_000)
    # Monday 19 October 2026 00:00 CEST (18 Oct 22:00 UTC) → Monday 26 October 08:00 CET
    # (26 Oct 07:00 UTC) = 7 d 9 h = 637 200 s.
    assert CAL.split(local(2026, 10, 19), 637_200 + 60) == (144_000 + 60, 637_200 - 144_000)


# ----------------------------------------------------------------- R3 very long calls


def test_r3_week_long_call() -> None:
    # Monday 2 March 2026 00:00 for 7 days: 5 working days × 28 800 s peak.
    assert CAL.split(local(2026, 3, 2), 7 * DAY) == (5 * PEAK_DAY, 7 * DAY - 5 * PEAK_DAY)


def test_r3_month_long_call() -> None:
    # June 2026 (no holiday, no clock change): 22 weekdays (Mon 1 → Tue 30).
    assert CAL.split(local(2026, 6, 1), 30 * DAY) == (22 * PEAK_DAY, 30 * DAY - 22 * PEAK_DAY)


def test_r3_year_long_call() -> None:
    # 2026: 261 weekdays (starts on a Thursday, 52 weeks + 1 day), minus the 8 legal holidays
    # on weekdays (1 Jan, 6 Apr, 1 May, 14 May, 25 May, 21 Jul, 11 Nov, 25 Dec; 15 Aug is a
    # Saturday, 1 Nov a Sunday) = 253 peak days. The two clock changes cancel: 365 × 86 400 s.
    seconds = int((local(2027, 1, 1) - local(2026, 1, 1)).total_seconds())
    assert seconds == 365 * DAY
    assert CAL.split(local(2026, 1, 1), 365 * DAY) == (253 * PEAK_DAY, 365 * DAY - 253 * PEAK_DAY)
