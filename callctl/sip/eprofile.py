"""The location as Asterisk read it (``res_pjsip_geolocation``): pure, no I/O.

Live, the caller's PIDF-LO body never reaches callctl as bytes: Asterisk has no dialplan
function that reads a request body. ``res_pjsip_geolocation`` parses the ``Geolocation``
header and the ``cid:`` body part itself (with libxml2, which refuses entity loops and
external entities) and keeps the result as the channel's effective profile; the dialplan
passes ``GEOLOC_PROFILE(format)`` and ``GEOLOC_PROFILE(location_info)`` to the AGI. That
profile is a list of ``name="value"`` pairs, for example::

    GML           shape="Circle",crs="2d",pos="50.8837 4.4718",radius="35"
    civicAddress  country="BE",A1="Namur",PC="5000"
    URI           URI="https://lis.example.net/loc/8f3a2c"

This module turns it into the same :class:`~callctl.sip.pidf.Location` as a PIDF-LO read
offline, with the same checks (WGS 84 only, ranges, metres), so that R9 decides alike.
What Asterisk keeps is less than the document: a location by reference (``URI``) is not
read (callctl does not dereference), and a document holding both a point and a civic
address comes out as one of them (see docs/emergency.md, "Live and offline").
"""

from __future__ import annotations

import re
from dataclasses import replace

from callctl.sip.pidf import (
    Location,
    LocationError,
    civic_location,
    coordinates,
    radius_metres,
)

MAX_PROFILE_CHARS = 4096
"""Longest ``location_info`` read (AGI arguments are short; a longer one is refused)."""

_PAIR_RE = re.compile(r'\s*([A-Za-z0-9_.-]{1,40})="([^"]{0,1000})"\s*(?:,|$)')
_CRS_3D = {"2d": False, "3d": True}


def parse_location_info(text: str) -> dict[str, str]:
    """``name="value"`` pairs, in order; ``LocationError`` if the text is not such a list."""
    if len(text) > MAX_PROFILE_CHARS:
        raise LocationError(f"the PBX's location is longer than {MAX_PROFILE_CHARS} characters")
    pairs: dict[str, str] = {}
    at = 0
    while at < len(text):
        match = _PAIR_RE.match(text, at)
        if match is None:
            raise LocationError(
                f'the PBX\'s location is not name="value" pairs: {text[at:][:60]!r}'
            )
        pairs.setdefault(match.group(1), match.group(2))
        at = match.end()
    if not pairs:
        raise LocationError("the PBX passed an empty location")
    return pairs


def _geodetic(info: dict[str, str]) -> Location:
    crs = info.get("crs", "")
    if crs not in _CRS_3D:
        raise LocationError(
            f"coordinates in reference system {crs or 'absent'!r}: only WGS 84 "
            "(EPSG::4326, read by the PBX as 2d) is read"
        )
    shape = info.get("shape", "")
    latitude, longitude = coordinates(info.get("pos", ""), _CRS_3D[crs])
    if shape == "Point":
        return Location("geodetic", "point", latitude, longitude)
    if shape == "Circle":
        return Location(
            "geodetic", "circle", latitude, longitude, radius_metres(info.get("radius", ""))
        )
    raise LocationError(
        f"the location is a {shape or 'shape not given'!r}, which callctl does not read "
        "(it reads points, circles and civic addresses)"
    )


def location_from_profile(format_: str, location_info: str, method: str = "") -> Location:
    """The location in Asterisk's effective profile; ``LocationError`` saying why if none."""
    info = parse_location_info(location_info)
    kind = format_.strip()
    if kind == "GML":
        location = _geodetic(info)
    elif kind == "civicAddress":
        location = civic_location(
            info.get("country"), info.get("PC"), info.get("A1"), info.get("A3")
        )
    elif kind == "URI":
        raise LocationError(
            f"the location is a reference ({info.get('URI', '')[:80]!r}), not a value: "
            "callctl does not dereference locations"
        )
    else:
        raise LocationError(f"the PBX read a location of unknown format {kind[:40]!r}")
    return replace(location, method=method.strip() or None)
