"""The one place that turns core dataclasses into rows and rows back into dataclasses."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row

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
        "location_reasons": list(record.location_reasons),
        "source": record.source,
    }


def record_to_row(record: CallRecord) -> CallRecordRow:
    """A new ``call_records`` row holding every field of ``record``."""
    return CallRecordRow(**record_values(record))


def record_from_row(row: CallRecordRow | Row[Any]) -> CallRecord:
    """The core record of a ``call_records`` row, ORM or Core (times aware UTC, money Decimal)."""
    return CallRecord(
        key=CallKey(row.host, row.call_id),
        line=row.line,
        dialled=row.dialled,
        e164=row.e164,
        group=row.group,
        country=row.country,
        clir=row.clir,
        action=row.action,
        target=row.target,
        sip_code=row.sip_code,
        reason=row.reason,
        decided_at=row.decided_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        billsec=row.billsec,
        disposition=row.disposition,
        hangup_cause=row.hangup_cause,
        period=row.period,
        peak_seconds=row.peak_seconds,
        offpeak_seconds=row.offpeak_seconds,
        bundle_seconds=row.bundle_seconds,
        fair_use_seconds=row.fair_use_seconds,
        charged_seconds=row.charged_seconds,
        setup_fee=row.setup_fee,
        per_call_fee=row.per_call_fee,
        amount=row.amount,
        tariff_id=row.tariff_id,
        location_source=row.location_source,
        location_trusted=row.location_trusted,
        location_reasons=tuple(row.location_reasons),
        source=row.source,
    )
