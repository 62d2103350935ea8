"""Reading a CSV of one line's calls (``answered_at``, ``billsec``, ``dialled``) for rating.

Every row is checked before anything is rated, so a bad file fails whole with the row and
the reason, and never yields partial output that looks complete.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REQUIRED_COLUMNS = ("answered_at", "billsec", "dialled")
_BILLSEC = re.compile(r"[0-9]{1,9}")


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
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != value:
        raise ValueError(f"{text!r} does not exist in {tz.key} (clock change)")
    if first.utcoffset() != value.replace(tzinfo=tz, fold=1).utcoffset():
        raise ValueError(f"{text!r} happens twice in {tz.key} (clock change): add the UTC offset")
    return first


def read_calls(path: str | Path, tz: ZoneInfo) -> list[CallRow]:
    """All rows of a calls CSV, or :class:`CallsFileError` naming the first bad one."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return _read(csv.DictReader(handle), tz)
    except OSError as exc:
        raise CallsFileError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CallsFileError(f"{path} is not UTF-8 text") from None
    except csv.Error as exc:
        raise CallsFileError(f"{path} is not a readable CSV: {exc}") from None


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
        rows.append(CallRow(number, answered_at, int(billsec), dialled))
    return rows
