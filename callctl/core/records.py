"""Rule R10: the call record, one per call attempt, as the core hands it to the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class CallKey:
    """R10: a call is identified by the PBX's call id and host."""

    host: str
    call_id: str


@dataclass(frozen=True, slots=True)
class CallRecord:
    """Everything R10 asks a record to hold. Money is Decimal, times are aware."""

    key: CallKey
    line: str  # the calling line's E.164 number
    dialled: str  # as typed
    e164: str | None
    group: str
    country: str | None
    clir: bool
    action: str  # route | refuse
    target: str | None  # trunk reached (carrier, psap-112-…), None when refused
    sip_code: int | None  # refusal code (484, 403, 486, 503), None when routed
    reason: str | None  # why refused, or why the call is flagged
    decided_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    billsec: int = 0
    disposition: str = "NO ANSWER"  # ANSWERED | NO ANSWER | BUSY | FAILED | REFUSED
    hangup_cause: int | None = None
    period: str | None = None
    peak_seconds: int = 0
    offpeak_seconds: int = 0
    bundle_seconds: int = 0
    fair_use_seconds: int = 0
    charged_seconds: int = 0
    setup_fee: Decimal = Decimal("0.0000")
    per_call_fee: Decimal = Decimal("0.0000")
    amount: Decimal = Decimal("0.0000")
    tariff_id: str = ""
    location_source: str | None = None  # site | device | declared_address (emergency only)
    location_trusted: bool | None = None
    location_province: str | None = None  # R9: the province whose centres were called
    location_reasons: tuple[str, ...] = field(default=())
    source: str = "live"  # live | reconcile | replay (offline, never stored)
    alert: str | None = None  # a fraud guard refusal's alert kind (docs/security.md)
