"""SIP request parsing (issue 4): the captured-INVITE library, the syntax, the limits, fuzzing."""

from __future__ import annotations

import base64
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callctl.sip import (
    MAX_BODY_BYTES,
    MAX_HEADERS_BYTES,
    Location,
    LocationError,
    SipParseError,
    SipRequest,
    access_network_info,
    access_network_infos,
    body_parts,
    device_id,
    device_type,
    find_part,
    geolocation,
    line_user,
    parse_name_addr,
    parse_pidf,
    parse_request,
    parse_uri,
    parse_via,
    pidf_part,
    request_uri_user,
    sip_instance,
    source_host,
    top_via,
    x_device_id,
)

INVITES = Path(__file__).parent / "invites"

INSTANCE_A = "urn:uuid:6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c"
INSTANCE_B = "urn:uuid:0b7e5c1d-2f3a-4b8c-9d0e-1f2a3b4c5d6e"
INSTANCE_DESK = "urn:uuid:d3c4b5a6-9788-4a1b-8c2d-3e4f5a6b7c8d"
LTE = "3GPP-E-UTRAN-FDD"


@dataclass(frozen=True)
class Expect:
    """What a good file carries."""

    dialled: str
    line: str
    source: str
    kind: str  # X-Device-Type as read
    device: str | None
    geo_schemes: tuple[str, ...] = ()  # schemes of the Geolocation references, in order
    routing: str | None = None
    access: str | None = None
    mcc: str | None = None
    pidf: bool = False  # the Geolocation cid: leads to an application/pidf+xml part


def _mobile(dialled: str = "112", **changes: object) -> Expect:
    base: dict[str, object] = {
        "dialled": dialled,
        "line": "+3242345611",
        "source": "192.0.2.130",
        "kind": "mobile",
        "device": INSTANCE_A,
        "geo_schemes": ("cid",),
        "routing": "yes",
        "access": LTE,
        "mcc": "206",
        "pidf": True,
    }
    base.update(changes)
    return Expect(**base)  # type: ignore[arg-type]


def _desktop(source: str, dialled: str = "112") -> Expect:
    return Expect(dialled, "+3242345612", source, "desktop", INSTANCE_DESK)


def _p2g(dialled: str, device: str | None = INSTANCE_A, kind: str = "mobile") -> Expect:
    return Expect(dialled, "+3242345611", "192.0.2.132", kind, device, access=LTE, mcc="206")


GOOD: dict[str, Expect] = {
    "desktop-onsite-112.sip": _desktop("203.0.113.25"),
    "desktop-offsite-112.sip": _desktop("192.0.2.77"),
    "desktop-ipv6-112.sip": _desktop("2001:db8:77::5"),
    "desktop-hostname-via-112.sip": _desktop("desk12.office.example.net"),
    "desktop-clir-112.sip": _desktop("203.0.113.25", dialled="#31#112"),
    "mobile-grandplace-112.sip": _mobile(),
    "mobile-grandplace-100.sip": _mobile("100"),
    "mobile-zaventem-112.sip": _mobile(access="3GPP-NR-FDD"),
    "mobile-wavre-112.sip": _mobile(),
    "mobile-wavre-101.sip": _mobile("101"),
    "mobile-leuven-112.sip": _mobile(),
    "mobile-mons-112.sip": _mobile(access="3GPP-GERAN"),
    "mobile-lille-112.sip": _mobile(),
    "mobile-foreign-mcc-112.sip": _mobile(mcc="208"),
    "mobile-wifi-112.sip": _mobile(access="IEEE-802.11", mcc=None),
    "mobile-no-pani-112.sip": _mobile(access=None, mcc=None),
    "mobile-routing-no-112.sip": _mobile(routing="no"),
    "mobile-routing-absent-112.sip": _mobile(routing=None),
    "mobile-civic-be-112.sip": _mobile(),
    "mobile-civic-fr-112.sip": _mobile(),
    "mobile-two-refs-112.sip": _mobile(geo_schemes=("https", "cid")),
    "mobile-compact-forms-112.sip": _mobile(source="192.0.2.131"),
    "mobile-lf-line-ends-112.sip": _mobile(),
    "mobile-no-usage-rules-112.sip": _mobile(),
    "mobile-cid-missing-112.sip": _mobile(pidf=False),
    "mobile-broken-xml-112.sip": _mobile(),
    "mobile-billion-laughs-112.sip": _mobile(),
    "mobile-external-entity-112.sip": _mobile(),
    "mobile-wrong-srs-112.sip": _mobile(),
    "mobile-out-of-range-112.sip": _mobile(),
    "mobile-oversized-pidf-112.sip": _mobile(),
    "p2g-first-device-call.sip": _p2g("0470123456"),
    "p2g-second-device-call.sip": _p2g("0470987654", INSTANCE_B),
    "p2g-second-device-112.sip": _p2g("112", INSTANCE_B),
    "p2g-second-device-helpline.sip": _p2g("116000", INSTANCE_B),
    "p2g-device-id-only.sip": _p2g("022345678", "p2g-tab-c3", kind="unknown"),
    "p2g-international-refused.sip": _p2g("0033142685300"),
    "p2g-premium-refused.sip": _p2g("090312345"),
    "voicepro-112.sip": Expect("112", "+3222345601", "198.51.100.200", "unknown", None),
}

