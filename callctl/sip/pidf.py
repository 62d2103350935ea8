"""A PIDF-LO location document (RFC 4119, RFC 5491, RFC 5139), read safely: pure, no I/O.

The document comes from the caller's device, so it is hostile until proven otherwise. It is
parsed with ``defusedxml`` with every dangerous feature refused: a document type declaration
(DTD) at all — so no entity expansion ("billion laughs"), no external entities, no external
DTD — and it may not be larger than ``MAX_PIDF_BYTES``. Expat parses in linear time and
nothing here uses a backtracking regular expression, so the size limit bounds the time too.

What is read: the first ``gp:location-info`` shape, geodetic ``gml:Point`` or ``gs:Circle``
(RFC 5491: ``srsName`` ``urn:ogc:def:crs:EPSG::4326``, ``gml:pos`` "latitude longitude", radius
in metres), and the first RFC 5139 ``ca:civicAddress`` (country, postal code, A1, A3). Every
problem is a ``LocationError`` — and nothing else is raised — whose message says what is wrong,
so that the caller can record it as the reason the location is not trusted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import fromstring

MAX_PIDF_BYTES = 64 * 1024
"""Largest location document accepted."""

NS_PIDF = "urn:ietf:params:xml:ns:pidf"
NS_GEOPRIV = "urn:ietf:params:xml:ns:pidf:geopriv10"
NS_GML = "http://www.opengis.net/gml"
NS_GS = "http://www.opengis.net/pidflo/1.0"
NS_CIVIC = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
NS_CIVIC_4119 = "urn:ietf:params:xml:ns:pidf:geopriv10:civicLoc"
"""RFC 4119's original civic namespace (superseded by RFC 5139's), read the same way."""

SRS_2D = ("urn:ogc:def:crs:EPSG::4326", "urn:opengis:def:crs:EPSG::4326")
"""WGS 84 latitude/longitude: RFC 5491's name, and the ``opengis`` spelling some devices send."""

SRS_3D = ("urn:ogc:def:crs:EPSG::4979", "urn:opengis:def:crs:EPSG::4979")
"""WGS 84 with altitude (three numbers in ``gml:pos``; the altitude is ignored)."""

UOM_METRE = "urn:ogc:def:uom:EPSG::9001"
"""RFC 5491: the only unit of a radius."""

LocationKind = Literal["geodetic", "civic"]
Shape = Literal["point", "circle"]

_UNSUPPORTED_SHAPES = ("Polygon", "Ellipse", "ArcBand", "Prism", "Sphere", "Ellipsoid")
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")


class LocationError(ValueError):
    """The location document is unusable; ``str()`` says why (for the record's reasons)."""


@dataclass(frozen=True, slots=True)
class Location:
    """A location read from a PIDF-LO document.

    ``kind`` says what to route on: ``geodetic`` when a point or circle was read (its civic
    fields are still filled if the document also carries a civic address), else ``civic``.
    """

    kind: LocationKind
    shape: Shape | None = None
    """``point`` or ``circle`` for a geodetic location; None for a civic one."""

    latitude: float | None = None
    """Degrees north, WGS 84."""

    longitude: float | None = None
    """Degrees east, WGS 84."""

    radius_m: float | None = None
    """Uncertainty radius in metres (``gs:Circle``); None for a point."""

    country: str | None = None
    """ISO 3166-1 alpha-2, upper-case (``BE``), from the civic address."""

    postal_code: str | None = None
    """``ca:PC`` as written, stripped."""

    a1: str | None = None
    """``ca:A1``: national subdivision (province, region)."""

    a3: str | None = None
    """``ca:A3``: city or municipality."""

    method: str | None = None
    """``gp:method`` (``GPS``, ``Cell``, ``Wiremap`` …) if given."""


def _tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _short(tag: str) -> str:
    """``{http://www.opengis.net/gml}Point`` → ``gml:Point`` for messages."""
    prefixes = {NS_GML: "gml", NS_GS: "gs", NS_GEOPRIV: "gp", NS_PIDF: "pidf", NS_CIVIC: "ca"}
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        prefix = prefixes.get(namespace)
        return f"{prefix}:{local}" if prefix else f"{local} (in {namespace})"
    return tag


