"""Dispatch test material: findings and responses for the service layer over plain dict tables, and sample days
of findings with the decisions the running system must publish for them (the fault scenarios check the same).

Imports dispatch and the shared packages only (dispatch's group runs with every other service unimportable): the
findings are built from the wire models as patrol publishes them, and referrals are read straight off the topics."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaProducer

from deploy.local_stack import Stack
from schemas.api import FindingSubmission
from schemas.events import (
    CASE_EVENT_MODELS,
    CaseOpened,
    FindingMerged,
    FindingReported,
    Location,
    ReferralIssued,
    ReferralResponded,
    Subject,
)
from scripts.sample_day import sample_day
from services.common.envelope import encode
from services.common.identifiers import normalise_subject
from services.common.polling import poll_until
from services.common.topics import CASE_EVENTS, FINDINGS, referrals_topic
from services.dispatch.domain.routing import route
from services.dispatch.entrypoints.worker import TABLE_NAMES
from services.dispatch.service import Dispatcher, Outgoing
from services.reference.geography import random_point_in_county
from services.reference.loader import load_reference_data
from tests.topic_reader import read_events

REFERENCE = load_reference_data()
RECEIVED = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing
TOWNSHIP = "210624100"  # a township of 宽甸满族自治县
COUNTY = "210624"


def tables() -> dict[str, dict]:
    """Dispatch's tables as plain dicts, empty: the worker's (``TABLE_NAMES``)."""
    return {name: {} for name in TABLE_NAMES}


def category_routed_by(rule: str, at: datetime = RECEIVED) -> str:
    for code in sorted(REFERENCE.categories_for_township(TOWNSHIP, at)):
        if route(REFERENCE, TOWNSHIP, code, at).rule == rule:
            return code
    raise AssertionError(f"no category of {TOWNSHIP} is routed by {rule}")


def finding(finding_id: str, category: str, lat: float, lon: float, *, subjects: tuple[Subject, ...] = (),
            received: datetime = RECEIVED) -> FindingReported:
    return FindingReported(
        finding_id=finding_id, client_report_id=finding_id, source="patrol", reporter="officer-1",
        township_code=TOWNSHIP, county_code=COUNTY, category_code=category,
        location=Location(latitude=lat, longitude=lon), observed_at=received, received_at=received,
        description="巡查發現", subjects=subjects,
    )


def group_of(category: str) -> str:
    return REFERENCE.categories[category].dedup_group


def new_dispatcher(**options: Any) -> Dispatcher:
    """The service layer over the reference data and fresh, empty plain dict tables (``tables()``)."""
    return Dispatcher(REFERENCE, tables(), **options)


def decide(dispatcher: Dispatcher, finding_id: str, category: str, lat: float, lon: float,
           **details: Any) -> list[Outgoing]:
    """What ``dispatcher`` publishes for one finding of TOWNSHIP (``finding``'s arguments), keyed by its category's
    dedup group as patrol keys it."""
    return dispatcher.on_finding(finding(finding_id, category, lat, lon, **details), group_of(category))


def respond(issued: ReferralIssued, action: str, response_id: str, body_id: str | None = None,
            at: datetime | None = None, **details: str) -> ReferralResponded:
    return ReferralResponded(response_id=response_id, referral_id=issued.referral_id, case_id=issued.case_id,
                             body_id=body_id or issued.body_id, action=action,
                             responded_at=at or issued.occurred_at + timedelta(hours=1), **details)


# -- sample days through the running system ----------------------------------------------------------------------------

SAMPLE_REPORTER = "system-test"
_SAMPLE_NAMESPACE = uuid.UUID("5d1c2a8e-7f0b-4c4e-9a55-1f3c9b7e2d10")  # the sample findings' ids: uuid5 in it


def sample_finding(body: dict[str, Any], received: datetime) -> tuple[str, FindingReported]:
    """(key, finding): one planned submission of scripts/sample_day.py as the finding dispatch reads from the findings
    topic, built here from the wire models (schemas/) and the shared reference data, not by patrol's intake. As the
    intake does: a deterministic id (a re-sent report has the id of the first), the township's county, subjects in
    their canonical form, and the category's dedup group as the key."""
    submission = FindingSubmission.model_validate(body)
    township = REFERENCE.townships[submission.township_code]
    category = REFERENCE.categories_for_township(township.code, received)[submission.category_code]
    finding = FindingReported(
        finding_id=str(uuid.uuid5(_SAMPLE_NAMESPACE, f"{SAMPLE_REPORTER}\x1f{submission.client_report_id}")),
        client_report_id=submission.client_report_id, source=submission.source, reporter=SAMPLE_REPORTER,
        township_code=township.code, county_code=township.county_code, category_code=category.code,
        location=submission.location, observed_at=submission.observed_at, received_at=received,
        description=submission.description, photos=tuple(submission.photos),
        subjects=tuple(Subject(kind=s.kind, value=normalise_subject(s.kind, s.value)) for s in submission.subjects),
    )
    return category.dedup_group, finding


def sample_findings(days: int) -> list[tuple[str, FindingReported]]:
    """(key, finding) for several sample days (scripts/sample_day.py), the days before today, in order."""
    today = datetime.now(UTC)
    out = []
    for day in range(days):
        received = today - timedelta(days=day + 1)
        out += [sample_finding(item.body, received.replace(hour=23)) for item in sample_day(REFERENCE, received.date(),
                                                                                            seed=day)]
    return out


def expected_cases(findings: list[tuple[str, FindingReported]]) -> dict[str, str]:
    """finding id → case id from the service layer alone, same order: what the running system must produce."""
    dispatcher = new_dispatcher()
    result = {}
    for key, finding in findings:
        for out in dispatcher.on_finding(finding, key):
            if isinstance(out.model, CaseOpened | FindingMerged):
                result[finding.finding_id] = out.model.case_id
    return result


def decisions(events: list) -> dict[str, set[tuple[str, str]]]:
    """finding id → the distinct (event id, case id) decisions published for it."""
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for event in events:
        if isinstance(event, CaseOpened | FindingMerged):
            seen[event.finding.finding_id].add((event.event_id, event.case_id))
    return seen


# -- referrals of a stack of real processes ----------------------------------------------------------------------------

def referred_category(now: datetime) -> str:
    """A category of TOWNSHIP that a county department handles: its findings are referred at once."""
    return category_routed_by("county_department", now)


def publish_finding(stack: Stack, finding_id: str, category: str, seed: int) -> None:
    """A finding of TOWNSHIP received now, on the stack's findings topic as patrol publishes it."""
    now = datetime.now(UTC)
    lat, lon = random_point_in_county(COUNTY, random.Random(seed))
    record = encode(finding(finding_id, category, lat, lon, received=now), event_id=finding_id, source="/test",
                    key=REFERENCE.categories[category].dedup_group)
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    producer.send(FINDINGS.name(stack.topic_prefix), record.value, key=record.key, headers=record.headers).get(30)
    producer.close()


def first_referral(stack: Stack, body_id: str) -> ReferralIssued:
    """The first referral on ``body_id``'s referrals topic, once dispatch has issued it (read straight off the topic,
    as dispatch wrote it; the teams client's own reading is tested in tests/integration/test_teams_client.py)."""
    topic = referrals_topic(body_id, stack.topic_prefix)

    def poll() -> ReferralIssued | None:
        try:
            return next((m for m in read_events(stack.bootstrap_servers, topic, [ReferralIssued])
                         if isinstance(m, ReferralIssued)), None)
        except Exception:  # the body's topic is created by dispatch on first use
            return None
    return poll_until(poll, 90, 0.5, f"a referral on {topic}")


def referred_finding(stack: Stack, finding_id: str, seed: int) -> ReferralIssued:
    """A finding of TOWNSHIP that a county department handles, published now on the stack's findings topic; the
    referral dispatch issues for it, read off its lead body's topic."""
    now = datetime.now(UTC)
    category = referred_category(now)
    publish_finding(stack, finding_id, category, seed)
    return first_referral(stack, route(REFERENCE, TOWNSHIP, category, now).lead_body_id)


def case_events_of(stack: Stack, case_id: str) -> list[Any]:
    """The events of one case on the stack's case-events topic, in order."""
    return [e for e in read_events(stack.bootstrap_servers, CASE_EVENTS.name(stack.topic_prefix), CASE_EVENT_MODELS)
            if e.case_id == case_id]


def publish_findings(stack: Stack, findings: list[tuple[str, FindingReported]]) -> None:
    """(key, finding) pairs onto the stack's findings topic, as patrol publishes them, all acknowledged."""
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all", linger_ms=5)
    for key, finding in findings:
        record = encode(finding, event_id=finding.finding_id, source="/test", key=key)
        producer.send(FINDINGS.name(stack.topic_prefix), record.value, key=record.key, headers=record.headers)
    producer.flush()
    producer.close()


def send(stack: Stack, topic: str, record: Any, key: bytes | None = None) -> None:
    """One encoded record onto ``topic``, acknowledged by the broker (as a trusted writer would publish it)."""
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    try:
        producer.send(topic, record.value, key=key if key is not None else record.key,
                      headers=record.headers).get(30)
    finally:
        producer.close()
