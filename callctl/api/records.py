"""``/v1/records``: call records (R10) by line, period, group, disposition and time, in pages
with a cursor, and ``/v1/records.csv``: the same selection as a streamed CSV file.

Pages are keyset pages on (decided_at, id) (:mod:`callctl.store.search`): the cursor is the
position of a page's last record, so records written between two requests never shift a
page. The cursor is opaque to clients: base64url of ``{"t": <UTC time>, "i": <row id>,
"o": "asc"|"desc"}``; a cursor that does not decode, or was made for the other order, is a
400 ``bad_cursor``.

The export streams from a server-side cursor in batches (``yield_per``) into a chunked
answer, so a month of records never sits in memory. Its first columns are those of the
calls CSV that ``callctl rate`` reads (``answered_at``, ``billsec``, ``dialled``): the
answered records of one line, exported, can be rated again with ``callctl rate``.
"""

from __future__ import annotations

import base64
import binascii
import csv
import dataclasses
import io
import json
from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.routing import Route
from callctl.api.types import LOCAL, InTime, LocalTime, Number, Period, Rated
from callctl.core.money import money_text
from callctl.core.records import CallRecord
from callctl.http.errors import STREAMING, ApiError
from callctl.http.keys import CONTROLLER
from callctl.store.search import Position, RecordFilter, RecordSearch

Group = Literal[
    "emergency", "helpline", "freephone", "premium", "special", "be_fixed", "be_mobile",
    "zone", "ma_tr", "international", "invalid",
]  # fmt: skip
Disposition = Literal["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "REFUSED"]
DEFAULT_PAGE = 100
MAX_PAGE = 1000
_FIELDS = tuple(f.name for f in dataclasses.fields(CallRecord))
RATE_COLUMNS = ("answered_at", "billsec", "dialled")  # callctl rate's calls CSV
CSV_COLUMNS = (
    *RATE_COLUMNS,
    "host",
    "call_id",
    *(name for name in _FIELDS if name not in {"key", *RATE_COLUMNS}),
)


class RecordSelection(BaseModel):
    """Which records: every given parameter must match."""

    model_config = ConfigDict(extra="forbid")

    line: Number | None = Field(None, description="the calling line (E.164)")
    period: Period | None = Field(None, description="billing month YYYY-MM (R6)")
    group: Group | None = Field(None, description="destination group (R2)")
    disposition: Disposition | None = None
    since: InTime | None = Field(None, description="decided at or after (with offset)")
    until: InTime | None = Field(None, description="decided before (with offset)")

    def where(self) -> RecordFilter:
        return RecordFilter(
            line=self.line, period=self.period, group=self.group,
            disposition=self.disposition, since=self.since, until=self.until,
        )  # fmt: skip


class RecordQuery(RecordSelection):
    """A selection, one page of it."""

    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="records per page")
    cursor: str | None = Field(None, max_length=200, description="next_cursor of a page")
    order: Literal["asc", "desc"] = Field("asc", description="by decision time")


class RecordOut(Rated):
    """One call attempt (R10). Money in euros excl. VAT, times in Europe/Brussels."""

    host: str
    call_id: str
    line: str
    dialled: str = Field(description="as typed")
    e164: str | None
    group: str
    country: str | None
    clir: bool
    action: Literal["route", "refuse"]
    target: str | None = Field(description="trunk reached; none when refused")
    sip_code: int | None = Field(description="refusal code (484, 403, 486, 503)")
    reason: str | None
    decided_at: LocalTime
    answered_at: LocalTime | None
    ended_at: LocalTime | None
    billsec: int
    disposition: str
    hangup_cause: int | None
    period: str | None
    tariff_id: str
    location_source: str | None
    location_trusted: bool | None
    location_reasons: list[str]
    source: str = Field(description="live, or reconcile (rated from the CDR file)")
    alert: str | None = Field(
        None, description="fraud guard alert: high_cost_barred, velocity_calls, velocity_minutes"
    )


