"""The captured INVITE library (tests/invites/) sent through the real PBX with SIPp (R9).

Each emergency INVITE is placed by a lab line with its own headers and multipart body;
Asterisk's res_pjsip_geolocation reads the location, callctl decides, and the emergency
centre's far end must receive the call with the location passed on. The decision is the
one ``callctl route`` gives offline (tests/test_route_cli.py), except where the PBX keeps
less of the request than the file holds (``LIVE_DIFFERS``, see docs/emergency.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from callctl.core.records import CallRecord
from callctl.pbx.lab import Credential, Lab
from callctl.pbx.sipp import FarEnd, SippResult, UacCall, place_call
from callctl.sip.message import parse_request
from tests.live.conftest import (
    CLASSIC,
    PHONE2GO,
    PHONE2GO_LICENCE,
    Callctl,
    serving_lab_lines,
    wait_for,
)
from tests.test_route_cli import CASES, INVITES, UNTRUSTED_LIEGE

OFF_SITE = "127.0.9.1"  # outside the lab Phone2Go line's site network 127.0.0.0/24

OFFLINE_ONLY = {
    # The source address live is the socket's, not the file's Via: these test Via parsing.
    "desktop-ipv6-112": "the Via's IPv6 sent-by (live: the real source address)",
    "desktop-hostname-via-112": "a Via host name (live: the real source address)",
    # 88 KB: more than a UDP datagram can carry to the PBX.
    "mobile-oversized-pidf-112": "larger than a UDP datagram",
    # Line ends are a property of the file; SIPp sends CRLF.
    "mobile-lf-line-ends-112": "bare LF line ends",
}
LIVE_DIFFERS = {
    # Asterisk keeps the first Geolocation reference (the https one) and drops the cid part.
    "mobile-two-refs-112": UNTRUSTED_LIEGE,
    # Asterisk's reading of a document with a point and a civic address keeps the point's
    # position under the civic format, without its reference system: not trusted.
    "mobile-leuven-112": UNTRUSTED_LIEGE,
    # callctl's reader refuses a document with a DTD; Asterisk's ignores the DTD and the
    # external entity (nothing is read from the file: see the test below) and keeps the point.
    "mobile-external-entity-112": ("psap-112-brussels", True, "device", "brussels"),
}
NOT_PASSED_ON = {
    # No location reaches the centre: the PBX could not read one (or there is none) …
    "mobile-broken-xml-112", "mobile-billion-laughs-112", "mobile-cid-missing-112",
    # … or read coordinates in a reference system it cannot write out again.
    "mobile-wrong-srs-112",
}  # fmt: skip
LIVE = {name: LIVE_DIFFERS.get(name, case) for name, case in CASES.items()}
for name in OFFLINE_ONLY:
    del LIVE[name]


@pytest.fixture(scope="module")
def served(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callctl]:
    """One ``callctl serve`` for the whole library (a call per case)."""
    with serving_lab_lines(tmp_path_factory.mktemp("invites-live")) as server:
        yield server


def caller_of(name: str) -> str:
    return CLASSIC if name.startswith("voicepro") else PHONE2GO_LICENCE


def place(
    name: str, creds: dict[str, Credential], local_ip: str = "127.0.0.1", timeout: float = 30
) -> SippResult:
    request = parse_request((INVITES / f"{name}.sip").read_bytes())
    cred = creds[caller_of(name)]
    spec = UacCall.from_request(request, hold_ms=200)
    return place_call(spec, cred.username, cred.password, local_ip=local_ip, timeout=timeout)


def received_by(far_end: FarEnd) -> str:
    """The INVITE a centre's far end (started for this call) received."""
    assert wait_for(lambda: len(far_end.invites()) == 1, 5), f"{far_end.address}: no INVITE"
    return far_end.invites()[0]


def record_of(server: Callctl, before: int) -> CallRecord:
    assert wait_for(lambda: len(server.records()) > before, 5), "no record written"
    return server.records()[before]


@pytest.mark.parametrize("name", sorted(LIVE))
def test_captured_emergency_invite_through_the_pbx(
    name: str,
    served: Callctl,
    far_ends: Callable[..., FarEnd],
    creds: dict[str, Credential],
) -> None:
    target, trusted, source, province = LIVE[name]
    centre, count = far_ends(target), len(served.records())
    local_ip = OFF_SITE if name == "desktop-offsite-112" else "127.0.0.1"
    result = place(name, creds, local_ip)
    assert result.returncode == 0, result.stderr[-2000:]
    received = received_by(centre)
    record = record_of(served, count)
    assert (record.target, record.location_trusted, record.location_source) == (
        target, trusted, source,
    )  # fmt: skip
    assert record.location_province == province
    assert record.location_reasons, "every emergency record says why"
    assert (record.action, record.amount, record.line) == (
        "route", Decimal(0), CLASSIC if name.startswith("voicepro") else PHONE2GO,
    )  # fmt: skip
    # The caller's number is presented to the centre, #31# or not (R9).
    assert caller_of(name) in received.split("\n\n", 1)[0]
    assert "anonymous" not in received.lower()
    if name.startswith("mobile") and name not in NOT_PASSED_ON:
        # The location goes on to the centre: an RFC 6442 reference and its document.
        assert re.search(r"^Geolocation: <(cid|https):", received, re.MULTILINE), received
        assert re.search(r"^Geolocation-Routing: (yes|no)", received, re.MULTILINE)


def test_every_live_case_is_decided_as_offline_or_documented() -> None:
    """The live table is the offline one but for the documented differences."""
    assert set(LIVE) | set(OFFLINE_ONLY) == set(CASES)
    for name, case in LIVE.items():
        assert case == CASES[name] or name in LIVE_DIFFERS


def test_location_is_passed_on_as_the_device_sent_it(
    served: Callctl, far_ends: Callable[..., FarEnd], creds: dict[str, Credential]
) -> None:
    """Zaventem: the circle, its radius and the routing permission reach the centre."""
    del served
    centre = far_ends("psap-112-vlaams-brabant")
    assert place("mobile-zaventem-112", creds).returncode == 0
    received = received_by(centre)
    assert "multipart/mixed" in received
    assert "application/pidf+xml" in received
    assert "<gml:pos>50.8837 4.4718</gml:pos>" in received
    assert re.search(r"<gs:radius[^>]*>35</gs:radius>", received), received


def test_an_external_entity_is_not_read_into_what_the_centre_gets(
    served: Callctl, far_ends: Callable[..., FarEnd], creds: dict[str, Credential], lab: Lab
) -> None:
    """XXE: the device names a local file as an entity; the PBX routes the call (to the
    Grand-Place, see LIVE_DIFFERS) and neither crashes (dialplan/patches) nor sends the file on."""
    del served
    centre = far_ends(LIVE["mobile-external-entity-112"][0])
    assert place("mobile-external-entity-112", creds).returncode == 0
    received = received_by(centre)
    assert lab.running()
    assert "root:" not in received, received
    assert "/bin/" not in received, received
