"""The location as Asterisk read it (GEOLOC_PROFILE), to the same R9 inputs as offline.

The profile strings are those Asterisk 22.10.1 produced for the captured INVITEs of
tests/invites/ in the live tests (tests/live/test_emergency_invites_live.py).
"""

from __future__ import annotations

import pytest

from callctl.core.location import ReportedLocation
from callctl.sip.context import NO_DOCUMENT_READ, pbx_device_context
from callctl.sip.eprofile import location_from_profile, parse_location_info
from callctl.sip.pidf import LocationError
from tests.test_location import P2G, assess

GRAND_PLACE = 'shape="Point",crs="2d",pos="50.8467 4.3525"'
ZAVENTEM = 'shape="Circle",crs="2d",pos="50.8837 4.4718",radius="35"'
NAMUR = 'lang="fr",country="BE",A1="Namur",A3="Namur",RD="Rue de Fer",HNO="42",PC="5000"'
MOBILE = {
    "X-Device-Type": "mobile",
    "P-Access-Network-Info": "3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=206011A2B0C3D4E5",
    "Geolocation": "<cid:loc-f21215@pbx.example.net>",
    "Geolocation-Routing": "yes",
}


def test_point_circle_and_civic_address() -> None:
    point = location_from_profile("GML", GRAND_PLACE)
    assert (point.kind, point.shape, point.latitude, point.longitude) == (
        "geodetic", "point", 50.8467, 4.3525,
    )  # fmt: skip
    circle = location_from_profile("GML", ZAVENTEM, "GPS")
    assert (circle.shape, circle.radius_m, circle.method) == ("circle", 35.0, "GPS")
    civic = location_from_profile("civicAddress", NAMUR)
    assert (civic.kind, civic.country, civic.postal_code, civic.a1) == (
        "civic", "BE", "5000", "Namur",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("format_", "info", "why"),
    [
        ("GML", 'shape="Point",crs="unknown",pos="6621293.7 484527.3"', "reference system"),
        ("GML", 'shape="Point",crs="2d",pos="95.1 4.3525"', "latitude 95.1 is out of range"),
        ("GML", 'shape="Polygon",crs="2d",pos="50.8 4.3"', "does not read"),
        ("GML", 'shape="Circle",crs="2d",pos="50.8 4.3",radius="-3"', "negative"),
        ("civicAddress", 'pos="50.8798 4.7005"', "no country, postal code"),  # Leuven, live
        ("civicAddress", 'country="Belgium"', "ISO 3166"),
        ("URI", 'URI="https://lis.example.net/loc/8f3a2c"', "does not dereference"),
        ("GML", 'shape="Point" crs="2d"', "not name="),
        ("GML", "", "empty"),
        ("vCard", 'x="1"', "unknown format"),
        ("GML", 'shape="Point",pos="' + "9" * 5000 + '"', "longer than"),
    ],
)
def test_unusable_profiles_say_why(format_: str, info: str, why: str) -> None:
    with pytest.raises(LocationError, match=why):
        location_from_profile(format_, info)


def test_pairs_keep_commas_and_spaces_inside_values() -> None:
    assert parse_location_info('RD="Rue de Fer, 42", PC="5000"') == {
        "RD": "Rue de Fer, 42", "PC": "5000",
    }  # fmt: skip


def test_live_context_routes_like_the_captured_request() -> None:
    """R9: the mobile app in Brussels with the PBX's reading of its point is trusted."""
    ctx = pbx_device_context(MOBILE, "127.0.0.1", "GML", GRAND_PLACE)
    assert ctx.location == ReportedLocation("geodetic", 50.8467, 4.3525, None, None)
    assert assess(P2G, ctx)[:3] == (True, "device", "brussels")


def test_no_document_read_by_the_pbx_is_a_reason() -> None:
    """A Geolocation header whose document the PBX could not read: untrusted, said so."""
    ctx = pbx_device_context(MOBILE, "127.0.0.1", "", "")
    assert ctx.location is None
    assert ctx.location_error == NO_DOCUMENT_READ
    trusted, _, province, reasons = assess(P2G, ctx)
    assert (trusted, province) == (False, "liege")
    assert any(NO_DOCUMENT_READ in reason for reason in reasons)


def test_a_bad_profile_does_not_hide_the_header_problems() -> None:
    headers = dict(MOBILE, **{"P-Access-Network-Info": '3GPP-E-UTRAN-FDD; x="unterminated'})
    ctx = pbx_device_context(headers, None, "GML", 'shape="Point",crs="unknown",pos="1 2"')
    assert ctx.location_error is not None
    assert "P-Access-Network-Info" in ctx.location_error
    assert "reference system" in ctx.location_error
