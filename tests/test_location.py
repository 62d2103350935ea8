"""Location trust for emergency calls (R9): each condition alone and combined."""

from __future__ import annotations

from dataclasses import replace

import pytest

from callctl.core.lines import Address, Line
from callctl.core.location import DeviceContext, ReportedLocation, assess_location
from callctl.data import default_emergency_plan
from callctl.data.geo import default_provinces

PLAN = default_emergency_plan()
PROVINCES = default_provinces()
LIEGE = Address("Place Saint-Lambert 18", "4000", "Liège")
P2G = Line("+3242000004", "phone2go", install_address=LIEGE, site_networks=("203.0.113.0/24",))
CLASSIC = Line("+3222000001", "classic", install_address=Address("Rue de la Loi 16", "1000", "Bxl"))

GRAND_PLACE = ReportedLocation("geodetic", lat=50.8467, lon=4.3525)
ZAVENTEM = ReportedLocation("geodetic", lat=50.8837, lon=4.4718)
LILLE = ReportedLocation("geodetic", lat=50.6292, lon=3.0573)
GOOD_MOBILE = DeviceContext(
    device_type="mobile",
    source_address="198.51.100.7",
    access_type="3GPP-E-UTRAN-FDD",
    mcc="206",
    geolocation=True,
    geolocation_routing=True,
    location=GRAND_PLACE,
)


def assess(line: Line | None, ctx: DeviceContext) -> tuple[bool, str, str, tuple[str, ...]]:
    v = assess_location(line, ctx, PLAN, PROVINCES.province_at)
    return v.trusted, v.source, v.province, v.reasons


def test_voice_pro_line_is_its_installation_address() -> None:
    trusted, source, province, _ = assess(CLASSIC, DeviceContext())
    assert (trusted, source, province) == (True, "declared_address", "brussels")


def test_desktop_on_site_is_trusted_at_the_installation_address() -> None:
    ctx = DeviceContext(device_type="desktop", source_address="203.0.113.9")
    assert assess(P2G, ctx)[:3] == (True, "site", "liege")


def test_desktop_off_site_is_untrusted_with_a_reason() -> None:
    ctx = DeviceContext(device_type="desktop", source_address="192.0.2.1")
    trusted, source, province, reasons = assess(P2G, ctx)
    assert (trusted, source, province) == (False, "declared_address", "liege")
    assert any("not on the site's networks" in r for r in reasons)


def test_mobile_with_every_condition_is_routed_where_it_is() -> None:
    # Brussels, though the licence is installed in Liège: the device's location wins.
    assert assess(P2G, GOOD_MOBILE)[:3] == (True, "device", "brussels")
    assert assess(P2G, replace(GOOD_MOBILE, location=ZAVENTEM))[2] == "vlaams-brabant"


def test_mobile_civic_address_uses_its_postal_code() -> None:
    civic = ReportedLocation("civic", country="BE", postal_code="1300")
    expected = (True, "device", "brabant-wallon")
    assert assess(P2G, replace(GOOD_MOBILE, location=civic))[:3] == expected


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"mcc": "208"}, "Belgian mobile network"),
        ({"mcc": None}, "MCC absent"),
        ({"access_type": "IEEE-802.11"}, "not on a mobile network"),
        ({"access_type": None}, "access type absent"),
        ({"geolocation": False, "location": None}, "no location sent"),
        ({"geolocation_routing": False}, "Geolocation-Routing"),
        ({"location": None}, "no location document"),
        ({"location": LILLE}, "not in Belgium"),
        ({"location": None, "location_error": "malformed XML"}, "malformed XML"),
        ({"location": ReportedLocation("civic", country="FR", postal_code="59000")}, "FR"),
        ({"device_type": "tablet"}, "device type unknown"),
    ],
)
def test_each_failed_condition_makes_it_untrusted(change: dict[str, object], words: str) -> None:
    ctx = replace(GOOD_MOBILE, **change)  # type: ignore[arg-type]
    trusted, source, province, reasons = assess(P2G, ctx)
    assert (trusted, source, province) == (False, "declared_address", "liege")
    assert any(words in r for r in reasons), reasons


def test_every_failed_condition_is_listed() -> None:
    ctx = DeviceContext(device_type="mobile", access_type="IEEE-802.11", mcc="208")
    reasons = assess(P2G, ctx)[3]
    assert len(reasons) == 3  # foreign MCC, Wi-Fi, no location


def test_unknown_line_goes_to_the_default_province_untrusted() -> None:
    trusted, _, province, reasons = assess(None, GOOD_MOBILE)
    assert (trusted, province) == (False, PLAN.default_province)
    assert reasons == ("the line is unknown",)
