"""Rule R9 (coordinates): the Belgian province containing a WGS84 point.

A real point-in-area test against province polygons (Brussels-Capital is an enclave of
Vlaams-Brabant, so a nearest-centre guess would be wrong there), with shapely. The polygons
come in as GeoJSON; ``callctl.data.geo.default_provinces()`` loads the shipped ones
(Natural Earth 1:10m admin-1, built by ``scripts/make-provinces``; its accuracy is in
``callctl/data/provinces.README.md``).

Rules of the lookup, all deterministic:

- A point inside no province is outside Belgium (by the data): ``None``.
- A point on the outer edge of a province counts as inside it (``covers``, not ``contains``).
- A point exactly on a border shared by several provinces goes to the one whose name sorts
  first (e.g. ``brussels`` before ``vlaams-brabant``, ``antwerpen`` before
  ``oost-vlaanderen``).
- Invalid coordinates (NaN, infinities, latitude outside [-90, 90], longitude outside
  [-180, 180]) are not a location in Belgium either: ``None``, never an exception, so that an
  emergency call's location check cannot fail on a malformed position. Callers that need to
  tell "garbage" from "abroad" check ``is_valid_wgs84`` first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape


class GeoDataError(ValueError):
    """The province polygons are not usable."""


def is_valid_wgs84(lat: float, lon: float) -> bool:
    """True for finite coordinates with latitude in [-90, 90] and longitude in [-180, 180]."""
    return (
        math.isfinite(lat)
        and math.isfinite(lon)
        and -90.0 <= lat <= 90.0
        and -180.0 <= lon <= 180.0
    )


@dataclass(frozen=True, slots=True)
class _Area:
    name: str
    geometry: Polygon | MultiPolygon  # prepared
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


class ProvinceMap:
    """Province polygons, prepared for fast point lookups.

    Each lookup checks the bounding boxes (11 comparisons), then the prepared polygons whose
    box holds the point, in name order: a few microseconds a lookup.
    """

    __slots__ = ("_areas",)

    def __init__(self, areas: Mapping[str, Polygon | MultiPolygon]) -> None:
        prepared = []
        for name in sorted(areas):  # name order is the tie rule on shared borders
            geometry = areas[name]
            if not isinstance(geometry, Polygon | MultiPolygon):
                raise GeoDataError(f"province {name!r}: not a polygon or multipolygon")
            if geometry.is_empty or not geometry.is_valid:
                raise GeoDataError(
                    f"province {name!r}: invalid geometry ({shapely.is_valid_reason(geometry)})"
                )
            shapely.prepare(geometry)  # now, not lazily on the first (concurrent) lookup
            min_lon, min_lat, max_lon, max_lat = geometry.bounds
            prepared.append(_Area(name, geometry, min_lon, min_lat, max_lon, max_lat))
        if not prepared:
            raise GeoDataError("no province polygons")
        self._areas: tuple[_Area, ...] = tuple(prepared)

    @property
    def names(self) -> tuple[str, ...]:
        """The province names, sorted."""
        return tuple(area.name for area in self._areas)

    def geometry(self, name: str) -> Polygon | MultiPolygon:
        """One province's polygon(s); KeyError for an unknown name."""
        for area in self._areas:
            if area.name == name:
                return area.geometry
        raise KeyError(name)

    def province_at(self, lat: float, lon: float) -> str | None:
        """The province containing the point, or None outside them all or when invalid."""
        if not is_valid_wgs84(lat, lon):
            return None
        for area in self._areas:
            if (
                area.min_lat <= lat <= area.max_lat
                and area.min_lon <= lon <= area.max_lon
                and shapely.intersects_xy(area.geometry, lon, lat)
            ):
                return area.name
        return None


def parse_provinces(data: Mapping[str, Any]) -> ProvinceMap:
    """A GeoJSON FeatureCollection of (Multi)Polygons, named by ``properties.province``."""
    try:
        if data["type"] != "FeatureCollection":
            raise GeoDataError(f"expected a FeatureCollection, got {data['type']!r}")
        areas: dict[str, Polygon | MultiPolygon] = {}
        for feature in data["features"]:
            name = feature["properties"]["province"]
            if not isinstance(name, str) or not name:
                raise GeoDataError(f"feature without a province name: {name!r}")
            if name in areas:
                raise GeoDataError(f"province {name!r} appears twice")
            geometry = shape(feature["geometry"])
            if not isinstance(geometry, Polygon | MultiPolygon):
                raise GeoDataError(f"province {name!r}: {geometry.geom_type} is not an area")
            areas[name] = geometry
    except GeoDataError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise GeoDataError(f"province polygons are not usable GeoJSON: {exc!r}") from None
    return ProvinceMap(areas)
