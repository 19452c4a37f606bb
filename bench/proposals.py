"""Proposed changes to services/dispatch (dedup.py, service.py), measured here against the current code, not applied.

``decide`` below is dedup.decide with two changes to the lookup, and must decide exactly as it does
(bench.scale_index checks every decision):

1. The ring size of a lookup depends only on the report's resolution-10 cell and the reach, so it is computed once
   per (cell, reach) and cached; today every lookup recomputes the cell's centre, its six vertices and six
   great-circle distances before it asks h3 for the grid disk.
2. The disk is walked with one dict lookup per cell; today ``_Grid.bucket`` builds a tuple for every cell of the
   disk, and most cells are empty.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

import h3.api.basic_int as h3

from schemas.events import FindingReported
from services.dispatch.domain import dedup
from services.dispatch.domain.identifiers import case_id_for
from services.dispatch.domain.routing import RoutingDecision, route
from services.dispatch.service import Dispatcher, Outgoing
from services.reference.loader import ReferenceData


@lru_cache(maxsize=1 << 16)
def _disk(cell: int, reach_m: float) -> tuple[int, ...]:
    centre = h3.cell_to_latlng(cell)
    circumradius = max(h3.great_circle_distance(centre, v, "m") for v in h3.cell_to_boundary(cell))
    k = math.ceil((reach_m + 2 * circumradius * dedup._SIZE_SLACK) / (dedup._RING_SPACING * circumradius))
    return tuple(h3.grid_disk(cell, k))


def near(grid: Any, report: dedup.Report) -> Iterator[tuple[dedup.OpenCase, float]]:
    reach = max(report.radius_m, grid.max_radius_m)
    cell = h3.latlng_to_cell(report.latitude, report.longitude, dedup.H3_RESOLUTION)
    get = grid.cells.get
    for candidate_cell in _disk(cell, reach):
        found = get(candidate_cell)
        if found is None:
            continue
        for case in (found,) if isinstance(found, dedup.OpenCase) else found:
            d = dedup.distance_m(report.latitude, report.longitude, case.latitude, case.longitude)
            if d <= max(report.radius_m, case.radius_m):
                yield case, d


def decide(report: dedup.Report, index: dedup.DedupIndex) -> dedup.Decision:
    """dedup.decide with the cached disk and the direct walk; same ranking, same result."""
    known = index.case_of(report.finding_id)
    if known is not None:
        return dedup.AlreadyDecided(known)
    grid = index._open_grids.get(report.dedup_group)
    best: tuple[tuple[Any, ...], dedup.OpenCase, float] | None = None
    for case, d in near(grid, report) if grid else ():
        if dedup.subjects_compatible(report.subjects, case.subjects):
            key = (not (report.subjects & case.subjects), d, case.opened_at, case.case_id)
            if best is None or key < best[0]:
                best = (key, case, d)
    if best is not None:
        _, case, d = best
        rule = dedup.RULE_SAME_SUBJECT if report.subjects & case.subjects else dedup.RULE_WITHIN_RADIUS
        return dedup.MergeIntoCase(case.case_id, rule, round(d, 2))
    previous = index.recurrence_of(report)
    return dedup.OpenNewCase(case_id_for(report.finding_id), previous.case.case_id if previous else None)


class RoutingMemo:
    """Proposed for services/dispatch/service.py: memoise ``route`` per (township, category, epoch).

    A routing decision depends on the time only through the catalogue version and the duty grants in force, which
    change at a few known instants (versions published, grants taking effect or revoked). Between two such instants
    the decision for a (township, category) is the same, so it is computed once per epoch. Before the first
    catalogue version the explanation names the date, so that epoch is never cached.
    """

    def __init__(self, reference: ReferenceData) -> None:
        instants = {v.published_at for v in reference.versions}
        for grant in reference.grants:
            instants.add(grant.effective_from)
            if grant.revoked_from is not None:
                instants.add(grant.revoked_from)
        self._changes = sorted(instants)
        self._reference = reference
        self._decisions: dict[tuple[str, str, int], RoutingDecision] = {}

    def route(self, township_code: str, category_code: str, found_at: datetime) -> RoutingDecision:
        epoch = bisect.bisect_right(self._changes, found_at)
        if epoch == 0:
            return route(self._reference, township_code, category_code, found_at)
        key = (township_code, category_code, epoch)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = route(self._reference, township_code, category_code, found_at)
        return decision


class ProposedDispatcher(Dispatcher):
    """The Dispatcher with both proposals: memoised routing, and dedup's cached disk and direct walk."""

    def __init__(self, reference: ReferenceData, tables: dict[str, Any]) -> None:
        super().__init__(reference, tables)
        self._routes = RoutingMemo(reference)

    def _route(self, finding: FindingReported) -> RoutingDecision:
        return self._routes.route(finding.township_code, finding.category_code, finding.received_at)

    def on_finding(self, finding: FindingReported, dedup_group: str) -> list[Outgoing]:
        current = dedup.decide
        dedup.decide = decide  # the service layer calls dedup.decide by module name
        try:
            return super().on_finding(finding, dedup_group)
        finally:
            dedup.decide = current