BAD: dict[str, str] = {
    "bad-response.sip": "SIP response",
    "bad-http.sip": "HTTP",
    "bad-garbage.sip": "not a SIP request line",
    "bad-binary.sip": "not UTF-8 text",
    "bad-truncated-headers.sip": "truncated",
    "bad-truncated-body.sip": "Content-Length announces",
    "bad-oversized-header.sip": "X-Padding",
    "bad-oversized-body.sip": "larger than 262144 bytes",
}


def _load(name: str) -> SipRequest:
    return parse_request((INVITES / name).read_bytes())


def test_every_file_is_in_a_table() -> None:
    files = {path.name for path in INVITES.iterdir() if path.suffix == ".sip"}
    assert files == set(GOOD) | set(BAD)
    readme = (INVITES / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in files)


def test_library_is_written_with_crlf() -> None:
    for name in GOOD:
        data = (INVITES / name).read_bytes()
        if name == "mobile-lf-line-ends-112.sip":
            assert b"\r" not in data
        else:
            assert data.count(b"\n") == data.count(b"\r\n"), name


@pytest.mark.parametrize("name", sorted(GOOD))
def test_library_request_fields(name: str) -> None:
    expect = GOOD[name]
    request = _load(name)
    assert request.method == "INVITE"
    assert request_uri_user(request) == expect.dialled
    assert line_user(request) == expect.line
    assert source_host(request) == expect.source
    assert device_type(request) == expect.kind
    assert device_id(request) == expect.device
    geo = geolocation(request)
    if not expect.geo_schemes:
        assert geo is None
    else:
        assert geo is not None
        assert tuple(ref.split(":", 1)[0] for ref in geo.refs) == expect.geo_schemes
        assert geo.routing == expect.routing
        assert geo.routing_allowed == (expect.routing == "yes")
    access = access_network_info(request)
    if expect.access is None:
        assert access is None
    else:
        assert access is not None
        assert access.access_type == expect.access
        assert access.mcc == expect.mcc
        assert access.is_3gpp == expect.access.startswith("3GPP-")
        assert access.is_wifi == (expect.access == "IEEE-802.11")
    if expect.pidf:
        part = pidf_part(request)
        assert part is not None
        assert part.content_type == "application/pidf+xml"
        assert geo is not None
        assert f"cid:{part.content_id}" == geo.cid_refs[0]
        assert part.body.lstrip().startswith(b"<?xml")
    elif not expect.geo_schemes:
        assert pidf_part(request) is None


@pytest.mark.parametrize("name", sorted(BAD))
def test_library_not_sip(name: str) -> None:
    with pytest.raises(SipParseError, match=BAD[name]):
        _load(name)


def test_library_cid_missing_says_which() -> None:
    request = _load("mobile-cid-missing-112.sip")
    with pytest.raises(SipParseError, match=r"cid:loc-absent@pbx\.example\.net.*no body part"):
        pidf_part(request)


def test_library_multipart_parts() -> None:
    request = _load("mobile-grandplace-112.sip")
    parts = body_parts(request)
    assert [part.content_type for part in parts] == ["application/sdp", "application/pidf+xml"]
    assert parts[0].body.startswith(b"v=0\r\n")
    assert parts[0].body.endswith(b"a=sendrecv\r\n")
    assert parts[1].body.endswith(b"</presence>\r\n")
    assert parts[0].content_id is None
    assert parts[1].content_id is not None
    assert parts[1].content_id.endswith("@pbx.example.net")