def _parse_xml(document: bytes | str, max_bytes: int) -> Element:
    try:
        size = len(document.encode("utf-8")) if isinstance(document, str) else len(document)
    except UnicodeEncodeError:
        raise LocationError("the location document is not encodable text") from None
    if size == 0:
        raise LocationError("the location document is empty")
    if size > max_bytes:
        raise LocationError(
            f"the location document is larger than {max_bytes} bytes ({size}): refused"
        )
    try:
        return fromstring(document, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden:
        raise LocationError(
            "the location document has a DTD (document type declaration), which is refused: "
            "PIDF-LO needs none, and DTDs carry entity-expansion ('billion laughs') and "
            "external-entity attacks"
        ) from None
    except EntitiesForbidden as exc:
        raise LocationError(
            f"the location document declares entities ({exc.name}), which is refused: "
            "entity expansion"
        ) from None
    except ExternalReferenceForbidden:
        raise LocationError(
            "the location document refers to an external entity or DTD, which is refused"
        ) from None
    except ParseError as exc:
        raise LocationError(f"the location document is not well-formed XML: {exc}") from None
    except Exception as exc:  # expat's other refusals (encodings, depth): never let one escape
        raise LocationError(
            f"the location document cannot be read as XML: {type(exc).__name__}: {exc}"
        ) from None


def _number(text: str, what: str) -> float:
    token = text.strip()
    if len(token) > 40 or _NUMBER_RE.fullmatch(token) is None:
        raise LocationError(f"{what} {token[:40]!r} is not a decimal number")
    value = float(token)
    if not math.isfinite(value):
        raise LocationError(f"{what} {token[:40]!r} is not a finite number")
    return value


def coordinates(pos: str, three_d: bool) -> tuple[float, float]:
    """Latitude and longitude from a ``gml:pos`` text ("lat lon", or "lat lon alt" in 3D)."""
    numbers = pos.split()
    expected = 3 if three_d else 2
    if len(numbers) != expected:
        raise LocationError(
            f"gml:pos {' '.join(numbers)[:60]!r} should hold {expected} numbers "
            f"(latitude longitude{' altitude' if expected == 3 else ''})"
        )
    latitude = _number(numbers[0], "latitude")
    longitude = _number(numbers[1], "longitude")
    if expected == 3:
        _number(numbers[2], "altitude")
    if not -90.0 <= latitude <= 90.0:
        raise LocationError(f"latitude {latitude} is out of range (-90 to 90)")
    if not -180.0 <= longitude <= 180.0:
        raise LocationError(f"longitude {longitude} is out of range (-180 to 180)")
    return latitude, longitude


def radius_metres(text: str) -> float:
    """An uncertainty radius in metres: a finite, non-negative number."""
    metres = _number(text, "radius")
    if metres < 0:
        raise LocationError(f"radius {metres} is negative")
    return metres


def _lat_lon(shape: Element, srs: str) -> tuple[float, float]:
    pos = shape.find(_tag(NS_GML, "pos"))
    if pos is None:
        raise LocationError(f"{_short(shape.tag)} has no gml:pos")
    return coordinates(pos.text or "", srs in SRS_3D)


def _srs(shape: Element) -> str:
    srs = (shape.get("srsName") or "").strip()
    if not srs:
        raise LocationError(f"{_short(shape.tag)} has no srsName (RFC 5491 requires EPSG::4326)")
    if srs not in SRS_2D + SRS_3D:
        raise LocationError(
            f"{_short(shape.tag)} srsName {srs[:80]!r} is not {SRS_2D[0]} (WGS 84 latitude "
            "longitude): coordinates in another system are not read"
        )
    return srs


def _geodetic(shape: Element) -> Location:
    srs = _srs(shape)
    latitude, longitude = _lat_lon(shape, srs)
    if shape.tag == _tag(NS_GML, "Point"):
        return Location("geodetic", "point", latitude, longitude)
    radius = shape.find(_tag(NS_GS, "radius"))
    if radius is None:
        radius = shape.find(_tag(NS_GML, "radius"))
    if radius is None:
        raise LocationError(f"{_short(shape.tag)} has no gs:radius")
    uom = (radius.get("uom") or "").strip()
    if uom != UOM_METRE:
        raise LocationError(f"radius unit {uom[:80]!r} is not metres ({UOM_METRE})")
    return Location("geodetic", "circle", latitude, longitude, radius_metres(radius.text or ""))


def _civic_text(address: Element, namespace: str, name: str) -> str | None:
    element = address.find(_tag(namespace, name))
    if element is None:
        return None
    return " ".join((element.text or "").split()) or None


def civic_location(
    country: str | None, postal_code: str | None, a1: str | None, a3: str | None
) -> Location:
    """A civic location from RFC 5139 fields (a document's, or the PBX's reading of one)."""
    if country is not None:
        country = country.upper()
        if _COUNTRY_RE.fullmatch(country) is None:
            raise LocationError(f"civic country {country[:40]!r} is not an ISO 3166 alpha-2 code")
    if country is None and postal_code is None and a1 is None and a3 is None:
        raise LocationError("the civic address has no country, postal code, A1 or A3")
    return Location("civic", country=country, postal_code=postal_code, a1=a1, a3=a3)


def _civic(address: Element) -> Location:
    namespace = address.tag[1:].partition("}")[0]
    return civic_location(
        *(_civic_text(address, namespace, name) for name in ("country", "PC", "A1", "A3"))
    )


def parse_pidf(document: bytes | str, *, max_bytes: int = MAX_PIDF_BYTES) -> Location:
    """The location in a PIDF-LO document; ``LocationError`` saying why when there is none.

    Looks in every ``gp:location-info`` (under a tuple, device or person). The first geodetic
    ``gml:Point`` or ``gs:Circle`` wins, and an invalid one (wrong ``srsName``, latitude or
    longitude out of range, radius not in metres …) is an error even if a civic address is also
    there: a document that contradicts itself is not trusted. Shapes callctl does not read
    (polygon, ellipse, arc band, prism, sphere, ellipsoid) are skipped; a document with nothing
    else is an error. A civic address fills the civic fields.
    """
    root = _parse_xml(document, max_bytes)
    if root.tag != _tag(NS_PIDF, "presence"):
        raise LocationError(f"not a PIDF document: the root element is {_short(root.tag)}")
    infos = list(root.iter(_tag(NS_GEOPRIV, "location-info")))
    if not infos:
        raise LocationError("the PIDF document carries no location (no gp:location-info)")
    geodetic: Location | None = None
    civic: Location | None = None
    unsupported: list[str] = []
    point_tags = (_tag(NS_GML, "Point"),)
    circle_tags = (_tag(NS_GS, "Circle"), _tag(NS_GML, "Circle"))
    civic_tags = (_tag(NS_CIVIC, "civicAddress"), _tag(NS_CIVIC_4119, "civicAddress"))
    other_tags = {
        _tag(namespace, name) for namespace in (NS_GML, NS_GS) for name in _UNSUPPORTED_SHAPES
    }
    for info in infos:
        for element in info.iter():
            if geodetic is None and element.tag in point_tags + circle_tags:
                geodetic = _geodetic(element)
            elif civic is None and element.tag in civic_tags:
                civic = _civic(element)
            elif element.tag in other_tags:
                unsupported.append(_short(element.tag))
    method_element = root.find(f".//{_tag(NS_GEOPRIV, 'method')}")
    method = None
    if method_element is not None:
        method = " ".join((method_element.text or "").split()) or None
    if geodetic is not None:
        extra = civic or Location("civic")
        return Location(
            "geodetic",
            geodetic.shape,
            geodetic.latitude,
            geodetic.longitude,
            geodetic.radius_m,
            extra.country,
            extra.postal_code,
            extra.a1,
            extra.a3,
            method,
        )
    if civic is not None:
        return Location(
            "civic",
            country=civic.country,
            postal_code=civic.postal_code,
            a1=civic.a1,
            a3=civic.a3,
            method=method,
        )
    if unsupported:
        raise LocationError(
            f"the location is a {', '.join(dict.fromkeys(unsupported))}, which callctl does "
            "not read (it reads gml:Point, gs:Circle and civic addresses)"
        )
    raise LocationError(
        "gp:location-info holds no location (no gml:Point, gs:Circle or civic address)"
    )
