"""The register on SQLite and PostgreSQL: migrations, projection, idempotence, time zones, ledger verification."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from schemas.events import RelatedCase
from services.info_share.adapters.queries import related_cases
from services.info_share.adapters.register.database import LegacySchema, make_engine, migrate, session_factory
from services.info_share.adapters.register.projection import NotApplicable, apply_event
from services.info_share.adapters.register.snapshot import snapshot
from services.info_share.adapters.register.tables import (
    Base,
    CaseLinkRow,
    CasePartyRow,
    CaseRow,
    LedgerRow,
    OrphanEventRow,
    ReferralRow,
    ReportRow,
    TransitionRow,
)
from services.info_share.entrypoints.cli_verify_ledger import main as verify_main
from services.info_share.entrypoints.cli_verify_ledger import verify
from tests.info_share_fixtures import (
    OTHER_TEAM,
    OTHER_TOWNSHIP,
    TEAM,
    TOWNSHIP,
    Story,
    orphan_rejection,
    register_url,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(register_url: str) -> Engine:  # noqa: F811
    engine = make_engine(register_url)
    migrate(engine)
    yield engine  # type: ignore[misc]
    engine.dispose()


def apply_all(engine: Engine, events: list) -> list[str]:
    sessions = session_factory(engine)
    outcomes = []
    for event in events:
        with sessions.begin() as session:
            outcomes.append(apply_event(session, event).outcome)
    return outcomes


def test_migrations_give_exactly_the_models_schema_and_rerun_harmlessly(engine: Engine) -> None:
    migrate(engine)  # a second start
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == "0003"


def test_a_register_made_without_migrations_is_refused(register_url: str) -> None:  # noqa: F811
    engine = make_engine(register_url)
    Base.metadata.create_all(engine)
    with pytest.raises(LegacySchema, match="rebuild"):
        migrate(engine)
    engine.dispose()


def test_a_case_lifecycle_is_projected(engine: Engine) -> None:
    story = Story(1)
    assert apply_all(engine, story.lifecycle()) == ["applied"] * 10
    with Session(engine) as session:
        case = session.get(CaseRow, story.case_id)
        assert case is not None
        assert (case.status, case.report_count, case.lead_body_id) == ("closed", 2, OTHER_TEAM)
        assert case.closed_at == story.at + timedelta(hours=52)
        parties = {(p.body_id, p.role) for p in session.scalars(select(CasePartyRow))}
        assert parties == {(f"township:{TOWNSHIP}", "reporting_township"), (TEAM, "lead"), (TEAM, "referred"),
                           (f"township:{OTHER_TOWNSHIP}", "reporting_township"), (OTHER_TEAM, "referred")}
        referrals = {r.attempt: r for r in session.scalars(select(ReferralRow))}
        assert referrals[1].state == "returned" and referrals[1].returned_at == story.at + timedelta(hours=5)
        assert referrals[2].state == "closed" and referrals[2].outcome == "rectified"
        assert referrals[2].accepted_at == story.at + timedelta(hours=26)
        assert len(session.scalars(select(TransitionRow)).all()) == 6
        assert len(session.scalars(select(ReportRow)).all()) == 2
        ledger = session.scalars(select(LedgerRow).order_by(LedgerRow.sequence)).all()
        assert [row.sequence for row in ledger] == list(range(1, 11))
        assert [row.status for row in ledger][-3:] == ["result_fed_back", "verified", "closed"]


def test_times_come_back_aware_in_utc_on_every_backend(engine: Engine) -> None:
    story = Story(2)  # occurred_at in +08:00
    apply_all(engine, [story.opened()])
    with Session(engine) as session:
        case = session.get(CaseRow, story.case_id)
        assert case is not None and case.opened_at.utcoffset() == timedelta(0)
        assert case.opened_at == story.at and case.opened_at.hour == story.at.astimezone(UTC).hour
        # Comparisons in SQL see the same instant whatever zone the bound value is written in.
        assert session.scalar(select(CaseRow.case_id).where(CaseRow.opened_at >= story.at)) == story.case_id
        assert session.scalar(select(CaseRow.case_id).where(
            CaseRow.opened_at > story.at + timedelta(seconds=1))) is None
        with pytest.raises(Exception, match="naive"):
            session.scalar(select(CaseRow).where(CaseRow.opened_at >= story.at.replace(tzinfo=None)))


def test_redelivered_and_replayed_events_change_nothing(engine: Engine) -> None:
    events = Story(3).lifecycle() + Story(4).lifecycle()[:4]
    apply_all(engine, events)
    before = snapshot(engine)
    assert apply_all(engine, list(reversed(events))) == ["duplicate"] * len(events)
    assert snapshot(engine) == before


def test_rejections_for_unknown_cases_are_kept_apart_and_other_unknown_events_refused(engine: Engine) -> None:
    assert apply_all(engine, [orphan_rejection(1), orphan_rejection(1)]) == ["orphan", "duplicate"]
    story = Story(5)
    with pytest.raises(NotApplicable, match="not in the register"):
        apply_all(engine, [story.merged(1)])
    apply_all(engine, [story.opened()])
    with pytest.raises(NotApplicable, match="already opened"):
        apply_all(engine, [story.opened().model_copy(update={"event_id": "another-id"})])
    with Session(engine) as session:
        assert [r.event for r in session.scalars(select(OrphanEventRow))] == ["response_rejected"]
        assert [r.event for r in session.scalars(select(LedgerRow))] == ["case_opened"]


def test_an_extension_moves_the_acceptance_deadline(engine: Engine) -> None:
    story = Story(6)
    apply_all(engine, [story.opened(), story.issued(1), story.transitioned("extend", "issued", "issued", hours=3)])
    with Session(engine) as session:
        referral = session.get(ReferralRow, story.referral_id(1))
        assert referral is not None and referral.extended and referral.state == "issued"
        assert referral.accept_by > story.at + timedelta(days=5)  # five working days after issue, end of day


def test_verification_names_the_first_altered_row(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    apply_all(engine, Story(7).lifecycle())
    url = engine.url.render_as_string(hide_password=False)
    assert verify(engine).intact
    assert verify_main(["--database-url", url]) == 0
    assert "ledger intact: 10 entries" in capsys.readouterr().out

    with Session(engine) as session:  # someone edits one fact of one entry in the database
        row = session.get(LedgerRow, 6)
        assert row is not None
        row.payload = {**row.payload, "reason": "改写过的理由"}
        flag_modified(row, "payload")
        session.commit()
    verdict = verify(engine)
    assert verdict.first_break is not None and verdict.first_break.sequence == 6 and verdict.checked == 5
    assert verify_main(["--database-url", url]) == 1
    assert "first broken link at sequence 6" in capsys.readouterr().out


def test_verification_catches_a_relabelled_column_and_a_deleted_row(engine: Engine) -> None:
    apply_all(engine, Story(8).lifecycle())
    with engine.begin() as connection:
        connection.execute(text("UPDATE ledger SET case_id = 'another-case' WHERE sequence = 4"))
    verdict = verify(engine)
    assert verdict.first_break is not None and verdict.first_break.sequence == 4
    assert "case_id" in verdict.first_break.reason
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM transitions WHERE sequence = 4"))
        connection.execute(text("DELETE FROM ledger WHERE sequence = 4"))
    verdict = verify(engine)
    assert verdict.first_break is not None and verdict.first_break.sequence == 4
    assert "missing" in verdict.first_break.reason


@pytest.mark.parametrize("related_first", [True, False])
def test_related_cases_are_linked_both_ways_whichever_reaches_the_register_first(engine: Engine,
                                                                                  related_first: bool) -> None:
    # Case events are keyed by case id: the case a new case names may be applied before or after it.
    first, second = Story(1), Story(2, lead=OTHER_TEAM)
    naming = second.opened().model_copy(update={"related_cases": (
        RelatedCase(case_id=first.case_id, category_code=first.finding().category_code, lead_body_id=TEAM),)})
    events = [first.opened(), naming] if related_first else [naming, first.opened()]
    assert apply_all(engine, [*events, *events]) == ["applied", "applied", "duplicate", "duplicate"]
    with Session(engine) as session:
        links = {(r.case_id, r.related_case_id) for r in session.scalars(select(CaseLinkRow))}
        assert links == {(first.case_id, second.case_id), (second.case_id, first.case_id)}
        found = related_cases(session, case_ids=[first.case_id, second.case_id])
        assert [c.lead_body_id for c in found[first.case_id]] == [OTHER_TEAM]
        assert [c.lead_body_id for c in found[second.case_id]] == [TEAM]