class RecordPage(BaseModel):
    records: list[RecordOut]
    next_cursor: str | None = Field(description="for the next page; null on the last one")


def record_out(record: CallRecord) -> RecordOut:
    values = {name: getattr(record, name) for name in _FIELDS}
    key = values.pop("key")
    return RecordOut.model_validate({**values, "host": key.host, "call_id": key.call_id})


# ---------------------------------------------------------------------------- cursor


def encode_cursor(position: Position, order: str) -> str:
    text = json.dumps({"t": position.decided_at.isoformat(), "i": position.id, "o": order})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: str) -> Position:
    """The position a cursor holds, or 400 ``bad_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        decided = datetime.fromisoformat(data["t"])
        position = Position(decided, int(data["i"]))
        given = data["o"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise ApiError("bad_cursor", "the cursor is not one this server gave") from None
    if decided.tzinfo is None or not isinstance(data["i"], int):
        raise ApiError("bad_cursor", "the cursor is not one this server gave")
    if given != order:
        raise ApiError("bad_cursor", f"the cursor was made for order={given}, not {order}")
    return position


# --------------------------------------------------------------------------- handlers


async def search_records(request: web.Request, *, query: RecordQuery) -> RecordPage:
    after = decode_cursor(query.cursor, query.order) if query.cursor else None
    search = RecordSearch(request.app[CONTROLLER].store.engine)
    page = await search.page(query.where(), query.limit, after, descending=query.order == "desc")
    return RecordPage(
        records=[record_out(r) for r in page.records],
        next_cursor=encode_cursor(page.next, query.order) if page.next else None,
    )


def _text(value: object) -> str:
    return str(value)


_CELL: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "",
    str: _text,
    int: _text,
    bool: lambda b: "true" if b else "false",
    datetime: lambda t: t.astimezone(LOCAL).isoformat(),
    Decimal: money_text,
    tuple: "; ".join,
}


def csv_cell(value: object) -> str:
    """A record field as CSV text: times local with offset, money with 4 decimals."""
    return _CELL.get(type(value), _text)(value)


def csv_row(record: CallRecord) -> list[str]:
    cells = {name: getattr(record, name) for name in _FIELDS}
    key = cells.pop("key")
    cells["host"], cells["call_id"] = key.host, key.call_id
    return [csv_cell(cells[name]) for name in CSV_COLUMNS]


async def export_records(request: web.Request, *, query: RecordSelection) -> web.StreamResponse:
    batches: AsyncGenerator[list[CallRecord], None] = RecordSearch(
        request.app[CONTROLLER].store.engine
    ).stream(query.where())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    try:
        # The first batch is read before the answer begins: a failing query is still a
        # JSON error, not a truncated file.
        batch = await anext(batches, None)
        response = web.StreamResponse(
            headers={"Content-Disposition": 'attachment; filename="callctl-records.csv"'}
        )
        response.content_type = "text/csv"
        response.charset = "utf-8"
        await response.prepare(request)
        request[STREAMING] = True
        while batch is not None:
            writer.writerows(csv_row(r) for r in batch)
            await response.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
            batch = await anext(batches, None)
        await response.write(buffer.getvalue().encode())  # the header alone: no records
        await response.write_eof()
        return response
    finally:
        await batches.aclose()


ROUTES = (
    Route(
        "GET", "/v1/records", search_records, "Call records, a page at a time", "records",
        errors=("bad_cursor",),
        description="Oldest first (order=desc: newest first). Follow next_cursor until null.",
    ),
    Route(
        "GET", "/v1/records.csv", export_records, "Call records as a CSV file (streamed)",
        "records", media_type="text/csv",
        description="Columns: " + ", ".join(CSV_COLUMNS) + ". The first three are those of "
        "the calls CSV of `callctl rate`.",
    ),
)  # fmt: skip