def test_library_details() -> None:
    voicepro = _load("voicepro-112.sip")
    pai = voicepro.headers.get_list("P-Asserted-Identity")
    assert len(pai) == 2
    first = parse_name_addr(pai[0])
    assert first.display_name == 'Accueil "Loi 16"'
    assert first.uri.params.get("user") == "phone"
    assert parse_name_addr(pai[1]).uri.scheme == "tel"
    assert sip_instance(voicepro) is None
    via = top_via(voicepro)
    assert via is not None
    assert via.received is None
    assert "rport" in via.params

    compact = _load("mobile-compact-forms-112.sip")
    assert compact.headers.get("Via") is not None
    assert len(compact.headers.get_all("v")) == 2
    assert len(compact.headers.get_list("via")) == 3
    assert compact.header("P-Asserted-Identity") is None
    assert compact.header("Max-Forwards") == "69"
    assert sip_instance(compact) == INSTANCE_A
    assert x_device_id(compact) == "p2g-mob-a1"

    desktop = _load("desktop-ipv6-112.sip")
    via = top_via(desktop)
    assert via is not None
    assert (via.transport, via.host, via.port) == ("TCP", "2001:db8:77::5", 5060)

    tablet = _load("p2g-device-id-only.sip")
    assert sip_instance(tablet) is None
    assert x_device_id(tablet) == "p2g-tab-c3"


def test_library_locations_parse() -> None:
    """The PIDF-LO parts of the library parse (the detailed checks are in test_pidf)."""
    request = _load("mobile-zaventem-112.sip")
    part = pidf_part(request)
    assert part is not None
    assert parse_pidf(part.body) == Location(
        "geodetic", "circle", 50.8837, 4.4718, 35.0, method="GPS"
    )


# ---------------------------------------------------------------------------------------------
# Syntax

CRLF = "\r\n"


def _request(
    *extra: str,
    uri: str = "sip:112@pbx.example.net",
    body: str = "",
    length: int | str | None = None,
    eol: str = CRLF,
) -> str:
    lines = [
        f"INVITE {uri} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
        "From: <sip:+3242345611@pbx.example.net>;tag=1",
        "To: <sip:112@pbx.example.net>",
        "Call-ID: abc@pbx.example.net",
        "CSeq: 1 INVITE",
        *extra,
        f"Content-Length: {len(body.encode()) if length is None else length}",
    ]
    return eol.join(lines) + eol + eol + body


def test_minimal_request_and_lf() -> None:
    for eol in (CRLF, "\n"):
        request = parse_request(_request(eol=eol, body="hello", length=5))
        assert request.method == "INVITE"
        assert request.request_uri == "sip:112@pbx.example.net"
        assert request.body == b"hello"
        assert request.header("call-id") == "abc@pbx.example.net"
        assert request.header("i") == "abc@pbx.example.net"


def test_leading_blank_lines_and_bom_are_skipped() -> None:
    request = parse_request(b"\xef\xbb\xbf\r\n\n" + _request().encode())
    assert request.method == "INVITE"


def test_body_beyond_content_length_is_ignored() -> None:
    assert parse_request(_request(body="hello world", length=5)).body == b"hello"


def test_body_without_content_length_is_the_rest() -> None:
    text = _request(body="v=0\r\n").replace("Content-Length: 5\r\n", "")
    assert parse_request(text).body == b"v=0\r\n"


def test_lf_capture_with_crlf_content_length() -> None:
    body = "line one\r\nline two\r\n"
    text = _request(body=body).replace(CRLF, "\n")
    assert parse_request(text).body == body.encode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\r\n\r\n", "empty"),
        ("SIP/2.0 486 Busy Here\r\n\r\n", "SIP response"),
        ("HTTP/1.1 200 OK\r\n\r\n", "HTTP"),
        ("POST /agi HTTP/1.1\r\n\r\n", "HTTP"),
        ("INVITE sip:112@x\r\n\r\n", "not a SIP request line"),
        ("INVITE sip:112@x SIP/3.0\r\n\r\n", "not SIP/2.0"),
        ("INV(TE sip:112@x SIP/2.0\r\n\r\n", "not a SIP method"),
        ("INVITE 112 SIP/2.0\r\n\r\n", "not a URI"),
        ("INVITE sip:112@x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n", "truncated"),
        ("INVITE sip:112@x SIP/2.0", "truncated"),
        ("INVITE sip:112@x SIP/2.0\r\nNoColonHere\r\n\r\n", "no colon"),
        ("INVITE sip:112@x SIP/2.0\r\n Folded: x\r\n\r\n", "continues no header"),
        ("INVITE sip:112@x SIP/2.0\r\nBad Name: x\r\n\r\n", "not a header name"),
        ("INVITE sip:112@x SIP/2.0\r\nVia: a\x00b\r\n\r\n", "control character 0x00"),
        ("INVITE sip:112@x SIP/2.0\rVia: x\r\r", "bare CR"),
        ("INVITE sip:112@x SIP/2.0\r\nVia: x\r\n\r\n", "no From, To, Call-ID, CSeq"),
    ],
)
def test_not_requests(text: str, message: str) -> None:
    with pytest.raises(SipParseError, match=message):
        parse_request(text)


