"""Rule R3: peak and off-peak in Europe/Brussels, and the per-second split of a call.

Second k of a call starts at answer time + k seconds and is rated in the band in force at
that instant. The split walks band boundaries (local midnight, peak start, peak end), not
seconds, so a call costs a few steps whatever its length. Boundaries are computed in local
wall time and compared in UTC, so daylight-saving days are exact.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from callctl.core.tariff import BandRules

_MICRO = timedelta(microseconds=1)
_US_PER_S = 1_000_000


class BandCalendar:
    """Answers "is this instant peak?" and splits calls, for one tariff's band rules."""

    def __init__(self, rules: BandRules, timezone: str) -> None:
        self.rules = rules
        self.tz = ZoneInfo(timezone)
        self._holidays = holidays.country_holidays(rules.holidays_country)
        self.is_peak_day = lru_cache(maxsize=4096)(self._is_peak_day)

    def _is_peak_day(self, day: date) -> bool:
        return (
            day.weekday() in self.rules.peak_weekdays
            and day not in self.rules.extra_offpeak_dates
            and day not in self._holidays
        )

    def local(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            raise ValueError("a naive time has no instant: give a timezone")
        return instant.astimezone(self.tz)

    def is_peak(self, instant: datetime) -> bool:
        local = self.local(instant)
        return self.is_peak_day(local.date()) and (
            self.rules.peak_start <= local.time().replace(tzinfo=None) < self.rules.peak_end
        )

    def _next_boundary(self, local: datetime) -> tuple[bool, datetime]:
        """The band in force at ``local`` and the UTC instant where it may change."""
        day = local.date()
        wall = local.time().replace(tzinfo=None)
        if self.is_peak_day(day):
            if wall < self.rules.peak_start:
                return False, self._utc(day, self.rules.peak_start)
            if wall < self.rules.peak_end:
                return True, self._utc(day, self.rules.peak_end)
        return False, self._utc(day + timedelta(days=1), time(0))

    def _utc(self, day: date, wall: time) -> datetime:
        return datetime.combine(day, wall, tzinfo=self.tz).astimezone(UTC)

    def split(self, answered_at: datetime, seconds: int) -> tuple[int, int]:
        """(peak, off-peak) seconds of a call of ``seconds`` answered at ``answered_at``."""
        if seconds < 0:
            raise ValueError("a call cannot last a negative number of seconds")
        start = self.local(answered_at).astimezone(UTC)
        peak = offpeak = 0
        done = 0
        while done < seconds:
            instant = start + timedelta(seconds=done)
            in_peak, boundary = self._next_boundary(instant.astimezone(self.tz))
            # seconds k with start + k < boundary: k < ceil((boundary - start) / 1 s)
            until = -(-((boundary - start) // _MICRO) // _US_PER_S)
            count = min(seconds, until) - done
            if in_peak:
                peak += count
            else:
                offpeak += count
            done += count
        return peak, offpeak
