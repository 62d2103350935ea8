"""PIDF-LO parsing (issue 4): the library's location documents, shapes, civic, hostile XML."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callctl.sip import (
    MAX_PIDF_BYTES,
    Location,
    LocationError,
    parse_pidf,
    parse_request,
    pidf_part,
)

INVITES = Path(__file__).parent / "invites"


def _point(lat: float, lon: float) -> Location:
    return Location("geodetic", "point", lat, lon, method="GPS")


GRAND_PLACE = _point(50.8467, 4.3525)

LOCATIONS: dict[str, Location] = {
    "mobile-grandplace-112.sip": GRAND_PLACE,
    "mobile-grandplace-100.sip": GRAND_PLACE,
    "mobile-zaventem-112.sip": Location("geodetic", "circle", 50.8837, 4.4718, 35.0, method="GPS"),
    "mobile-wavre-112.sip": _point(50.7170, 4.6140),
    "mobile-wavre-101.sip": _point(50.7170, 4.6140),
    "mobile-leuven-112.sip": Location(
        "geodetic",
        "point",
        50.8798,
        4.7005,
        country="BE",
        postal_code="3000",
        a1="Vlaams-Brabant",
        a3="Leuven",
        method="Cell",
    ),
    "mobile-mons-112.sip": _point(50.4542, 3.9567),
    "mobile-lille-112.sip": _point(50.6292, 3.0573),
    "mobile-foreign-mcc-112.sip": GRAND_PLACE,
    "mobile-wifi-112.sip": GRAND_PLACE,
    "mobile-no-pani-112.sip": GRAND_PLACE,
    "mobile-routing-no-112.sip": GRAND_PLACE,
    "mobile-routing-absent-112.sip": GRAND_PLACE,
    "mobile-civic-be-112.sip": Location(
        "civic", country="BE", postal_code="5000", a1="Namur", a3="Namur", method="Manual"
    ),
    "mobile-civic-fr-112.sip": Location(
        "civic", country="FR", postal_code="59000", a1="Nord", a3="Lille", method="Manual"
    ),
    "mobile-two-refs-112.sip": GRAND_PLACE,
    "mobile-compact-forms-112.sip": GRAND_PLACE,
    "mobile-lf-line-ends-112.sip": GRAND_PLACE,
    "mobile-no-usage-rules-112.sip": GRAND_PLACE,
}

REFUSED: dict[str, str] = {
    "mobile-broken-xml-112.sip": "not well-formed XML: mismatched tag: line 12",
    "mobile-billion-laughs-112.sip": "DTD",
    "mobile-external-entity-112.sip": "DTD",
    "mobile-wrong-srs-112.sip": "srsName 'urn:ogc:def:crs:EPSG::3857' is not",
    "mobile-out-of-range-112.sip": "latitude 95.1 is out of range",
    "mobile-oversized-pidf-112.sip": f"larger than {MAX_PIDF_BYTES} bytes",
}


def _document(name: str) -> bytes:
    part = pidf_part(parse_request((INVITES / name).read_bytes()))
    assert part is not None
    return part.body


@pytest.mark.parametrize("name", sorted(LOCATIONS))
def test_library_locations(name: str) -> None:
    assert parse_pidf(_document(name)) == LOCATIONS[name]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_library_hostile_or_wrong_documents(name: str) -> None:
    started = time.perf_counter()
    with pytest.raises(LocationError, match=REFUSED[name]):
        parse_pidf(_document(name))
    assert time.perf_counter() - started < 1.0


def test_every_library_document_is_covered() -> None:
    with_pidf = set()
    for path in INVITES.glob("mobile-*.sip"):
        request = parse_request(path.read_bytes())
        try:
            if pidf_part(request) is not None:
                with_pidf.add(path.name)
        except ValueError:
            pass
    assert with_pidf == set(LOCATIONS) | set(REFUSED)


# ---------------------------------------------------------------------------------------------
# Documents

HEAD = (
    '<presence xmlns="urn:ietf:params:xml:ns:pidf"'
    ' xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"'
    ' xmlns:gml="http://www.opengis.net/gml"'
    ' xmlns:gs="http://www.opengis.net/pidflo/1.0"'
    ' xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"'
    ' xmlns:cl="urn:ietf:params:xml:ns:pidf:geopriv10:civicLoc"'
    ' entity="pres:x@example.net">'
)


def doc(location: str, extra: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{HEAD}<tuple id="t"><status><gp:geopriv>'
        f"<gp:location-info>{location}</gp:location-info>{extra}</gp:geopriv></status></tuple>"
        "</presence>"
    )


def point(pos: str, srs: str = "urn:ogc:def:crs:EPSG::4326") -> str:
    return f'<gml:Point srsName="{srs}"><gml:pos>{pos}</gml:pos></gml:Point>'


def circle(pos: str, radius: str, uom: str = "urn:ogc:def:uom:EPSG::9001", ns: str = "gs") -> str:
    return (
        f'<{ns}:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{pos}</gml:pos>'
        f'<gs:radius uom="{uom}">{radius}</gs:radius></{ns}:Circle>'
    )


def test_point_variants() -> None:
    assert parse_pidf(doc(point(" 50.8467\n\t4.3525 "))) == Location(
        "geodetic", "point", 50.8467, 4.3525
    )
    assert parse_pidf(doc(point("-33.9 +151.2"))).longitude == 151.2
    assert parse_pidf(doc(point("90 180"))).latitude == 90.0
    assert parse_pidf(doc(point("5e1 4.35E0"))).latitude == 50.0
    # the "opengis" spelling, and 3D with an altitude that is ignored
    assert parse_pidf(doc(point("50.8 4.3", "urn:opengis:def:crs:EPSG::4326"))).latitude == 50.8
    located = parse_pidf(doc(point("50.8 4.3 57.5", "urn:ogc:def:crs:EPSG::4979")))
    assert (located.latitude, located.longitude) == (50.8, 4.3)
    # as text, with the RFC 4119 gml:location wrapper
    wrapped = doc(f"<gml:location>{point('50.1 4.2')}</gml:location>")
    assert parse_pidf(wrapped).latitude == 50.1


def test_circle_variants() -> None:
    assert parse_pidf(doc(circle("50.88 4.47", "850.24"))) == Location(
        "geodetic", "circle", 50.88, 4.47, 850.24
    )
    assert parse_pidf(doc(circle("50.88 4.47", "0", ns="gml"))).radius_m == 0.0


def test_device_and_person_elements_and_method() -> None:
    head = HEAD.replace(">", ' xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model">', 1)
    text = (
        f'<?xml version="1.0"?>{head}'
        '<dm:person id="p"><gp:geopriv><gp:location-info>'
        f"{point('50.5 4.5')}</gp:location-info><gp:method> Wiremap </gp:method>"
        "</gp:geopriv></dm:person></presence>"
    )
    assert parse_pidf(text) == Location("geodetic", "point", 50.5, 4.5, method="Wiremap")


def test_civic_variants() -> None:
    civic = (
        '<ca:civicAddress xml:lang="fr"><ca:country> be </ca:country><ca:A1>Bruxelles</ca:A1>'
        "<ca:A3>Bruxelles</ca:A3><ca:PC>1000</ca:PC></ca:civicAddress>"
    )
    assert parse_pidf(doc(civic)) == Location(
        "civic", country="BE", postal_code="1000", a1="Bruxelles", a3="Bruxelles"
    )
    old = "<cl:civicAddress><cl:country>BE</cl:country><cl:PC>9000</cl:PC></cl:civicAddress>"
    assert parse_pidf(doc(old)) == Location("civic", country="BE", postal_code="9000")
    only_pc = "<ca:civicAddress><ca:PC>4000</ca:PC></ca:civicAddress>"
    assert parse_pidf(doc(only_pc)) == Location("civic", postal_code="4000")


def test_unsupported_shape_with_civic_uses_civic() -> None:
    polygon = (
        '<gml:Polygon srsName="urn:ogc:def:crs:EPSG::4326"><gml:exterior><gml:LinearRing>'
        "<gml:posList>50 4 50.1 4 50.1 4.1 50 4</gml:posList></gml:LinearRing></gml:exterior>"
        "</gml:Polygon>"
    )
    civic = "<ca:civicAddress><ca:country>BE</ca:country><ca:PC>1000</ca:PC></ca:civicAddress>"
    assert parse_pidf(doc(polygon + civic)).kind == "civic"
    with pytest.raises(LocationError, match=r"gml:Polygon, which callctl does not read"):
        parse_pidf(doc(polygon))


def test_first_geodetic_shape_wins_and_an_invalid_one_is_an_error() -> None:
    assert parse_pidf(doc(point("50 4") + point("51 5"))).latitude == 50.0
    civic = "<ca:civicAddress><ca:country>BE</ca:country></ca:civicAddress>"
    with pytest.raises(LocationError, match="out of range"):
        parse_pidf(doc(point("50 200") + civic))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("", "empty"),
        ("not xml at all", "not well-formed XML"),
        ("<presence", "not well-formed XML"),
        ("<a/>", "not a PIDF document: the root element is a"),
        ('<p xmlns="urn:other"/>', "root element is p"),
        (f"{HEAD}</presence>", "no gp:location-info"),
        (doc(""), "holds no location"),
        (doc("<gml:Point><gml:pos>50 4</gml:pos></gml:Point>"), "has no srsName"),
        (doc(point("50 4", "EPSG:4326")), "srsName 'EPSG:4326' is not"),
        (doc('<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"/>'), "has no gml:pos"),
        (doc(point("50")), "should hold 2 numbers"),
        (doc(point("50 4 10")), "should hold 2 numbers"),
        (doc(point("50 4", "urn:ogc:def:crs:EPSG::4979")), "should hold 3 numbers"),
        (doc(point("nan 4")), "latitude 'nan' is not a decimal number"),
        (doc(point("50 inf")), "longitude 'inf' is not a decimal number"),
        (doc(point("1e999 4")), "not a finite number"),
        (doc(point("5_0 4")), "not a decimal number"),
        (doc(point("٥٠ 4")), "not a decimal number"),
        (doc(point("-90.5 4")), "latitude -90.5 is out of range"),
        (doc(point("50 -180.01")), "longitude -180.01 is out of range"),
        (doc(circle("50 4", "10", uom="urn:ogc:def:uom:EPSG::9036")), "is not metres"),
        (doc(circle("50 4", "-1")), "radius -1.0 is negative"),
        (doc(circle("50 4", "ten")), "radius 'ten' is not a decimal number"),
        (
            doc(
                '<gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>5 4</gml:pos></gs:Circle>'
            ),
            "has no gs:radius",
        ),
        (doc("<ca:civicAddress><ca:RD>Rue</ca:RD></ca:civicAddress>"), "no country, postal code"),
        (doc("<ca:civicAddress><ca:country>Belgium</ca:country></ca:civicAddress>"), "alpha-2"),
    ],
)
def test_errors(document: str, message: str) -> None:
    with pytest.raises(LocationError, match=message):
        parse_pidf(document)


def test_hostile_xml_is_refused_quickly() -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    bomb = f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(entities)}]><lolz>&lol9;</lolz>'
    quadratic = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "'
        + "a" * 50_000
        + '">]><x>'
        + "&a;" * 3000
        + "</x>"
    )
    external = '<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://example.net/x.dtd"><x/>'
    parameter = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><x/>'
    )
    for document in (bomb, quadratic, external, parameter):
        started = time.perf_counter()
        with pytest.raises(LocationError, match=r"DTD|larger than"):
            parse_pidf(document)
        assert time.perf_counter() - started < 1.0


def test_size_limit_and_deep_nesting() -> None:
    with pytest.raises(LocationError, match="larger than 100 bytes"):
        parse_pidf(doc(point("50 4")), max_bytes=100)
    deep = HEAD + "<x>" * 9_000 + "</x>" * 9_000 + "</presence>"
    started = time.perf_counter()
    with pytest.raises(LocationError, match="no gp:location-info"):
        parse_pidf(deep)
    assert time.perf_counter() - started < 2.0


def test_bytes_and_text_and_encodings() -> None:
    text = doc(point("50.5 4.5"))
    assert parse_pidf(text) == parse_pidf(text.encode()) == Location("geodetic", "point", 50.5, 4.5)
    latin = text.replace("UTF-8", "ISO-8859-1").replace("</tuple>", "<note>é</note></tuple>")
    assert parse_pidf(latin.encode("latin-1")).latitude == 50.5
    with pytest.raises(LocationError):
        parse_pidf(text.encode("utf-16"))
    with pytest.raises(LocationError, match="not encodable"):
        parse_pidf("\ud800" + text)


# ---------------------------------------------------------------------------------------------
# Never anything but LocationError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse(document: bytes | str) -> None:
    try:
        location = parse_pidf(document)
    except LocationError as exc:
        message = str(exc)
        assert message
        return
    assert location.kind in ("geodetic", "civic")
    if location.latitude is not None:
        assert -90 <= location.latitude <= 90
    if location.longitude is not None:
        assert -180 <= location.longitude <= 180


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_raise_location_error(data: bytes) -> None:
    _parse(data)


@FUZZ
@given(st.text(max_size=2048))
def test_arbitrary_text_only_raises_location_error(data: str) -> None:
    _parse(data)


_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "-", ".", "1e", "+.5", "0x10", "1,5", "  ", "50.8", "4.3", "-0"]),
)
_srs = st.sampled_from(
    ["urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:EPSG::4979", "EPSG:4326", "", "x"]
)


@FUZZ
@given(
    pos=st.lists(_number, max_size=4).map(" ".join),
    srs=_srs,
    radius=_number,
    uom=st.sampled_from(["urn:ogc:def:uom:EPSG::9001", "m", ""]),
    country=st.text(max_size=12),
    as_circle=st.booleans(),
)
def test_odd_geodetic_values_only_raise_location_error(
    *, pos: str, srs: str, radius: str, uom: str, country: str, as_circle: bool
) -> None:
    escaped = country.replace("&", "&amp;").replace("<", "&lt;")
    shape = circle(pos, radius, uom) if as_circle else point(pos, srs)
    civic = f"<ca:civicAddress><ca:country>{escaped}</ca:country></ca:civicAddress>"
    _parse(doc(shape + civic))


_MUTATION_BASE = doc(point("50.8467 4.3525")).encode()


@FUZZ
@given(
    st.lists(st.tuples(st.integers(min_value=0, max_value=2000), st.binary(max_size=6)), max_size=5)
)
def test_mutated_documents_only_raise_location_error(edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(_MUTATION_BASE)
    for offset, junk in edits:
        at = offset % (len(data) + 1)
        data[at : at + len(junk)] = junk
    _parse(bytes(data))