def test_cseq_checks() -> None:
    with pytest.raises(SipParseError, match="is not the request's method"):
        parse_request(_request().replace("CSeq: 1 INVITE", "CSeq: 1 BYE"))
    with pytest.raises(SipParseError, match="not 'number METHOD'"):
        parse_request(_request().replace("CSeq: 1 INVITE", "CSeq: one INVITE"))


@pytest.mark.parametrize(
    ("extra", "length", "message"),
    [
        ([], "x", "not a number of bytes"),
        ([], "-1", "not a number of bytes"),
        ([], "12345678901", "not a number of bytes"),
        ([], 99 * 1024 * 1024, "Content-Length 103809024 is larger"),
        ([], 6, "the body has 5 bytes but Content-Length announces 6"),
        (["l: 3"], None, "conflicting Content-Length"),
    ],
)
def test_content_length_problems(extra: list[str], length: int | str | None, message: str) -> None:
    with pytest.raises(SipParseError, match=message):
        parse_request(_request(*extra, body="abcde", length=length))


def test_limits() -> None:
    many = [f"X-Filler-{i}: {'y' * 100}" for i in range(700)]
    with pytest.raises(SipParseError, match=f"header section is larger than {MAX_HEADERS_BYTES}"):
        parse_request(_request(*many))
    folded = ["X-Long: start", *(" " + "z" * 1000 for _ in range(9))]
    with pytest.raises(SipParseError, match="header X-Long is longer than 8192 bytes"):
        parse_request(_request(*folded))
    with pytest.raises(SipParseError, match="more than a SIP request may have"):
        parse_request(b"A" * (MAX_HEADERS_BYTES + MAX_BODY_BYTES + 5))
    with pytest.raises(SipParseError, match="first line is longer"):
        parse_request(b"A" * 10_000)
    # smaller limits by keyword
    with pytest.raises(SipParseError, match="body is larger than 4 bytes"):
        parse_request(_request(body="hello"), max_body_bytes=4)


def test_header_folding_and_case() -> None:
    request = parse_request(
        _request("subject: first part", "\tsecond part", "  third", "X-CUSTOM-thing:  v  ")
    )
    assert request.header("Subject") == "first part second part third"
    assert request.header("s") == "first part second part third"
    assert request.header("x-custom-THING") == "v"
    assert ("Subject", "first part second part third") in request.headers.fields


def test_compact_names() -> None:
    request = parse_request(
        _request(
            "m: <sip:a@192.0.2.1>",
            "c: application/sdp",
            "k: timer",
            "e: identity",
        )
    )
    names = [name for name, _ in request.headers.fields]
    assert {"Contact", "Content-Type", "Supported", "Content-Encoding"} <= set(names)
    assert request.header("Contact") == "<sip:a@192.0.2.1>"


def test_header_list_respects_quotes_and_brackets() -> None:
    request = parse_request(
        _request(
            'Contact: "Doe, John" <sip:john@h;a=1,2>;q=0.5, <sip:other@h>',
            "Contact: sip:third@h",
        )
    )
    assert request.headers.get_list("Contact") == (
        '"Doe, John" <sip:john@h;a=1,2>;q=0.5',
        "<sip:other@h>",
        "sip:third@h",
    )
    broken = parse_request(_request('Contact: "Doe <sip:x@h>'))
    with pytest.raises(SipParseError, match="unterminated quoted string"):
        broken.headers.get_list("Contact")


# ---------------------------------------------------------------------------------------------
# URIs, addresses, Via


