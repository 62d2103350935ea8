"""R3's ten Belgian legal holidays computed from the calendar, independent of `holidays`."""

from __future__ import annotations

from datetime import date, timedelta


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm), independent of `holidays`."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * el) // 433
    month = (h + el - 7 * m + 90) // 25
    return date(year, month, (h + el - 7 * m + 33 * month + 19) % 32)


def legal_holidays(year: int) -> dict[str, date]:
    """R3's 10 legal holidays, computed from the calendar (not from the package)."""
    e = easter(year)
    return {
        "new_year": date(year, 1, 1),
        "easter_monday": e + timedelta(days=1),
        "labour_day": date(year, 5, 1),
        "ascension": e + timedelta(days=39),
        "whit_monday": e + timedelta(days=50),
        "national_day": date(year, 7, 21),
        "assumption": date(year, 8, 15),
        "all_saints": date(year, 11, 1),
        "armistice": date(year, 11, 11),
        "christmas": date(year, 12, 25),
    }
