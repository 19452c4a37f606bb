"""The case register, read-only: cases listed and near a point, one case, the evaluation figures, the summary."""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from schemas.bounds import MAX_SEQUENCE
from services.info_share.adapters import queries
from services.info_share.auth import AuthError
from services.info_share.domain.audience import sees_figures_of_all
from services.info_share.entrypoints import answers
from services.info_share.entrypoints.deps import AnyCaller, DbSession, FeedFilters, Official, State

router = APIRouter()


@router.get("/v1/cases")
def cases(db: DbSession, state: State, who: AnyCaller, where: FeedFilters,
          after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="next_cursor of the previous page")] = 0,
          limit: Annotated[int, Query(ge=1, le=500)] = 50,
          mine: Annotated[bool, Query(description="only cases the caller is a party to")] = False,
          ) -> dict[str, Any]:
    """Cases in the order they were opened, filtered; every case is listed, its detail decided by audience."""
    if mine and not who.is_official:
        raise AuthError(401 if who.is_anonymous else 403, "mine=true needs an enforcement body's token")
    found = queries.list_cases(db, reference=state.reference, filters=where, after=after, limit=limit,
                               party_of=who.body_ids if mine else None)
    ids = {c.case_id for c in found}
    tallies = answers.Tallies()
    official_view = who.is_official  # the public sees no report content: no need to read it
    items = answers.case_items(found, caller=who, parties=queries.parties_of(db, ids) if official_view else {},
                               reports=queries.reports_of(db, ids) if official_view else {}, tallies=tallies)
    tallies.flush()
    return {"cases": items, "next_cursor": found[-1].opened_sequence if found else after}


@router.get("/v1/cases/nearby")
def nearby(db: DbSession, state: State, who: Official,
           latitude: Annotated[float, Query(ge=-90, le=90)], longitude: Annotated[float, Query(ge=-180, le=180)],
           radius_m: Annotated[float, Query(gt=0)] = 200.0,
           category: Annotated[str | None, Query(max_length=64)] = None,
           limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    """Open cases near a point (WGS-84), nearest first: is what I see already reported?"""
    if radius_m > state.settings.nearby_max_radius_m:
        raise HTTPException(422, f"radius_m is limited to {state.settings.nearby_max_radius_m:g}")
    near = queries.open_cases_near(db, latitude=latitude, longitude=longitude, radius_m=radius_m,
                                   category=category, limit=limit)
    ids = {c.case_id for c, _ in near}
    tallies = answers.Tallies()
    items = answers.case_items([c for c, _ in near], caller=who, parties=queries.parties_of(db, ids),
                               reports=queries.reports_of(db, ids), tallies=tallies,
                               distances={c.case_id: d for c, d in near})
    tallies.flush()
    return {"cases": items}


@router.get("/v1/cases/{case_id}")
def case(db: DbSession, who: AnyCaller, case_id: str) -> dict[str, Any]:
    """One case with its parties, reports, referrals and full timeline, as the caller may see them."""
    bundle = queries.case_bundle(db, case_id=case_id)
    if bundle is None:
        raise HTTPException(404, f"no case {case_id}")
    tallies = answers.Tallies()
    answer = answers.case_detail(bundle, caller=who, tallies=tallies)
    tallies.flush()
    return answer


@router.get("/v1/stats/evaluation")
def evaluation(db: DbSession, state: State, who: Official, where: FeedFilters,
               kind: Annotated[str | None, Query(pattern="^(township_office|county_team|dispatched_agency|"
                                                          "county_coordination)$")] = None) -> dict[str, Any]:
    """Figures per receiving body and per township, over the cases the caller may see: its own cases (as a
    party), its county's (county coordination), or all (supervisor)."""
    scope = queries.StatsScope(all_cases=sees_figures_of_all(who), county=who.county_scope,
                               party_of=who.body_ids)
    bodies, townships = queries.figures(db, scope=scope, filters=where, now=datetime.now(UTC))
    answer = answers.evaluation_answer(bodies, townships, reference=state.reference, kind=kind)
    answer["scope"] = "all" if scope.all_cases else (f"county:{scope.county}" if scope.county else "own_cases")
    return answer


@router.get("/v1/stats/summary")
def summary(db: DbSession, _who: AnyCaller) -> dict[str, Any]:
    """Counts only (no case content): open to everyone; a token sent is checked all the same."""
    return queries.summary(db)