def test_uris() -> None:
    uri = parse_uri("sip:%2331%23112@pbx.example.net:5061;user=phone;lr?Subject=x")
    assert (uri.scheme, uri.user, uri.host, uri.port) == ("sip", "#31#112", "pbx.example.net", 5061)
    assert uri.params.get("user") == "phone"
    assert "lr" in uri.params
    assert uri.params.get("lr") is None
    assert parse_uri("SIPS:alice:secret@[2001:DB8::1]").host == "2001:db8::1"
    assert parse_uri("sip:alice:secret@h").user == "alice"
    assert parse_uri("sip:+3222345678;phone-context=+32@h;user=phone").user == "+3222345678"
    assert parse_uri("sip:pbx.example.net").user is None
    tel = parse_uri("tel:+32-2-234-56-78;phone-context=+32")
    assert (tel.scheme, tel.user, tel.host) == ("tel", "+32-2-234-56-78", None)
    assert parse_uri("urn:service:sos").user is None
    for bad in ("112", "sip:", "sip:u@", "sip:u@h:99999", "sip:u@h:x", "sip:u@[::1", "sip:u@::1"):
        with pytest.raises(SipParseError):
            parse_uri(bad)


def test_request_uri_user() -> None:
    assert request_uri_user(parse_request(_request(uri="sip:%2331%23112@h"))) == "#31#112"
    assert request_uri_user(parse_request(_request(uri="tel:112"))) == "112"
    assert request_uri_user(parse_request(_request(uri="urn:service:sos"))) is None


@pytest.mark.parametrize(
    ("text", "display", "user", "params"),
    [
        ('"Alice \\"A\\" Smith" <sip:alice@h>;tag=1', 'Alice "A" Smith', "alice", {"tag": "1"}),
        ("Alice  Smith <sip:alice@h;user=phone>;tag=2", "Alice Smith", "alice", {"tag": "2"}),
        ("<sip:+3242345611@h>", None, "+3242345611", {}),
        ("sip:bob@h;tag=3", None, "bob", {"tag": "3"}),
        ("<tel:+3242345611>", None, "+3242345611", {}),
        ('"<sip:not@this>" <sip:real@h>', "<sip:not@this>", "real", {}),
        (
            '<sip:x@h>;+sip.instance="<urn:uuid:1>";expires',
            None,
            "x",
            {"+sip.instance": "<urn:uuid:1>"},
        ),
    ],
)
def test_name_addr(text: str, display: str | None, user: str, params: dict[str, str]) -> None:
    value = parse_name_addr(text)
    assert value.display_name == display
    assert value.uri.user == user
    for name, expected in params.items():
        assert value.params.get(name) == expected


