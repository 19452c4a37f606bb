"""Patrol's own case view against info-share's register: the same case events, the same cases.

Both are projections of ``case-events`` kept by different services in their own databases; what patrol's status and
Open311 views show (status, lead body, reports, referrals and their deadlines) must agree with the register, for
every event kind, also when every event is delivered twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from schemas.events import CaseTransitioned, ReferralAction, WireModel
from services.common.deadlines import DeadlinePolicy
from services.info_share.adapters.register.database import make_engine as register_engine
from services.info_share.adapters.register.database import migrate as migrate_register
from services.info_share.adapters.register.database import session_factory
from services.info_share.adapters.register.tables import CaseRow, ReferralRow, ReportRow
from services.info_share.service import Register
from services.patrol.adapters.case_views.store import CaseViewStore, SqlCaseLookup, make_engine, migrate
from services.patrol.domain.case_view import NotApplicable
from services.patrol.domain.register import RequestQuery
from services.reference.loader import load_reference_data
from tests.databases import fresh_postgres_database
from tests.info_share_fixtures import OTHER_TEAM, Story, orphan_rejection

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def case_view_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'patrol-cases.db'}"
        return
    yield from fresh_postgres_database(request.getfixturevalue("postgres_url"), "patrol_views")


def _streams() -> list[WireModel]:
    extended, disputed = Story(3), Story(4)
    extension = CaseTransitioned(  # an older extension event: no new deadline in it, so it is computed
        event_id="extend-3", case_id=extended.case_id, occurred_at=extended.at + timedelta(hours=3),
        referral_id=extended.referral_id(), body_id=extended.lead, action=ReferralAction.EXTEND,
        from_state="issued", to_state="issued")
    return [
        *Story(1).lifecycle(),  # returned, re-referred, accepted, handled, fed back, verified, closed
        *Story(2).lifecycle()[:6],  # re-referred and accepted
        extended.opened(), extended.issued(), extension, extended.rejected(),
        disputed.opened(), disputed.issued(body="coordination:210603"),
        orphan_rejection(1),  # a refused response for a case nobody knows
    ]


def test_the_case_view_agrees_with_the_register(case_view_url: str, tmp_path: Path) -> None:
    engine = make_engine(case_view_url)
    migrate(engine)
    views = CaseViewStore(engine)
    register_db = register_engine(f"sqlite:///{tmp_path / 'register.db'}")
    migrate_register(register_db)
    register = Register(session_factory(register_db), load_reference_data())

    events = _streams()
    outcomes = [views.apply(e) for e in events]  # type: ignore[arg-type]
    for event in events:
        register.apply(event)  # type: ignore[arg-type]
    assert outcomes.count("ignored") == 1 and outcomes.count("applied") == len(events) - 1
    assert {views.apply(e) for e in events} == {"duplicate", "ignored"}  # redelivered: nothing changes

    lookup = SqlCaseLookup(case_view_url)
    with session_factory(register_db)() as session:
        reports = list(session.scalars(select(ReportRow)))
        assert len(reports) == 2 + 2 + 1 + 1
        for row in reports:
            found = lookup.report(row.finding_id)
            assert found is not None, row.finding_id
            report, case = found
            registered = session.get(CaseRow, row.case_id)
            assert registered is not None
            assert (report.case_id, report.merge_rule, report.township_code) == (
                row.case_id, row.merge_rule, row.township_code)
            assert (case.status, case.lead_body_id, case.report_count, case.township_code) == (
                registered.status, registered.lead_body_id, registered.report_count, registered.township_code)
            referrals = list(session.scalars(select(ReferralRow).where(ReferralRow.case_id == row.case_id)
                                             .order_by(ReferralRow.attempt)))
            assert [(r.referral_id, r.state, r.attempt, r.body_id) for r in case.referrals] == [
                (r.referral_id, r.state, r.attempt, r.body_id) for r in referrals]
            assert [_utc(r.accept_by) for r in case.referrals] == [_utc(r.accept_by) for r in referrals]

    closed = lookup.report(Story(1).finding().finding_id)
    assert closed is not None and closed[1].status == "closed" and closed[1].closing_note is None
    assert closed[1].referrals[-1].body_id == OTHER_TEAM
    extended_case = lookup.report(Story(3).finding().finding_id)
    assert extended_case is not None
    assert extended_case[1].referrals[0].accept_by == DeadlinePolicy().extended_accept_by(Story(3).at + timedelta(
        minutes=1))
    disputed_case = lookup.report(Story(4).finding().finding_id)
    assert disputed_case is not None and disputed_case[1].status == "disputed"
    assert [r.finding_id for r, _c in lookup.search(RequestQuery(statuses=frozenset({"closed"})))] == [
        Story(1).finding(1).finding_id, Story(1).finding().finding_id]


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)  # SQLite hands back naive UTC


def test_an_event_for_a_case_never_opened_is_not_applicable(case_view_url: str) -> None:
    engine = make_engine(case_view_url)
    migrate(engine)
    views = CaseViewStore(engine)
    story = Story(9)
    with pytest.raises(NotApplicable, match="not seen opened"):
        views.apply(story.issued())
    views.apply(story.opened())
    again = story.opened().model_copy(update={"event_id": "another-id"})
    with pytest.raises(NotApplicable, match="already opened"):
        views.apply(again)
    found = SqlCaseLookup(case_view_url).report(story.finding().finding_id)
    assert found is not None and found[1].status == "open" and found[1].referrals == ()
