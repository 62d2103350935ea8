"""The one place that turns core dataclasses into rows and rows back into dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callctl.core.lines import Address, Line
from callctl.core.rating import Usage
from callctl.core.records import CallKey, CallRecord
from callctl.store.models import CallRecordRow, LineRow, UsageRow


def line_values(line: Line) -> dict[str, Any]:
    """Column values of a line (``lines`` table), without ids and timestamps."""
    address = line.install_address
    return {
        "number": line.number,
        "product": line.product,
        "options": list(line.options),
        "install_street": address.street if address else None,
        "install_postal_code": address.postal_code if address else None,
        "install_city": address.city if address else None,
        "site_networks": list(line.site_networks),
        "licences": list(line.licences),
        "paused": line.paused,
    }


def line_from_row(row: LineRow) -> Line:
    """The core line of a ``lines`` row; no address unless all three parts are set."""
    address = None
    if (
        row.install_street is not None
        and row.install_postal_code is not None
        and row.install_city is not None
    ):
        address = Address(row.install_street, row.install_postal_code, row.install_city)
    return Line(
        number=row.number,
        product=row.product,
        options=tuple(row.options),
        install_address=address,
        site_networks=tuple(row.site_networks),
        licences=tuple(row.licences),
        paused=row.paused,
    )


def usage_from_row(row: UsageRow | None, period: str) -> Usage:
    """The counters of a ``usage`` row; zero counters for a period without a row."""
    if row is None:
        return Usage(period)
    return Usage(row.period, row.bundle_seconds, row.fair_use_seconds)


def record_values(record: CallRecord) -> dict[str, Any]:
    """Column values of a record (``call_records`` table), without id and timestamp."""
    return {
        "host": record.key.host,
        "call_id": record.key.call_id,
        "line": record.line,
        "dialled": record.dialled,
        "e164": record.e164,
        "group": record.group,
        "country": record.country,
        "clir": record.clir,
        "action": record.action,
        "target": record.target,
        "sip_code": record.sip_code,
        "reason": record.reason,
        "decided_at": record.decided_at,
        "answered_at": record.answered_at,
        "ended_at": record.ended_at,
        "billsec": record.billsec,
        "disposition": record.disposition,
        "hangup_cause": record.hangup_cause,
        "period": record.period,
        "peak_seconds": record.peak_seconds,
        "offpeak_seconds": record.offpeak_seconds,
        "bundle_seconds": record.bundle_seconds,
        "fair_use_seconds": record.fair_use_seconds,
        "charged_seconds": record.charged_seconds,
        "setup_fee": record.setup_fee,
        "per_call_fee": record.per_call_fee,
        "amount": record.amount,
        "tariff_id": record.tariff_id,
        "location_source": record.location_source,
        "location_trusted": record.location_trusted,
        "location_province": record.location_province,
        "location_reasons": list(record.location_reasons),
        "source": record.source,
        "alert": record.alert,
    }


def record_to_row(record: CallRecord) -> CallRecordRow:
    """A new ``call_records`` row holding every field of ``record``."""
    return CallRecordRow(**record_values(record))


_RECORD_COLUMNS = tuple(c.name for c in CallRecordRow.__table__.columns)


def record_from_row(row: CallRecordRow) -> CallRecord:
    """The core record of a ``call_records`` row (times aware UTC, money Decimal)."""
    return record_from_columns({name: getattr(row, name) for name in _RECORD_COLUMNS})


def record_from_columns(v: Mapping[str, Any]) -> CallRecord:
    """The core record of a ``call_records`` row read as a mapping of column values (Core)."""
    return CallRecord(
        key=CallKey(v["host"], v["call_id"]),
        line=v["line"],
        dialled=v["dialled"],
        e164=v["e164"],
        group=v["group"],
        country=v["country"],
        clir=v["clir"],
        action=v["action"],
        target=v["target"],
        sip_code=v["sip_code"],
        reason=v["reason"],
        decided_at=v["decided_at"],
        answered_at=v["answered_at"],
        ended_at=v["ended_at"],
        billsec=v["billsec"],
        disposition=v["disposition"],
        hangup_cause=v["hangup_cause"],
        period=v["period"],
        peak_seconds=v["peak_seconds"],
        offpeak_seconds=v["offpeak_seconds"],
        bundle_seconds=v["bundle_seconds"],
        fair_use_seconds=v["fair_use_seconds"],
        charged_seconds=v["charged_seconds"],
        setup_fee=v["setup_fee"],
        per_call_fee=v["per_call_fee"],
        amount=v["amount"],
        tariff_id=v["tariff_id"],
        location_source=v["location_source"],
        location_trusted=v["location_trusted"],
        location_province=v["location_province"],
        location_reasons=tuple(v["location_reasons"]),
        source=v["source"],
        alert=v["alert"],
    )
