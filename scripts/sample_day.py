"""A realistic, reproducible day of patrol findings for Dandong's 84 townships, repeat reports included.

Repeats come in three kinds, as in the field: the same violation reported again by another source (a second patrol,
the 12345 hotline, a camera) a few metres away; an app re-sending a report it already sent (same client id); and
distinct violations side by side (different category or subject) that must stay separate cases.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

from stdnum.cn import uscc

from services.reference.geography import random_point_in_county
from services.reference.loader import ReferenceData

CHINA_TZ = timezone(timedelta(hours=8))
SOURCES_FOR_REPEATS = ("hotline_12345", "video", "patrol")
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@dataclass(frozen=True)
class PlannedSubmission:
    """One HTTP submission: who sends it and the JSON body."""

    principal: str  # "officer:<township>" | "hotline" | "video"
    body: dict
    violation: int  # index of the underlying violation (ground truth for the demo's summary)
    resend: bool = False


def valid_uscc(rng: random.Random, county_code: str = "210602") -> str:
    """A unified social credit code of a company registered in the county, valid by python-stdnum."""
    while True:  # the embedded organisation code has its own check; draw until the whole code validates
        body = "91" + county_code + "".join(rng.choice(_USCC_ALPHABET[:10]) for _ in range(9))
        code = body + uscc.calc_check_digit(body)
        if uscc.is_valid(code):
            return code


def _offset(lat: float, lon: float, metres: float, rng: random.Random) -> tuple[float, float]:
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = metres * math.cos(bearing) / 111_320
    dlon = metres * math.sin(bearing) / (111_320 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def sample_day(reference: ReferenceData, day: date, seed: int = 20261127,
               violations_per_township: tuple[int, int] = (2, 5), repeat_share: float = 0.3) -> list[PlannedSubmission]:
    rng = random.Random(seed)
    found_at = datetime.combine(day, time(9, 0), CHINA_TZ).astimezone(UTC)
    plan: list[PlannedSubmission] = []
    violation = 0
    for township in sorted(reference.townships.values(), key=lambda t: t.code):
        categories = sorted(reference.categories_for_township(township.code, found_at).values(),
                            key=lambda c: c.code)
        for _ in range(rng.randint(*violations_per_township)):
            category = rng.choice(categories)
            lat, lon = random_point_in_county(township.county_code, rng)
            subjects = []
            if "uscc" in category.subject_kinds and rng.random() < 0.5:
                subjects = [{"kind": "uscc", "value": valid_uscc(rng, township.county_code)}]
            observed = found_at + timedelta(minutes=rng.randint(0, 8 * 60))
            client_id = f"{day:%Y%m%d}-{township.code}-{violation:05d}"
            body = {
                "client_report_id": client_id, "township_code": township.code, "category_code": category.code,
                "location": {"latitude": lat, "longitude": lon, "datum": "WGS-84"},
                "observed_at": observed.isoformat(), "source": "patrol",
                "description": f"巡查發現疑似{category.name}，位置見坐標。",
                "subjects": subjects,
            }
            officer = f"officer:{township.code}"
            plan.append(PlannedSubmission(officer, body, violation))
            if rng.random() < 0.1:  # the app lost the answer and sends the very same report again
                plan.append(PlannedSubmission(officer, dict(body), violation, resend=True))
            if rng.random() < repeat_share:  # the same violation, reported again by another source
                source = rng.choice(SOURCES_FOR_REPEATS)
                rlat, rlon = _offset(lat, lon, rng.uniform(3, min(30.0, category.dedup_radius_m * 0.6)), rng)
                repeat = dict(body, client_report_id=f"{client_id}-r-{source}", source=source,
                              location={"latitude": rlat, "longitude": rlon, "datum": "WGS-84"},
                              observed_at=(observed + timedelta(minutes=rng.randint(5, 240))).isoformat(),
                              description=f"群眾反映：{category.name}。")
                principal = officer if source == "patrol" else source
                plan.append(PlannedSubmission(principal, repeat, violation))
            violation += 1
    rng.shuffle(plan)
    return plan
