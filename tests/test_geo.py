"""R9: the province containing a WGS84 point, by point-in-polygon over the shipped data.

The shipped polygons are Natural Earth 1:10m admin-1 (callctl/data/provinces.README.md has
their accuracy: borders are right to a few hundred metres, up to about 1 km along the
national border; the Baarle-Hertog enclaves are missing and Zwijndrecht is still in Antwerpen,
as before 2025: both are strict xfails below). The border points below were
chosen from that data: 300 m either side of the middle of a long shared border segment, and at
least 270 m from any other border.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, Polygon

from callctl.core.geo import GeoDataError, ProvinceMap, is_valid_wgs84, parse_provinces
from callctl.data import default_emergency_plan
from callctl.data.geo import PROVINCES_FILE, default_provinces, province_at, read_provinces

PROVINCES = default_provinces()

CITIES = [
    ("Grand-Place, Brussels", 50.8467, 4.3525, "brussels"),
    ("Uccle", 50.8017, 4.3370, "brussels"),
    ("Zaventem", 50.8837, 4.4718, "vlaams-brabant"),
    ("Leuven", 50.8798, 4.7005, "vlaams-brabant"),
    ("Waterloo", 50.7147, 4.3992, "brabant-wallon"),
    ("Wavre", 50.7170, 4.6140, "brabant-wallon"),
    ("Antwerpen", 51.2194, 4.4025, "antwerpen"),
    ("Hasselt", 50.9307, 5.3325, "limburg"),
    ("Gent", 51.0543, 3.7174, "oost-vlaanderen"),
    ("Brugge", 51.2093, 3.2247, "west-vlaanderen"),
    ("Mons", 50.4542, 3.9567, "hainaut"),
    ("Liège", 50.6326, 5.5797, "liege"),
    ("Arlon", 49.6833, 5.8167, "luxembourg"),
    ("Namur", 50.4674, 4.8720, "namur"),
    # Exclaves that the data does have.
    ("Ploegsteert (Comines-Warneton, Hainaut's exclave)", 50.72659, 2.88019, "hainaut"),
    ("Sint-Pieters-Voeren (Voeren, Limburg's exclave)", 50.73863, 5.82224, "limburg"),
]

ABROAD = [
    ("Lille", 50.6292, 3.0573),
    ("Maastricht", 50.8514, 5.6910),
    ("Luxembourg city", 49.6116, 6.1319),
    ("Aachen", 50.7753, 6.0839),
    ("Paris", 48.8566, 2.3522),
    ("North Sea", 51.5, 2.5),
    ("Baarle-Nassau (GeoNames' point for it, in the Netherlands)", 51.4475, 4.92917),
    ("Null Island", 0.0, 0.0),
]

# (where, inside lat, lon, province) pairs a few hundred metres apart across a border.
BORDERS = [
    # The Brussels / Vlaams-Brabant border, around the ring.
    (
        "Brussels | Vlaams-Brabant, north",
        (50.89818, 4.35527, "brussels"),
        (50.90353, 4.35668, "vlaams-brabant"),
    ),
    (
        "Brussels | Vlaams-Brabant, east",
        (50.83655, 4.46410, "brussels"),
        (50.83820, 4.47223, "vlaams-brabant"),
    ),
    (
        "Brussels | Vlaams-Brabant, south-east (Sonian Forest)",
        (50.78400, 4.43708, "brussels"),
        (50.77921, 4.44110, "vlaams-brabant"),
    ),
    (
        "Brussels | Vlaams-Brabant, west",
        (50.84739, 4.29015, "brussels"),
        (50.84866, 4.28185, "vlaams-brabant"),
    ),
    (
        "Brussels | Vlaams-Brabant, south-west",
        (50.79785, 4.31829, "brussels"),
        (50.79553, 4.31057, "vlaams-brabant"),
    ),
    (
        "Brabant wallon | Vlaams-Brabant",
        (50.76441, 4.87077, "brabant-wallon"),
        (50.76980, 4.86990, "vlaams-brabant"),
    ),
    (
        "Antwerpen | Oost-Vlaanderen (Scheldt: Hingene | Steendorp)",
        (51.12125, 4.25595, "antwerpen"),
        (51.12667, 4.25595, "oost-vlaanderen"),
    ),
    ("Hainaut | Namur", (50.02305, 4.40651, "hainaut"), (50.02358, 4.41498, "namur")),
    ("Luxembourg | Namur", (50.09141, 5.14046, "luxembourg"), (50.09682, 5.13986, "namur")),
    ("Liège | Limburg", (50.76563, 5.56642, "liege"), (50.77083, 5.56399, "limburg")),
    (
        "Oost- | West-Vlaanderen",
        (51.07694, 3.38969, "oost-vlaanderen"),
        (51.07251, 3.38479, "west-vlaanderen"),
    ),
    ("Liège | Luxembourg", (50.26515, 6.01448, "liege"), (50.26536, 6.00598, "luxembourg")),
    ("Antwerpen | Limburg", (51.08283, 5.04900, "antwerpen"), (51.07750, 5.05065, "limburg")),
    (
        "Brabant wallon | Hainaut",
        (50.53780, 4.54499, "brabant-wallon"),
        (50.53280, 4.54831, "hainaut"),
    ),
]


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance, good to well under 1% over a few km in Belgium."""
    k = math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot((a[0] - b[0]) * 110_574, (a[1] - b[1]) * 111_320 * k)


