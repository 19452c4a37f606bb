"""Points around cluster centres for dedup's property tests: close enough to merge, far enough apart not to.

h3 uses a sphere of this radius, so offsets computed on it are the distances dedup measures.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

EARTH_RADIUS_M = 6371007.180918475  # h3's sphere
T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
CLUSTER_SPREAD_M = 14.0  # every point within 14 m of its cluster centre: pairwise <= 28 m < the smallest radius
CLUSTER_SPACING_M = 500.0  # points of two clusters are >= 472 m apart: more than 2x the largest radius


def offset(lat: float, lon: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lat, lon) along ``bearing_deg`` on the sphere."""
    la, lo, b, d = math.radians(lat), math.radians(lon), math.radians(bearing_deg), metres / EARTH_RADIUS_M
    la2 = math.asin(math.sin(la) * math.cos(d) + math.cos(la) * math.sin(d) * math.cos(b))
    lo2 = lo + math.atan2(math.sin(b) * math.sin(d) * math.cos(la), math.cos(d) - math.sin(la) * math.sin(la2))
    return math.degrees(la2), math.degrees(lo2)