@pytest.mark.parametrize(
    "text", ["", "<sip:x@h", '"unterminated <sip:x@h>', "<sip:x@h> junk", "<>", "<sip:x@h>;=v"]
)
def test_name_addr_errors(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_name_addr(text)


def test_line_user_prefers_pai_then_from() -> None:
    with_pai = parse_request(
        _request('P-Asserted-Identity: "Desk" <sip:+3242345612@h>, <tel:+3242345612>')
    )
    assert line_user(with_pai) == "+3242345612"
    tel_only = parse_request(_request("P-Asserted-Identity: <tel:+3242345699>"))
    assert line_user(tel_only) == "+3242345699"
    assert line_user(parse_request(_request())) == "+3242345611"
    bad = parse_request(_request("P-Asserted-Identity: <sip:x@h"))
    with pytest.raises(SipParseError):
        line_user(bad)


@pytest.mark.parametrize(
    ("text", "transport", "host", "port", "source"),
    [
        ("SIP/2.0/UDP 192.0.2.1:5060;branch=z9;received=203.0.113.9",
         "UDP", "192.0.2.1", 5060, "203.0.113.9"),
        ("SIP / 2.0 / tcp  client.example.com : 5070 ;branch=z9",
         "TCP", "client.example.com", 5070, "client.example.com"),
        ("SIP/2.0/TLS [2001:db8::9]:5061;received=2001:db8::99",
         "TLS", "2001:db8::9", 5061, "2001:db8::99"),
        ("SIP/2.0/WSS h;received=[2001:db8::7];rport=1", "WSS", "h", None, "2001:db8::7"),
        ("SIP/2.0/UDP 192.0.2.1;received=", "UDP", "192.0.2.1", None, "192.0.2.1"),
    ],
)  # fmt: skip
def test_via(text: str, transport: str, host: str, port: int | None, source: str) -> None:
    via = parse_via(text)
    assert (via.transport, via.host, via.port, via.source_host) == (transport, host, port, source)


@pytest.mark.parametrize(
    "text",
    ["SIP/2.0/UDP", "SIP/2.0 192.0.2.1", "HTTP/1.1/TCP h", "SIP/2.0/UDP h:x", "SIP/2.0/UDP a b"],
)
def test_via_errors(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_via(text)


def test_top_via_is_first_value_of_first_header() -> None:
    request = parse_request(
        _request().replace(
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
            "Via: SIP/2.0/UDP 192.0.2.7;received=198.51.100.7, SIP/2.0/UDP 192.0.2.1\r\n"
            "Via: SIP/2.0/UDP 192.0.2.2",
        )
    )
    assert source_host(request) == "198.51.100.7"


# ---------------------------------------------------------------------------------------------
# Device, geolocation, access network


def test_device_type_values() -> None:
    for value, expected in [("desktop", "desktop"), (" MOBILE ", "mobile"), ("tablet", "unknown")]:
        assert device_type(parse_request(_request(f"X-Device-Type: {value}"))) == expected
    assert device_type(parse_request(_request())) == "unknown"


def test_device_identity() -> None:
    both = parse_request(
        _request('Contact: <sip:a@h>;+sip.instance="<urn:uuid:abc>"', "X-Device-Id: dev-1")
    )
    assert (sip_instance(both), x_device_id(both), device_id(both)) == (
        "urn:uuid:abc",
        "dev-1",
        "urn:uuid:abc",
    )
    header_only = parse_request(_request("Contact: *", "X-Device-Id:  dev-2 "))
    assert device_id(header_only) == "dev-2"
    neither = parse_request(_request("Contact: <sip:a@h>", "X-Device-Id:"))
    assert device_id(neither) is None


def test_geolocation_values() -> None:
    request = parse_request(
        _request(
            "Geolocation: <cid:a%40b@h>;inserted-by=h, <https://lis.example/x>",
            "Geolocation: <cid:second@h>",
            "Geolocation-Routing: No",
        )
    )
    geo = geolocation(request)
    assert geo is not None
    assert geo.refs == ("cid:a%40b@h", "https://lis.example/x", "cid:second@h")
    assert geo.cid_refs == ("cid:a%40b@h", "cid:second@h")
    assert geo.routing == "no"
    assert not geo.routing_allowed
    only_routing = geolocation(parse_request(_request("Geolocation-Routing: yes")))
    assert only_routing is not None
    assert only_routing.refs == ()
    assert only_routing.routing_allowed
    assert geolocation(parse_request(_request())) is None
    odd = geolocation(parse_request(_request("Geolocation: <cid:x>", "Geolocation-Routing: maybe")))
    assert odd is not None
    assert not odd.routing_allowed


@pytest.mark.parametrize(
    ("value", "access", "cell", "mcc"),
    [
        ("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=206011A2B0C3D4E5", LTE, "206011A2B0C3D4E5", "206"),
        ('3GPP-NR-FDD;utran-cell-id-3gpp="2061000A1B200C3D4E5F"',
         "3GPP-NR-FDD", "2061000A1B200C3D4E5F", "206"),
        ("3GPP-GERAN; cgi-3gpp=20620004D2162E", "3GPP-GERAN", "20620004D2162E", "206"),
        ("3GPP-UTRAN-FDD; utran-sai-3gpp=2080100010002", "3GPP-UTRAN-FDD", "2080100010002", "208"),
        ("IEEE-802.11; i-wlan-node-id=a0b1c2d3e4f5", "IEEE-802.11", None, None),
        ("3GPP-E-UTRAN-FDD", LTE, None, None),
        ("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=ABC12345", LTE, "ABC12345", None),
        ('"IEEE-802.11ax"', "IEEE-802.11ax", None, None),
    ],
)  # fmt: skip
def test_access_network_info(value: str, access: str, cell: str | None, mcc: str | None) -> None:
    info = access_network_info(parse_request(_request(f"P-Access-Network-Info: {value}")))
    assert info is not None
    assert (info.access_type, info.cell_id, info.mcc) == (access, cell, mcc)


def test_access_network_info_prefers_network_provided() -> None:
    request = parse_request(
        _request(
            "P-Access-Network-Info: IEEE-802.11, "
            "3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=206011A2B0C3D4E5; network-provided"
        )
    )
    assert len(access_network_infos(request)) == 2
    info = access_network_info(request)
    assert info is not None
    assert info.network_provided
    assert info.mcc == "206"
    with pytest.raises(SipParseError, match="no access type"):
        access_network_info(parse_request(_request("P-Access-Network-Info: ;x=1")))


# ---------------------------------------------------------------------------------------------
# Bodies


PIDF = '<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf"/>'


def _multipart(content_type: str, body: str, *extra: str) -> SipRequest:
    return parse_request(_request(f"Content-Type: {content_type}", *extra, body=body))


def test_multipart_with_preamble_epilogue_padding_and_lf() -> None:
    body = (
        "preamble\r\n"
        "--b1  \r\n"
        "Content-Type: application/sdp\r\n"
        "\r\n"
        "v=0\r\n"
        "--b1\n"
        "Content-Type: application/pidf+xml\n"
        "Content-ID: <loc@h>\n"
        "\n"
        f"{PIDF}\n"
        "--b1--\r\n"
        "epilogue\r\n"
    )
    request = _multipart("multipart/mixed; boundary=b1", body, "Geolocation: <cid:loc@h>")
    parts = body_parts(request)
    assert [part.content_type for part in parts] == ["application/sdp", "application/pidf+xml"]
    assert parts[0].body == b"v=0"  # the line end before a delimiter belongs to it
    assert parts[1].body == PIDF.encode()
    assert find_part(request, "cid:loc@h") == parts[1]
    assert find_part(request, "cid:LOC@h") is None
    assert pidf_part(request) == parts[1]


def test_multipart_boundary_inside_a_line_is_not_a_delimiter() -> None:
    body = "--b\r\nContent-Type: text/plain\r\n\r\nsee --b here\r\nx--b\r\n--b--"
    parts = body_parts(_multipart('multipart/mixed;boundary="b"', body))
    assert len(parts) == 1
    assert parts[0].body == b"see --b here\r\nx--b"


def test_multipart_percent_encoded_cid_and_base64() -> None:
    encoded = base64.b64encode(PIDF.encode()).decode()
    body = (
        "--xx\r\nContent-Type: application/pidf+xml\r\nContent-ID: <a@b>\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--xx--\r\n"
    )
    request = _multipart("multipart/mixed; boundary=xx", body, "Geolocation: <cid:a%40b>")
    part = pidf_part(request)
    assert part is not None
    assert part.body == PIDF.encode()


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("multipart/mixed", "--b\r\n\r\nx\r\n--b--", "no boundary parameter"),
        ("multipart/mixed; boundary=b", "no delimiter at all", "no boundary line --b"),
        ("multipart/mixed; boundary=b", "--b\r\n\r\nx\r\n", "no closing boundary"),
        ("multipart/mixed; boundary=b", "--b\r\nNo colon\r\n\r\nx\r\n--b--", "body part 1"),
        (
            "multipart/mixed; boundary=b",
            "--b\r\nContent-Transfer-Encoding: x-zip\r\n\r\nx\r\n--b--",
            "unknown Content-Transfer-Encoding",
        ),
        ("multipart/mixed; boundary=" + "b" * 71, "x", "longer than 70"),
        ("multipart", "x", "not type/subtype"),
        ("multipart/mixed; boundary=b", "".join("--b\r\n\r\n\r\n" for _ in range(40)), "parts"),
    ],
)
def test_multipart_errors(content_type: str, body: str, message: str) -> None:
    with pytest.raises(SipParseError, match=message):
        body_parts(_multipart(content_type, body))


