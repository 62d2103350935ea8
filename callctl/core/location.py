"""Rule R9 (second part): can the caller's location be trusted for an emergency call?

Voice Pro lines are fixed lines: their installation address is their location (trusted).
A Phone2Go licence is trusted only when:
- desktop app: the call comes from the installation site (a network listed on the line);
- mobile app: (i) the device is in Belgium (Belgian MCC 206), (ii) it sends its location
  (``Geolocation`` with ``Geolocation-Routing: yes`` and a usable PIDF-LO), and (iii) it is
  on a mobile network (access type ``3GPP-…``).
Otherwise the call goes to the centre of the declared installation address, flagged
untrusted, with every failed condition as a reason. Pure: the province lookups come in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from callctl.core.emergency import EmergencyPlan
from callctl.core.lines import Line

BELGIAN_MCC = "206"
MOBILE_ACCESS_PREFIX = "3GPP-"
HOME_COUNTRY = "BE"


@dataclass(frozen=True, slots=True)
class ReportedLocation:
    """A location the device sent (PIDF-LO): geodetic coordinates or a civic address."""

    kind: str  # geodetic | civic
    lat: float | None = None
    lon: float | None = None
    country: str | None = None
    postal_code: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """What the call's SIP request says about the device and where it is."""

    device_type: str = "unknown"  # desktop | mobile | unknown
    source_address: str | None = None
    access_type: str | None = None  # e.g. 3GPP-E-UTRAN-FDD, IEEE-802.11
    mcc: str | None = None
    geolocation: bool = False  # a Geolocation header referring to a location was present
    geolocation_routing: bool = False  # Geolocation-Routing: yes
    location: ReportedLocation | None = None
    location_error: str | None = None  # why a sent location could not be used


@dataclass(frozen=True, slots=True)
class LocationVerdict:
    trusted: bool
    source: str  # site | device | declared_address
    province: str
    reasons: tuple[str, ...]


ProvinceAt = Callable[[float, float], "str | None"]


def _on_site(address: str | None, networks: tuple[str, ...]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    for net in networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


def _device_province(
    loc: ReportedLocation, plan: EmergencyPlan, province_at: ProvinceAt
) -> tuple[str | None, str | None]:
    """(province, reason it is not usable)."""
    if loc.kind == "geodetic" and loc.lat is not None and loc.lon is not None:
        province = province_at(loc.lat, loc.lon)
        if province is None:
            return None, f"the location ({loc.lat:.5f}, {loc.lon:.5f}) is not in Belgium"
        return province, None
    if loc.kind == "civic":
        if (loc.country or "").upper() != HOME_COUNTRY:
            return None, f"the civic address is not in Belgium (country {loc.country!r})"
        province = plan.province_of_postal_code(loc.postal_code or "")
        if province is None:
            return None, f"the civic address has no Belgian postal code ({loc.postal_code!r})"
        return province, None
    return None, "the location has neither coordinates nor a civic address"


def _mobile(
    ctx: DeviceContext, plan: EmergencyPlan, province_at: ProvinceAt
) -> tuple[str | None, list[str]]:
    """The three conditions of a mobile app (R9): (province, failed conditions)."""
    reasons = []
    if ctx.mcc != BELGIAN_MCC:
        reasons.append(f"not on a Belgian mobile network (MCC {ctx.mcc or 'absent'})")
    if not (ctx.access_type or "").upper().startswith(MOBILE_ACCESS_PREFIX):
        reasons.append(f"not on a mobile network (access type {ctx.access_type or 'absent'})")
    if not ctx.geolocation:
        reasons.append("no location sent (no Geolocation header)")
    elif not ctx.geolocation_routing:
        reasons.append("Geolocation-Routing is not 'yes'")
    province = None
    if ctx.location_error:
        reasons.append(f"the location cannot be used: {ctx.location_error}")
    elif ctx.location is not None:
        province, why = _device_province(ctx.location, plan, province_at)
        if why:
            reasons.append(why)
    elif ctx.geolocation:
        reasons.append("no location document in the request")
    return province, reasons


def assess_location(
    line: Line | None,
    ctx: DeviceContext,
    plan: EmergencyPlan,
    province_at: ProvinceAt,
) -> LocationVerdict:
    """Where an emergency call comes from, and whether that can be trusted (R9)."""
    declared = plan.centres_for_address(line.install_address if line else None).province
    if line is None:
        return LocationVerdict(False, "declared_address", declared, ("the line is unknown",))
    if line.product != "phone2go":
        why = "a fixed line: its installation address"
        return LocationVerdict(True, "declared_address", declared, (why,))
    if ctx.device_type == "desktop":
        if _on_site(ctx.source_address, line.site_networks):
            why = f"desktop app on the site's network ({ctx.source_address})"
            return LocationVerdict(True, "site", declared, (why,))
        reasons = [f"desktop app not on the site's networks (from {ctx.source_address})"]
    elif ctx.device_type == "mobile":
        province, reasons = _mobile(ctx, plan, province_at)
        if not reasons and province is not None:
            why = "mobile app in Belgium on a mobile network, with its location"
            return LocationVerdict(True, "device", province, (why,))
    else:
        reasons = ["device type unknown (no X-Device-Type: desktop|mobile)"]
    return LocationVerdict(False, "declared_address", declared, tuple(reasons))
