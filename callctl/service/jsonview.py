"""Calls and records as JSON objects (for the live stream and the dashboard's endpoints).

Money is a string with four decimals (R8: never a float), times are ISO 8601 in UTC, and a
call is named ``"<host>/<call id>"`` (R10's key) everywhere.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from callctl.core.fraud import AuthAlert
from callctl.core.records import CallKey, CallRecord
from callctl.service.observer import ActiveCall, location_trust, outcome

JsonObject = dict[str, Any]


def call_name(key: CallKey) -> str:
    return f"{key.host}/{key.call_id}"


def _value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def record_json(record: CallRecord) -> JsonObject:
    """Every field of the record (R10), with ``call`` for its key."""
    out: JsonObject = {"call": call_name(record.key)}
    for f in fields(record):
        if f.name != "key":
            out[f.name] = _value(getattr(record, f.name))
    return out


def call_json(call: ActiveCall) -> JsonObject:
    """A decided call: what was dialled, what callctl decided, and why."""
    d = call.decision
    c = d.classification
    out: JsonObject = {
        "call": call_name(call.key),
        "line": call.line,
        "dialled": call.dialled,
        "endpoint": call.endpoint,
        "group": c.group,
        "e164": c.e164,
        "country": c.country,
        "outcome": outcome(d),
        "decided_at": call.decided_at.isoformat(),
    }
    if d.routed:
        out.update(trunk=d.trunk, limit_seconds=d.limit_seconds)
    else:
        out.update(sip_code=d.sip_code, refusal=d.refusal, reason=d.reason)
    if c.group == "emergency":
        out["location"] = location_trust(d)
        if d.location is not None:
            out["location_source"] = d.location.source
    return out


def call_alert_json(call: ActiveCall) -> JsonObject:
    """A fraud guard alert raised by a refused call (``alert.fraud``)."""
    d = call.decision
    return {
        "kind": d.alert,
        "call": call_name(call.key),
        "line": call.line,
        "dialled": call.dialled,
        "e164": d.classification.e164,
        "group": d.classification.group,
        "sip_code": d.sip_code,
        "reason": d.reason,
        "decided_at": call.decided_at.isoformat(),
    }


def auth_alert_json(alert: AuthAlert) -> JsonObject:
    """An address blocked, unblocked or noticed by the fraud guard (``alert.fraud``)."""
    return {
        "kind": alert.kind,
        "address": alert.address,
        "failures": alert.failures,
        "accounts": list(alert.accounts),
        "until": alert.until.isoformat() if alert.until else None,
        "reason": alert.reason,
        "noticed_at": alert.at.isoformat(),
    }
