"""Realistic findings: the sample day's generator (repeat reports, spread over townships and categories), scaled up."""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from shapely import Point
from shapely.prepared import PreparedGeometry, prep

import scripts.sample_day as sample_day_module
from schemas.api import FindingSubmission
from schemas.events import FindingReported
from scripts.sample_day import PlannedSubmission, sample_day
from services.common.envelope import Record, encode
from services.patrol.domain.access import Principal
from services.patrol.domain.intake import Rejected, build_finding
from services.reference.geography import county_polygon
from services.reference.loader import ReferenceData, load_reference_data
from services.reference.model import Category

# sample_day: 1 report per violation, a repeat from another source for 30 %, an app re-send for 10 % (patrol answers
# re-sends from its idempotency store, so they never reach the findings topic and are left out of the pre-load).
FINDINGS_PER_VIOLATION = 1.3


@cache
def _prepared_county(county_code: str) -> tuple[PreparedGeometry, tuple[float, float, float, float]]:
    polygon = county_polygon(county_code)
    return prep(polygon), polygon.bounds


def _random_point_in_county(county_code: str, rng: random.Random) -> tuple[float, float]:
    # The same rejection sampling (same draws, same points) as services.reference.geography.random_point_in_county,
    # with the prepared polygon kept: preparing it on every call is most of sample_day's time at this scale.
    checker, (min_lon, min_lat, max_lon, max_lat) = _prepared_county(county_code)
    for _attempt in range(10_000):
        lon, lat = rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat)
        if checker.contains(Point(lon, lat)):
            return round(lat, 6), round(lon, 6)
    raise RuntimeError(f"could not sample a point inside county {county_code}")


def plan(count: int, seed: int, tag: str) -> list[PlannedSubmission]:
    """At least ``count`` submissions of one day (re-sends left out), client ids prefixed with ``tag``."""
    reference = load_reference_data()
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    wanted = count * 1.05  # the repeat draws are random: aim a little high, and again higher if still short
    while True:
        per_township = wanted / FINDINGS_PER_VIOLATION / len(reference.townships)
        spread = (max(1, int(per_township * 0.85)), int(per_township * 1.15) + 2)
        original = sample_day_module.random_point_in_county
        sample_day_module.random_point_in_county = _random_point_in_county
        try:
            planned = sample_day(reference, day, seed=seed, violations_per_township=spread)
        finally:
            sample_day_module.random_point_in_county = original
        out = [PlannedSubmission(item.principal,
                                 dict(item.body, client_report_id=f"{tag}-{item.body['client_report_id']}"),
                                 item.violation)
               for item in planned if not item.resend]
        if len(out) >= count:
            return out
        wanted *= 1.1


class _IntakeReference:
    """The reference data for the intake, with the township's category list computed once per epoch.

    The list depends on the time only through the catalogue version and the duty grants in force, which change at
    known instants; between two of them it is the same. Same findings as with the plain reference data, faster.
    """

    def __init__(self, reference: ReferenceData) -> None:
        instants = {v.published_at for v in reference.versions}
        for grant in reference.grants:
            instants |= {grant.effective_from} | ({grant.revoked_from} if grant.revoked_from else set())
        self._changes = sorted(instants)
        self._reference = reference
        self._lists: dict[tuple[str, int], dict[str, Category]] = {}
        self.townships = reference.townships

    def categories_for_township(self, township_code: str, at: datetime) -> dict[str, Category]:
        key = (township_code, bisect.bisect_right(self._changes, at))
        if key not in self._lists:
            self._lists[key] = self._reference.categories_for_township(township_code, at)
        return self._lists[key]


def principal_of(item: PlannedSubmission, reference: ReferenceData) -> Principal:
    """The caller the demo uses for this submission: the township's officer, or the hotline / video system."""
    if item.principal.startswith("officer:"):
        township = item.principal.split(":", 1)[1]
        return Principal(f"officer-{township}", "patrol_officer", frozenset({township}))
    return Principal(f"system-{item.principal}", "system", frozenset(reference.townships))


@dataclass(frozen=True)
class Findings:
    """Findings made by the patrol intake itself (so they are valid), in publishing order, with their keys."""

    items: list[tuple[str, FindingReported]]
    refused: int  # submissions the intake refused (a repeat's offset can cross a county border)
    violations: int  # distinct underlying violations

    def records(self) -> Iterator[Record]:
        for key, finding in self.items:
            yield encode(finding, event_id=finding.finding_id, source=f"/patrol/{finding.township_code}", key=key,
                         subject=finding.finding_id, time=finding.received_at)


def findings(count: int, seed: int = 20261127, tag: str = "bench") -> Findings:
    """Exactly ``count`` valid findings, received over the last ``count`` milliseconds."""
    reference = load_reference_data()
    intake_reference = _IntakeReference(reference)
    submissions = plan(int(count * 1.01) + 100, seed, tag)  # the intake refuses a few (see Findings.refused)
    started = datetime.now(UTC) - timedelta(milliseconds=count)
    items: list[tuple[str, FindingReported]] = []
    refused = 0
    for item in submissions:
        if len(items) == count:
            break
        received_at = started + timedelta(milliseconds=len(items))
        try:
            finding, key = build_finding(FindingSubmission.model_validate(item.body), principal_of(item, reference),
                                         intake_reference, received_at)  # type: ignore[arg-type]
        except Rejected:
            refused += 1
            continue
        items.append((key, finding))
    if len(items) < count:
        raise RuntimeError(f"only {len(items)} valid findings generated, {count} wanted")
    used = {f.client_report_id for _k, f in items}
    violations = len({s.violation for s in submissions if s.body["client_report_id"] in used})
    return Findings(items, refused, violations)