@pytest.mark.parametrize(("where", "lat", "lon", "province"), CITIES)
def test_cities(where: str, lat: float, lon: float, province: str) -> None:
    assert province_at(lat, lon) == province, where


@pytest.mark.parametrize(("where", "lat", "lon"), ABROAD)
def test_points_abroad_are_none(where: str, lat: float, lon: float) -> None:
    assert province_at(lat, lon) is None, where


@pytest.mark.xfail(
    reason="Natural Earth 1:10m has no Baarle-Hertog enclaves: the point is in the Netherlands "
    "by the shipped data (see provinces.README.md)",
    strict=True,
)
def test_baarle_hertog_enclave() -> None:
    assert province_at(51.4418, 4.9269) == "antwerpen"


@pytest.mark.xfail(
    reason="Zwijndrecht (with Burcht) moved to Oost-Vlaanderen on 1 January 2025 "
    "(Beveren-Kruibeke-Zwijndrecht); the Natural Earth data predates it (see provinces.README.md)",
    strict=True,
)
def test_zwijndrecht_is_in_oost_vlaanderen_since_2025() -> None:
    assert province_at(51.21979, 4.32664) == "oost-vlaanderen"


@pytest.mark.parametrize(("where", "side_a", "side_b"), BORDERS, ids=[b[0] for b in BORDERS])
def test_points_either_side_of_a_border(
    where: str, side_a: tuple[float, float, str], side_b: tuple[float, float, str]
) -> None:
    (lat_a, lon_a, want_a), (lat_b, lon_b, want_b) = side_a, side_b
    assert 400 <= metres_between((lat_a, lon_a), (lat_b, lon_b)) <= 800
    assert province_at(lat_a, lon_a) == want_a
    assert province_at(lat_b, lon_b) == want_b
    # The border between them is the shared one, and both points stay clear of it.
    shared = PROVINCES.geometry(want_a).boundary.intersection(PROVINCES.geometry(want_b).boundary)
    for lat, lon in ((lat_a, lon_a), (lat_b, lon_b)):
        gap_degrees = shared.distance(Point(lon, lat))
        assert 0.002 < gap_degrees < 0.006, where  # about 150 to 450 m


def test_brussels_is_an_enclave_of_vlaams_brabant() -> None:
    brussels = PROVINCES.geometry("brussels")
    vlaams_brabant = PROVINCES.geometry("vlaams-brabant")
    assert isinstance(brussels, Polygon)
    holes = [Polygon(ring) for ring in getattr(vlaams_brabant, "interiors", [])]
    assert any(hole.equals(Polygon(brussels.exterior)) for hole in holes)
    centroid = brussels.centroid
    assert province_at(centroid.y, centroid.x) == "brussels"
    assert not vlaams_brabant.covers(centroid)


def polygon(name: str) -> Polygon:
    geometry = PROVINCES.geometry(name)
    assert isinstance(geometry, Polygon)
    return geometry


def test_point_on_a_shared_border_goes_to_the_first_name() -> None:
    # A vertex of the Brussels outline is also a vertex of Vlaams-Brabant's hole.
    lon, lat = polygon("brussels").exterior.coords[0]
    assert PROVINCES.geometry("vlaams-brabant").covers(Point(lon, lat))
    assert province_at(lat, lon) == "brussels"  # "brussels" < "vlaams-brabant"


def test_point_where_three_provinces_meet() -> None:
    names = ("brabant-wallon", "hainaut", "vlaams-brabant")
    boundaries = [PROVINCES.geometry(name).boundary for name in names]
    meeting = shapely.intersection_all(boundaries)
    points = [g for g in shapely.get_parts(meeting) if g.geom_type == "Point"]
    assert points, "the data should have a vertex shared by the three"
    for point in points:
        assert province_at(point.y, point.x) == "brabant-wallon"


def test_point_on_the_national_border_counts_as_inside() -> None:
    lon, lat = polygon("west-vlaanderen").exterior.coords[0]
    assert province_at(lat, lon) == "west-vlaanderen"
    assert province_at(lat, lon + 1e-9) in ("west-vlaanderen", None)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (math.nan, 4.35),
        (50.85, math.nan),
        (math.inf, 4.35),
        (50.85, -math.inf),
        (90.000001, 4.35),
        (-91.0, 4.35),
        (50.85, 180.5),
        (50.85, -181.0),
        (4.35, 50.85),  # swapped: in the Arabian Sea, no province
    ],
)
def test_invalid_or_swapped_coordinates_are_none(lat: float, lon: float) -> None:
    assert province_at(lat, lon) is None


