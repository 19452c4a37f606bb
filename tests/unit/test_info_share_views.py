"""Answers are built from allow-lists per audience; feed entries carry reference names, never free text, publicly."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from schemas.events import FeedEntry
from services.common.privacy import PiiKind
from services.info_share.adapters.register.tables import LedgerRow, ReportRow
from services.info_share.domain.audience import Audience
from services.info_share.domain.views import CASE, REPORT, TIMELINE, Renderer, known_values, timeline_facts
from services.info_share.feed import feed_entry
from services.reference.loader import load_reference_data
from tests.info_share_fixtures import MOBILE, NAME, REPORTER, RESIDENT_ID, RESIDENT_ID_2, Story, leaks

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def report() -> ReportRow:
    finding = Story(1).finding()
    return ReportRow(finding_id=finding.finding_id, case_id="c", sequence=1, source="patrol", reporter=REPORTER,
                     township_code="210603008", category_code="illegal_construction", latitude=40.1, longitude=124.3,
                     address=finding.location.address, observed_at=AT, received_at=AT,
                     description=finding.description, subjects=[s.model_dump() for s in finding.subjects],
                     photos=[{"uri": "s3://evidence/1.jpg", "sha256": "0" * 64}], merge_rule=None, distance_m=None)


def test_public_sees_no_report_content_at_all() -> None:
    answer = Renderer(Audience.PUBLIC).render(REPORT, report())
    assert set(answer) == {"finding_id", "source", "township_code", "category_code", "observed_at", "received_at",
                           "merge_rule"}


def test_an_unentitled_body_sees_reports_masked_and_no_photos() -> None:
    tally: Counter[PiiKind] = Counter()
    row = report()
    answer = Renderer(Audience.OFFICIAL, known_values([row.reporter], row.subjects), tally).render(REPORT, row)
    assert "photos" not in answer and answer["reporter"] == "o***"
    assert leaks(answer) == []
    assert {s["kind"]: s["value"] for s in answer["subjects"]} == {
        "resident_id": "210603************", "plate": "辽F·****5", "uscc": "91210600MA0QC9XX1Q"}
    assert answer["address"] == "户主张某家院内"
    assert tally[PiiKind.RESIDENT_ID] >= 2 and tally[PiiKind.PHONE] == 2 and tally[PiiKind.NAME] >= 3


def test_a_party_sees_everything_unmasked() -> None:
    answer = Renderer(Audience.FULL).render(REPORT, report())
    assert answer["reporter"] == REPORTER and RESIDENT_ID in answer["description"] and MOBILE in answer["description"]
    assert answer["subjects"][0]["value"] == RESIDENT_ID_2 and answer["photos"]


def test_fields_not_in_the_allow_list_never_appear() -> None:
    record = {"case_id": "c", "status": "open", "secret_note": f"{NAME} {MOBILE}", "latitude": 40.0}
    for audience in Audience:
        answer = Renderer(audience).render(CASE, record)
        assert "secret_note" not in answer
        assert ("latitude" in answer) == (audience is not Audience.PUBLIC)


def test_timeline_reason_is_free_text() -> None:
    event = Story(1).lifecycle()[3]
    facts = timeline_facts(4, "case_transitioned", AT, "team:x", "returned", event.model_dump(mode="json"))
    assert "finding" not in facts
    assert "reason" not in Renderer(Audience.PUBLIC).render(TIMELINE, facts)
    masked = Renderer(Audience.OFFICIAL).render(TIMELINE, facts)
    assert masked["action"] == "return" and leaks(masked) == []


def ledger_row(event: object, status: str = "referred") -> LedgerRow:
    payload = event.model_dump(mode="json")  # type: ignore[attr-defined]
    return LedgerRow(sequence=7, event_id=payload["event_id"], event=payload["event"], case_id=payload["case_id"],
                     occurred_at=AT, payload=payload, prev_hash="0" * 64, hash="1" * 64, county_code="210603",
                     township_code="210603008", category_code="illegal_construction",
                     body_id="team:210603:natural_resources", status=status)


def test_public_feed_entry_is_reference_names_and_status_only() -> None:
    reference = load_reference_data()
    for event in Story(1).lifecycle():
        entry = feed_entry(ledger_row(event), reference)
        assert isinstance(entry, FeedEntry) and leaks(entry.model_dump(mode="json")) == []
        assert "花园街道" in entry.summary and "违法建设" in entry.summary


def test_feed_entry_detail_by_audience() -> None:
    reference = load_reference_data()
    row = ledger_row(Story(1).opened(), "open")
    official = feed_entry(row, reference, Renderer(Audience.OFFICIAL))
    assert "违法搭建" in official.summary and leaks(official.model_dump(mode="json")) == []
    full = feed_entry(row, reference, Renderer(Audience.FULL))
    assert MOBILE in full.summary and RESIDENT_ID in full.summary
    public = feed_entry(row, reference, Renderer(Audience.PUBLIC))
    assert public == feed_entry(row, reference)
