"""From a SIP request to what the core's location rules read (R9): a :class:`DeviceContext`.

Used by both entries of the same decision code: ``callctl route`` on a captured INVITE, and
the live controller, which rebuilds a request from the headers the dialplan passes. A
header or location that cannot be read makes the location untrusted, never the call fail.
"""

from __future__ import annotations

from dataclasses import replace

from callctl.core.location import DeviceContext, ReportedLocation
from callctl.sip.eprofile import location_from_profile
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
from callctl.sip.pidf import Location, LocationError, parse_pidf


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
        return reported(parse_pidf(part.body)), None
    except LocationError as exc:
        return None, str(exc)


def reported(location: Location) -> ReportedLocation:
    """What R9 routes on, from a location read from a document or from the PBX."""
    return ReportedLocation(
        location.kind, location.latitude, location.longitude, location.country,
        location.postal_code,
    )  # fmt: skip


def device_context(
    request: SipRequest, source: str | None = None, *, read_body: bool = True
) -> DeviceContext:
    """What the request says about the device; ``source`` overrides the Via's address.

    ``read_body=False`` leaves the location out (the PBX read it: see ``pbx_device_context``).
    """
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
    location, error = _location(request, geo.cid_refs if geo else ()) if read_body else (None, None)
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


NO_DOCUMENT_READ = (
    "the PBX read no location document for the Geolocation header (none in the body, or "
    "one res_pjsip_geolocation could not parse)"
)


def pbx_device_context(
    headers: dict[str, str], source: str | None, profile_format: str, profile_info: str
) -> DeviceContext:
    """Live: the headers the dialplan passed, with the location Asterisk read from the body.

    ``profile_format`` and ``profile_info`` are ``GEOLOC_PROFILE(format)`` and
    ``GEOLOC_PROFILE(location_info)``: empty when Asterisk found no usable location.
    """
    ctx = device_context(request_from_headers(headers), source=source, read_body=False)
    if profile_format:
        try:
            location = location_from_profile(profile_format, profile_info)
        except LocationError as exc:
            errors = "; ".join(e for e in (ctx.location_error, str(exc)) if e)
            return replace(ctx, location=None, location_error=errors)
        return replace(ctx, location=reported(location), location_error=ctx.location_error)
    if ctx.geolocation:
        errors = "; ".join(e for e in (ctx.location_error, NO_DOCUMENT_READ) if e)
        return replace(ctx, location_error=errors)
    return ctx
