"""The patrol service layer with fakes for the broker and the store: answers, idempotency, failure policy, audit."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.api import FindingSubmission
from services.common.audit import MemoryAuditLog
from services.patrol.domain.access import Principal
from services.patrol.domain.audit import describe_submission
from services.patrol.domain.idempotency import KeyState, fingerprint
from services.patrol.domain.intake import IntakeLimits, canonical_submission
from services.patrol.service import Accepted, Context, IntakeService, Item, Refused
from services.reference.geography import random_point_in_county
from services.reference.loader import load_reference_data
from tests.patrol_fakes import FakePublisher, FakeStore

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
OFFICER = Principal("officer-1", "patrol_officer", frozenset({"210603008"}))
LAT, LON = random_point_in_county("210603", random.Random(4))


def service() -> tuple[IntakeService, FakePublisher, FakeStore, MemoryAuditLog]:
    publisher, store, audit = FakePublisher(), FakeStore(), MemoryAuditLog()
    return IntakeService(reference=load_reference_data(), publisher=publisher, store=store, audit=audit,
                         limits=IntakeLimits(), retry_after_seconds=7, clock=lambda: NOW), publisher, store, audit


def item(key: str = "k-1", **overrides: Any) -> Item:
    body: dict[str, Any] = {"client_report_id": key, "township_code": "210603008",
                            "category_code": "illegal_construction", "location": {"latitude": LAT, "longitude": LON},
                            "observed_at": (NOW - timedelta(hours=1)).isoformat(), "description": "巡查發現"}
    body.update(overrides)
    sub = FindingSubmission.model_validate(body)
    return Item(sub, fingerprint(canonical_submission(sub)), describe_submission(sub.model_dump(mode="json")))


def file(svc: IntakeService, *items: Item) -> list[Accepted | Refused]:
    return asyncio.run(svc.file(list(items), Context("req-1", "json", "submit_finding", OFFICER, "10.0.0.1")))


def test_accepted_only_after_the_broker_acknowledged() -> None:
    svc, publisher, store, audit = service()
    [outcome] = file(svc, item())
    assert isinstance(outcome, Accepted) and not outcome.replayed and outcome.offset == 0
    assert len(publisher.sent) == 1
    assert next(iter(store.rows.values())).state is KeyState.ACCEPTED
    assert audit.entries[0].outcome == "accepted" and audit.entries[0].what["finding_id"] == outcome.finding_id


def test_same_key_same_content_replays_the_answer_without_publishing() -> None:
    svc, publisher, _store, audit = service()
    [first] = file(svc, item())
    [again] = file(svc, item())
    assert isinstance(first, Accepted) and isinstance(again, Accepted) and again.replayed
    assert (again.finding_id, again.partition, again.offset) == (first.finding_id, 0, 0)
    assert len(publisher.sent) == 1 and [e.outcome for e in audit.entries] == ["accepted", "replayed"]


def test_same_key_other_content_is_a_conflict() -> None:
    svc, publisher, _store, audit = service()
    [first] = file(svc, item())
    [conflict] = file(svc, item(description="另一份報告"))
    assert isinstance(conflict, Refused) and (conflict.status, conflict.reason) == (409, "idempotency_conflict")
    assert isinstance(first, Accepted) and first.finding_id in conflict.detail
    assert len(publisher.sent) == 1 and audit.entries[-1].outcome == "conflict"


def test_broker_down_gives_503_and_keeps_nothing() -> None:
    svc, publisher, store, audit = service()
    publisher.down = True
    [outcome] = file(svc, item())
    assert isinstance(outcome, Refused) and (outcome.status, outcome.retry_after_seconds) == (503, 7)
    assert store.rows == {} and audit.entries[0].outcome == "unavailable"
    publisher.down = False
    assert isinstance(file(svc, item(description="changed after the 503"))[0], Accepted)


def test_unconfirmed_send_keeps_the_claim_for_the_same_content_only() -> None:
    svc, publisher, store, _audit = service()
    publisher.unacknowledged = True
    assert isinstance(file(svc, item())[0], Refused)
    assert next(iter(store.rows.values())).state is KeyState.PENDING
    publisher.unacknowledged = False
    conflict = file(svc, item(description="different"))[0]
    assert isinstance(conflict, Refused) and conflict.status == 409
    retried = file(svc, item())[0]
    assert isinstance(retried, Accepted) and not retried.replayed


def test_invalid_items_never_reach_the_broker_or_the_store() -> None:
    svc, publisher, store, audit = service()
    outcomes = file(svc, item("a", category_code="illegal_fishing"), item("b", township_code="210603009"),
                    Item(None, "", {"item_index": 2}, Refused(422, "invalid_request")), item("c"))
    assert [getattr(o, "status", 202) for o in outcomes] == [422, 403, 422, 202]
    assert len(publisher.sent) == 1 and len(store.rows) == 1
    assert [e.outcome for e in audit.entries] == ["rejected", "forbidden", "rejected", "accepted"]


def test_published_event_is_keyed_by_dedup_group_and_named_by_finding_id() -> None:
    svc, publisher, _store, _audit = service()
    [outcome] = file(svc, item())
    [record] = publisher.sent
    headers = dict(record.headers)
    assert record.key == b"land_and_construction"
    assert isinstance(outcome, Accepted) and headers["ce_id"] == outcome.finding_id.encode()
    assert headers["ce_type"] == b"cn.liandong.finding.reported.v1"