def test_single_part_body_and_no_body() -> None:
    request = _multipart(
        "application/pidf+xml", PIDF, "Content-ID: <x@h>", "Geolocation: <cid:x@h>"
    )
    (part,) = body_parts(request)
    assert part.content_type == "application/pidf+xml"
    assert pidf_part(request) == part
    assert body_parts(parse_request(_request())) == ()


def test_pidf_part_of_the_wrong_type() -> None:
    body = "--b\r\nContent-Type: text/plain\r\nContent-ID: <x@h>\r\n\r\nhi\r\n--b--\r\n"
    request = _multipart("multipart/mixed;boundary=b", body, "Geolocation: <cid:x@h>")
    with pytest.raises(SipParseError, match="a text/plain part, not application/pidf"):
        pidf_part(request)
    assert pidf_part(parse_request(_request("Geolocation: <https://lis/x>"))) is None


# ---------------------------------------------------------------------------------------------
# Never another exception, never a hang


def exercise(request: SipRequest) -> None:
    """Call every reader on a parsed request: each may raise SipParseError and nothing else."""
    readers = (
        request_uri_user,
        line_user,
        top_via,
        source_host,
        sip_instance,
        x_device_id,
        device_id,
        device_type,
        geolocation,
        access_network_infos,
        access_network_info,
        body_parts,
        pidf_part,
    )
    for reader in readers:
        with contextlib.suppress(SipParseError):
            reader(request)
    try:
        part = pidf_part(request)
    except SipParseError:
        return
    if part is not None:
        with contextlib.suppress(LocationError):
            parse_pidf(part.body)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse_and_exercise(data: bytes | str) -> None:
    try:
        request = parse_request(data)
    except SipParseError as exc:
        message = str(exc)
        assert message
        return
    exercise(request)


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_only_raise_sip_parse_error(data: bytes) -> None:
    _parse_and_exercise(data)


