"""The shipped province polygons (R9, province from coordinates), read once."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from callctl.core.geo import GeoDataError, ProvinceMap, parse_provinces
from callctl.data import read_text

PROVINCES_FILE = "provinces.geojson"


def read_provinces(path: str | Path | None = None) -> ProvinceMap:
    """Read and check a provinces GeoJSON file; the shipped one when ``path`` is None."""
    text = read_text(PROVINCES_FILE, path, GeoDataError, "provinces")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GeoDataError(
            f"provinces file {path or PROVINCES_FILE} is not valid JSON: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise GeoDataError(f"provinces file {path or PROVINCES_FILE} is not a GeoJSON object")
    return parse_provinces(data)


@cache
def default_provinces() -> ProvinceMap:
    """The shipped Belgian provinces (Natural Earth 1:10m admin-1), read and prepared once."""
    return read_provinces()


def province_at(lat: float, lon: float) -> str | None:
    """The Belgian province containing a WGS84 point, by the shipped polygons; None outside.

    See ``callctl.core.geo`` for the rules (borders, invalid input).
    """
    return default_provinces().province_at(lat, lon)
