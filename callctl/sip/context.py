"""From a SIP request to what the core's location rules read (R9): a :class:`DeviceContext`.

Used by both entries of the same decision code: ``callctl route`` on a captured INVITE, and
the live controller, which rebuilds a request from the headers the dialplan passes. A
header or location that cannot be read makes the location untrusted, never the call fail.
"""

from __future__ import annotations

from callctl.core.location import DeviceContext, ReportedLocation
from callctl.sip.message import (
    AccessNetworkInfo,
    Geolocation,
    Headers,
    SipParseError,
    SipRequest,
    access_network_info,
    device_type,
    find_part,
    geolocation,
    pidf_part,
    source_host,
)
from callctl.sip.pidf import LocationError, parse_pidf


def request_from_headers(
    headers: dict[str, str], body: bytes = b"", content_type: str | None = None
) -> SipRequest:
    """A request holding only the given headers (what the PBX passed on), for the readers."""
    fields = [(name, value) for name, value in headers.items() if value]
    if content_type:
        fields.append(("Content-Type", content_type))
    return SipRequest("INVITE", "sip:callctl@invalid", Headers(tuple(fields)), body)


def _location(
    request: SipRequest, refs: tuple[str, ...]
) -> tuple[ReportedLocation | None, str | None]:
    try:
        part = next((p for ref in refs if (p := find_part(request, ref)) is not None), None)
        part = part or pidf_part(request)
    except SipParseError as exc:
        return None, str(exc)
    if part is None:
        return None, None
    try:
        loc = parse_pidf(part.body)
    except LocationError as exc:
        return None, str(exc)
    return ReportedLocation(
        loc.kind, loc.latitude, loc.longitude, loc.country, loc.postal_code
    ), None


def device_context(request: SipRequest, source: str | None = None) -> DeviceContext:
    """What the request says about the device; ``source`` overrides the Via's address."""
    errors: list[str] = []
    geo: Geolocation | None = None
    pani: AccessNetworkInfo | None = None
    try:
        geo = geolocation(request)
    except SipParseError as exc:
        errors.append(f"Geolocation header: {exc}")
    try:
        pani = access_network_info(request)
    except SipParseError as exc:
        errors.append(f"P-Access-Network-Info: {exc}")
    try:
        via_source = source_host(request)
    except SipParseError:
        via_source = None
    location, error = _location(request, geo.cid_refs if geo else ())
    if error:
        errors.append(error)
    return DeviceContext(
        device_type=device_type(request),
        source_address=source or via_source,
        access_type=pani.access_type if pani else None,
        mcc=pani.mcc if pani else None,
        geolocation=geo is not None and bool(geo.cid_refs),
        geolocation_routing=geo.routing_allowed if geo else False,
        location=location,
        location_error="; ".join(errors) or None,
    )