def test_is_valid_wgs84() -> None:
    assert is_valid_wgs84(50.85, 4.35)
    assert is_valid_wgs84(90, -180)
    assert not is_valid_wgs84(math.nan, 4.35)
    assert not is_valid_wgs84(91, 4.35)
    assert not is_valid_wgs84(50.85, 181)


def test_shipped_provinces_are_the_emergency_plans() -> None:
    assert set(PROVINCES.names) == set(default_emergency_plan().psap_centre)
    assert len(PROVINCES.names) == 11


def test_shipped_file_is_small_and_says_where_it_comes_from() -> None:
    path = Path(__file__).resolve().parent.parent / "callctl" / "data" / PROVINCES_FILE
    assert path.stat().st_size < 1_000_000
    meta = json.loads(path.read_text("utf-8"))["properties"]
    assert "Natural Earth" in meta["source"]
    assert "public domain" in meta["licence"]


def test_provinces_do_not_overlap() -> None:
    names = PROVINCES.names
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert PROVINCES.geometry(a).intersection(PROVINCES.geometry(b)).area < 1e-12


# --- the parser and the map on their own -----------------------------------------------------


def square(x0: float, y0: float, size: float = 1.0) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [
            [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
        ],
    }


def collection(*features: tuple[Any, Any]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"province": name}, "geometry": geometry}
            for name, geometry in features
        ],
    }


def test_tie_rule_does_not_depend_on_file_order() -> None:
    # "b" first in the file; the shared edge x = 1 still goes to "a".
    pm = parse_provinces(collection(("b", square(1, 0)), ("a", square(0, 0))))
    assert pm.names == ("a", "b")
    assert pm.province_at(0.5, 1.0) == "a"
    assert pm.province_at(0.5, 0.5) == "a"
    assert pm.province_at(0.5, 1.5) == "b"
    assert pm.province_at(0.5, 2.5) is None


def test_multipolygon_and_holes() -> None:
    ring = {
        "type": "Polygon",
        "coordinates": [
            [[0, 0], [3, 0], [3, 3], [0, 3], [0, 0]],
            [[1, 1], [1, 2], [2, 2], [2, 1], [1, 1]],
        ],
    }
    two = {
        "type": "MultiPolygon",
        "coordinates": [square(10, 0)["coordinates"], square(20, 0)["coordinates"]],
    }
    pm = parse_provinces(collection(("ring", ring), ("hole", square(1, 1)), ("two", two)))
    assert pm.province_at(1.5, 1.5) == "hole"
    assert pm.province_at(0.5, 0.5) == "ring"
    assert pm.province_at(0.5, 10.5) == "two"
    assert pm.province_at(0.5, 20.5) == "two"
    assert pm.province_at(0.5, 15.5) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "Feature"}, "FeatureCollection"),
        ({"type": "FeatureCollection"}, "not usable"),
        ({"type": "FeatureCollection", "features": []}, "no province"),
        (collection(("a", square(0, 0)), ("a", square(5, 0))), "twice"),
        (collection(("", square(0, 0))), "without a province name"),
        (collection((7, square(0, 0))), "without a province name"),
        (collection(("a", {"type": "Point", "coordinates": [0, 0]})), "not an area"),
        (
            collection(
                (
                    "bowtie",
                    {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
                )
            ),
            "invalid geometry",
        ),
        (collection(("a", {"type": "Polygon"})), "not usable"),
        ({"type": "FeatureCollection", "features": [{"geometry": square(0, 0)}]}, "not usable"),
    ],
)
def test_bad_data_is_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(GeoDataError, match=message):
        parse_provinces(data)


def test_map_refuses_non_polygons() -> None:
    with pytest.raises(GeoDataError, match="not a polygon"):
        ProvinceMap({"a": Point(0, 0)})  # type: ignore[dict-item]


def test_read_provinces_errors(tmp_path: Path) -> None:
    with pytest.raises(GeoDataError, match="cannot read"):
        read_provinces(tmp_path / "missing.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json", "utf-8")
    with pytest.raises(GeoDataError, match="not valid JSON"):
        read_provinces(bad)
    bad.write_text("[]", "utf-8")
    with pytest.raises(GeoDataError, match="not a GeoJSON object"):
        read_provinces(bad)
    good = tmp_path / "good.geojson"
    good.write_text(json.dumps(collection(("a", square(0, 0)))), "utf-8")
    assert read_provinces(good).province_at(0.5, 0.5) == "a"


def test_unknown_province_geometry() -> None:
    with pytest.raises(KeyError):
        PROVINCES.geometry("flanders")
