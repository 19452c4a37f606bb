"""National scale: open cases over all 38,723 township-level units, as dedup table rows and as reports to decide."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
import shapely

from services.dispatch.domain import dedup
from services.reference.geography import _districts
from services.reference.loader import load_national_townships, load_reference_data

REPEAT_SHARE = 0.3  # extra findings per case already merged into it (membership rows), as in the sample day


def _uuid_text(pick: random.Random) -> str:
    """A random id in the uuid text form the services use (36 characters), cheaper than uuid5 at a million."""
    h = f"{pick.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Category:
    code: str
    dedup_group: str
    radius_m: float
    takes_uscc: bool


@cache
def categories() -> tuple[Category, ...]:
    return tuple(Category(c.code, c.dedup_group, c.dedup_radius_m, any(k.value == "uscc" for k in c.subject_kinds))
                 for c in sorted(load_reference_data().categories.values(), key=lambda c: c.code))


@cache
def _county_shapes() -> dict[str, shapely.Geometry]:
    codes, shapes, _prepared, _tree = _districts()
    return dict(zip(codes, shapes, strict=True))


def _polygon_for(county_code: str) -> shapely.Geometry:
    """The county's polygon; for the few codes the map lacks (newer divisions), a neighbour in its prefecture."""
    shapes = _county_shapes()
    if county_code in shapes:
        return shapes[county_code]
    for prefix_length in (4, 2):
        for code in sorted(shapes):
            if code[:prefix_length] == county_code[:prefix_length]:
                return shapes[code]
    raise KeyError(county_code)


def points_in_county(county_code: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` uniformly random (lat, lon) inside the county: vectorised rejection sampling on its bounds."""
    if count == 0:
        return np.empty((0, 2))
    polygon = _polygon_for(county_code)
    shapely.prepare(polygon)
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    found: list[np.ndarray] = []
    have = 0
    while have < count:
        lon = rng.uniform(min_lon, max_lon, count * 2 + 16)
        lat = rng.uniform(min_lat, max_lat, count * 2 + 16)
        inside = shapely.contains_xy(polygon, lon, lat)
        chunk = np.column_stack([lat[inside], lon[inside]])
        found.append(chunk)
        have += len(chunk)
    return np.round(np.concatenate(found)[:count], 6)


def open_cases(total: int, seed: int = 38723) -> Iterator[dedup.OpenCase]:
    """``total`` open cases spread evenly over every township-level unit of China, categories drawn uniformly."""
    townships = load_national_townships()
    by_county: dict[str, int] = {}
    for index, township in enumerate(townships):
        # Even spread: township i gets floor or ceil of total / n cases.
        share = (index + 1) * total // len(townships) - index * total // len(townships)
        by_county[township.county_code] = by_county.get(township.county_code, 0) + share
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    cats = categories()
    opened = datetime(2026, 1, 1, tzinfo=UTC)
    serial = 0
    for county_code, count in sorted(by_county.items()):
        for lat, lon in points_in_county(county_code, count, rng):
            category = pick.choice(cats)
            subjects: dedup.Subjects = frozenset()
            if category.takes_uscc and pick.random() < 0.5:
                subjects = frozenset({("uscc", f"91{county_code}{serial:09d}X")})
            yield dedup.OpenCase(
                case_id=_uuid_text(pick), dedup_group=category.dedup_group, category_code=category.code,
                latitude=float(lat), longitude=float(lon), radius_m=category.radius_m, subjects=subjects,
                opened_at=opened + timedelta(seconds=serial % 31_536_000), finding_count=1)
            serial += 1


def finding_ids(serial: int, pick: random.Random) -> list[str]:
    """The findings of a case: its opening finding, plus a merged repeat for REPEAT_SHARE of the cases."""
    return [_uuid_text(pick) for _ in range(2 if serial % 10 < REPEAT_SHARE * 10 else 1)]


def rows(total: int, seed: int = 38723) -> Iterator[dedup.Row]:
    """The dedup tables' rows for ``total`` open cases: one case row and its membership rows per case."""
    pick = random.Random(seed + 1)
    for serial, case in enumerate(open_cases(total, seed)):
        members = finding_ids(serial, pick)
        case.finding_count = len(members)
        yield dedup.Row(dedup.CASES_TABLE, case.case_id, case.to_dict())
        for finding_id in members:
            yield dedup.Row(dedup.MEMBERS_TABLE, finding_id, {"case_id": case.case_id})


def reports(cases: list[dedup.OpenCase], count: int, seed: int) -> list[dedup.Report]:
    """New findings to decide: half repeat an open case a few metres away, half are somewhere else entirely."""
    pick = random.Random(seed)
    cats = categories()
    out = []
    for index in range(count):
        if index % 2 == 0:
            case = pick.choice(cases)
            lat = case.latitude + pick.uniform(-1, 1) * 0.0002
            lon = case.longitude + pick.uniform(-1, 1) * 0.0002
            group, category, radius, subjects = case.dedup_group, case.category_code, case.radius_m, case.subjects
        else:
            other = pick.choice(cases)  # a real place in China, moved by up to ~5 km
            lat = other.latitude + pick.uniform(-1, 1) * 0.05
            lon = other.longitude + pick.uniform(-1, 1) * 0.05
            chosen = pick.choice(cats)
            group, category, radius, subjects = chosen.dedup_group, chosen.code, chosen.radius_m, frozenset()
        out.append(dedup.Report(
            finding_id=f"bench-report-{seed}-{index}", dedup_group=group, category_code=category,
            latitude=max(-90.0, min(90.0, lat)), longitude=lon, trusted_at=datetime(2026, 11, 27, tzinfo=UTC),
            subjects=subjects, radius_m=radius))
    return out
