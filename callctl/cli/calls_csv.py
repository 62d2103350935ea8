"""Reading a CSV of one line's calls (``answered_at``, ``billsec``, ``dialled``) for rating.

Every row is checked before anything is rated, so a bad file fails whole with the row and
the reason, and never yields partial output that looks complete.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

REQUIRED_COLUMNS = ("answered_at", "billsec", "dialled")
_BILLSEC = re.compile(r"[0-9]{1,9}")
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
"""A call is rated only between these instants: the rater looks at the local days around it,
and ``datetime`` ends with the years 1 and 9999."""


class CallsFileError(ValueError):
    """The file, or one of its rows, cannot be read; the message names it."""


@dataclass(frozen=True, slots=True)
class CallRow:
    row: int  # 1 = the first data row
    answered_at: datetime  # aware
    billsec: int
    dialled: str


def parse_local_time(text: str, tz: ZoneInfo) -> datetime:
    """ISO 8601; without an offset the time is local to ``tz`` and must exist exactly once."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    if value.tzinfo is not None:
        return value
    first = value.replace(tzinfo=tz, fold=0)
    try:
        back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None
    if back != value:
        raise ValueError(f"{text!r} does not exist in {tz.key} (clock change)")
    if first.utcoffset() != value.replace(tzinfo=tz, fold=1).utcoffset():
        raise ValueError(f"{text!r} happens twice in {tz.key} (clock change): add the UTC offset")
    return first


def read_calls(path: str | Path, tz: ZoneInfo) -> list[CallRow]:
    """All rows of a calls CSV, or :class:`CallsFileError` naming the first bad one."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return read_calls_from(handle, str(path), tz)
    except OSError as exc:
        raise CallsFileError(f"cannot read {path}: {exc.strerror}") from None


def read_calls_from(handle: TextIO, name: str, tz: ZoneInfo) -> list[CallRow]:
    """All rows of a calls CSV read from ``handle`` (opened with ``newline=""``); ``name``
    names it in messages. :class:`CallsFileError` names the first bad row."""
    try:
        return _read(csv.DictReader(handle), tz)
    except UnicodeDecodeError:
        raise CallsFileError(f"{name} is not UTF-8 text") from None
    except csv.Error as exc:
        raise CallsFileError(f"{name} is not a readable CSV: {exc}") from None


def _read(reader: csv.DictReader[str], tz: ZoneInfo) -> list[CallRow]:
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CallsFileError(f"the header lacks column(s) {', '.join(missing)}")
    rows = []
    for number, record in enumerate(reader, start=1):
        where = f"row {number} (line {reader.line_num})"
        values = {c: record.get(c) for c in REQUIRED_COLUMNS}
        absent = [c for c, v in values.items() if v is None]
        if absent:
            raise CallsFileError(f"{where}: no value for {', '.join(absent)}")
        answered, billsec, dialled = (str(values[c]) for c in REQUIRED_COLUMNS)
        try:
            answered_at = parse_local_time(answered, tz)
        except ValueError as exc:
            raise CallsFileError(f"{where}: answered_at {exc}") from None
        if not _BILLSEC.fullmatch(billsec.strip()):
            raise CallsFileError(
                f"{where}: billsec {billsec!r} is not a whole, non-negative number of seconds"
            )
        seconds = int(billsec.strip())  # int() strips less than str.strip() (U+001E …)
        try:
            start = answered_at.astimezone(UTC)
            outside = start < EARLIEST or start + timedelta(seconds=seconds) >= LATEST
        except OverflowError:
            outside = True
        if outside:
            raise CallsFileError(
                f"{where}: the call ({answered.strip()!r}, {seconds} s) is not between the years "
                f"{EARLIEST.year} and {LATEST.year - 1}"
            )
        rows.append(CallRow(number, answered_at, seconds, dialled))
    return rows