@FUZZ
@given(st.text(max_size=2048))
def test_arbitrary_text_only_raises_sip_parse_error(data: str) -> None:
    _parse_and_exercise(data)


_LIBRARY = sorted(
    (INVITES / name).read_bytes() for name in GOOD if not name.startswith("mobile-oversized")
)


@FUZZ
@given(
    st.sampled_from(_LIBRARY),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=5000), st.binary(max_size=8)),
        max_size=6,
    ),
    st.integers(min_value=0, max_value=6000),
)
def test_mutated_captures_only_raise_sip_parse_error(
    original: bytes, edits: list[tuple[int, bytes]], cut: int
) -> None:
    data = bytearray(original)
    for offset, junk in edits:
        at = offset % (len(data) + 1)
        data[at : at + len(junk)] = junk
    _parse_and_exercise(bytes(data[: max(cut, len(data) // 2)]))


_PIECES = ['"', "<", ">", ";", ",", "=", ":", "@", "[", "]", "%", "%2", "\\", " ", "\t", "sip:",
           "tel:", "cid:", "urn:uuid:1", "+sip.instance", "received", "2001:db8::1", "192.0.2.1",
           "3GPP-", "utran-cell-id-3gpp", "206", "yes", "SIP/2.0/UDP", "/", "é", "x"]  # fmt: skip
_value = st.lists(st.sampled_from(_PIECES), max_size=20).map("".join)
_HEADERS = ["Via", "From", "P-Asserted-Identity", "Contact", "X-Device-Id", "X-Device-Type",
            "Geolocation", "Geolocation-Routing", "P-Access-Network-Info", "Content-Type",
            "Content-ID"]  # fmt: skip


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from(_HEADERS), _value), max_size=8),
    _value,
    st.text(alphabet="-b\r\n:;<>=x", max_size=200),
)
def test_odd_header_values_only_raise_sip_parse_error(
    headers: list[tuple[str, str]], uri: str, body: str
) -> None:
    extra = [f"{name}: {value}" for name, value in headers]
    _parse_and_exercise(_request(*extra, uri=f"sip:{uri}", body=body))


@pytest.mark.parametrize(
    "data",
    [
        _request("Contact: " + '"' * 8000).encode(),
        _request("Contact: " + "<" * 8000 + ">" * 100).encode(),
        _request(*("Geolocation: " + ";" * 8000 for _ in range(7))).encode(),
        _request(*("Via: SIP/2.0/UDP h" + ",h" * 4000 for _ in range(7))).encode(),
        _request("Content-Type: multipart/mixed;boundary=b", body="--b" * 80_000).encode(),
        _request(
            "Content-Type: multipart/mixed;boundary=b", body="\n--b " + " " * 200_000
        ).encode(),
        b"INVITE sip:x@h SIP/2.0\r\n" + b"X: y\r\n" * 10_000,
        b"\n" * (MAX_HEADERS_BYTES + MAX_BODY_BYTES),
    ],
)
def test_pathological_inputs_are_fast(data: bytes) -> None:
    started = time.perf_counter()
    _parse_and_exercise(data)
    assert time.perf_counter() - started < 2.0
