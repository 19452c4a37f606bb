"""Great-circle distances on the WGS-84 mean radius: good to well under 1 % at township scale."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE_LATITUDE = 111_320.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) containing every point within ``radius_m``: a cheap SQL pre-filter."""
    d_lat = radius_m / METRES_PER_DEGREE_LATITUDE
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    d_lon = min(180.0, radius_m / (METRES_PER_DEGREE_LATITUDE * cos_lat))
    return lat - d_lat, lat + d_lat, lon - d_lon, lon + d_lon
