"""Evaluation figures per body and per township, and distances for the nearby query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.info_share.domain.evaluation import CaseRecord, ReferralRecord, body_figures, township_figures
from services.info_share.domain.geo import bounding_box, haversine_m

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def referral(n: int, body: str, *, accepted: float | None = None, returned: float | None = None,
             closed: float | None = None, deadline_days: float = 3) -> ReferralRecord:
    def at(days: float | None) -> datetime | None:
        return None if days is None else T0 + days * DAY

    state = "closed" if closed else "accepted" if accepted else "returned" if returned else "issued"
    return ReferralRecord(referral_id=f"r{n}", case_id=f"c{n}", body_id=body, township_code="210603008",
                          issued_at=T0, accept_by=T0 + deadline_days * DAY, state=state, accepted_at=at(accepted),
                          returned_at=at(returned), closed_at=at(closed))


def test_body_figures() -> None:
    referrals = [
        referral(1, "team:a", accepted=1, closed=5),  # on time
        referral(2, "team:a", accepted=4),  # late
        referral(3, "team:a", returned=2),  # returned on time
        referral(4, "team:a"),  # unanswered, deadline passed by `now`
        referral(5, "team:a", deadline_days=30),  # unanswered, not yet due
        referral(6, "agency:x", accepted=0.5),
    ]
    cases = [CaseRecord(f"c{n}", "210603008", "open", report_count=3 if n == 1 else 1) for n in range(1, 7)]
    figures = {f.body_id: f for f in body_figures(referrals, cases, now=T0 + 10 * DAY)}
    team = figures["team:a"]
    assert (team.received, team.accepted, team.returned, team.closed, team.unanswered) == (5, 2, 1, 1, 2)
    assert (team.due, team.on_time) == (4, 2) and team.on_time_rate == pytest.approx(0.5)
    assert team.acceptance_seconds_mean == pytest.approx(2.5 * 86400)
    assert team.acceptance_seconds_median == pytest.approx(2.5 * 86400)
    assert team.duplicates_merged == 2
    assert figures["agency:x"].on_time_rate == 1.0


def test_nothing_due_means_no_rate() -> None:
    [figures] = body_figures([referral(1, "team:a", deadline_days=30)], [], now=T0 + DAY)
    assert figures.due == 0 and figures.on_time_rate is None and figures.acceptance_seconds_mean is None


def test_township_figures() -> None:
    cases = [CaseRecord("c1", "210603008", "closed", 2), CaseRecord("c2", "210603008", "referred", 1, False),
             CaseRecord("c3", "210603008", "handling_locally", 1, True), CaseRecord("c4", "210603002", "open", 1)]
    figures = {f.township_code: f for f in township_figures(cases)}
    t = figures["210603008"]
    assert (t.cases_reported, t.reports, t.duplicates_merged, t.handled_locally, t.closed, t.open) == (3, 4, 1, 1, 1, 2)
    assert figures["210603002"].open == 1


def test_haversine_and_bounding_box() -> None:
    # One thousandth of a degree of latitude is about 111 m anywhere.
    assert haversine_m(40.0, 124.0, 40.001, 124.0) == pytest.approx(111.2, abs=0.5)
    assert haversine_m(40.0, 124.0, 40.0, 124.0) == 0.0
    min_lat, max_lat, min_lon, max_lon = bounding_box(40.0, 124.0, 500)
    for lat, lon in ((40.0045, 124.0), (40.0, 124.0058), (39.9955, 123.9942)):
        assert haversine_m(40.0, 124.0, lat, lon) <= 500 + 1e-6 or not (min_lat <= lat <= max_lat)
    assert min_lat < 40.0 < max_lat and min_lon < 124.0 < max_lon
    assert haversine_m(40.0, 124.0, max_lat, 124.0) == pytest.approx(500, rel=0.01)
