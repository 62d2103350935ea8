"""Pydantic field types shared by the API's models: times, money, numbers, periods.

Times are read with an offset (a ``+`` that a query string turned into a space is put
back) and written in Europe/Brussels with their offset; money is written as text with its
decimals (``"12.3400"``); line numbers are read in any E.164 spelling and kept in E.164.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from callctl.core.money import money_text
from callctl.store.lines_yaml import e164

LOCAL = ZoneInfo("Europe/Brussels")  # R3, R6: the tariff's time zone
FIRST_YEAR, LAST_YEAR = 1970, 2999
PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_NUMBER = re.compile(r"^\s*[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?\s*$")
_SPACED_OFFSET = re.compile(r"^(.*T[0-9:.]+) ([0-9]{2}(:?[0-9]{2})?)$")


def _not_a_number(value: Any) -> Any:
    """Refuse a number for a time: pydantic would read ``0.0`` as a Unix time, which the
    schema (an ISO 8601 string) does not promise."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("a time is ISO 8601 text with an offset, not a number")
    return value


def _restore_plus(value: Any) -> Any:
    """A query string's '+' reads as a space: put it back where only '+' makes sense."""
    if isinstance(value, str):
        if value.startswith(" ") and value[1:2].isdigit():
            return "+" + value[1:]
        spaced = _SPACED_OFFSET.match(value)
        if spaced:
            return f"{spaced.group(1)}+{spaced.group(2)}"
    return value


def _in_range(value: datetime) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"the year must be from {FIRST_YEAR} to {LAST_YEAR}")
    return value


def _e164(value: str) -> str:
    return e164(value)


def _local_text(value: datetime) -> str:
    return value.astimezone(LOCAL).isoformat()


InTime = Annotated[
    AwareDatetime,
    BeforeValidator(_restore_plus),
    BeforeValidator(_not_a_number),
    AfterValidator(_in_range),
    Field(description="ISO 8601 with a UTC offset, e.g. 2026-03-01T00:00:00+01:00"),
]
"""A time given by a client: ISO 8601 with its offset (``Z`` or ``+01:00``)."""

LocalTime = Annotated[
    datetime,
    PlainSerializer(_local_text, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A time in an answer: ISO 8601 in Europe/Brussels with its offset."""

Money = Annotated[
    Decimal,
    PlainSerializer(money_text, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{4}$", "examples": ["0.5800"]},
        mode="serialization",
    ),
]
"""An amount in euros excl. VAT to the ten-thousandth (R8), written as text."""

MoneyText = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]+$", examples=["27.06"])]
"""An amount already written as text (a statement's cents, a fee)."""

Number = Annotated[
    str,
    BeforeValidator(_restore_plus),
    Field(min_length=1, max_length=64, examples=["+3222345601"]),
    AfterValidator(_e164),
]
"""A line's number in E.164 (spaces, dots and dashes allowed; stored without them)."""

Period = Annotated[
    str,
    Field(pattern=PERIOD_PATTERN, description="a billing month YYYY-MM (R6)", examples=["2026-03"]),
]


class Rated(BaseModel):
    """What rating a call gives (R3-R8), in a record (R10) or a quote."""

    peak_seconds: int
    offpeak_seconds: int
    bundle_seconds: int = Field(description="drawn from the zone bundle (R6)")
    fair_use_seconds: int = Field(description="given free by an allowance (R7)")
    charged_seconds: int
    setup_fee: Money
    per_call_fee: Money
    amount: Money = Field(description="euros excl. VAT, 4 decimals (R8)")
