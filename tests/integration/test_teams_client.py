"""County teams work their referrals with the client library and CLI, against a real broker and dispatch worker."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from kafka import KafkaProducer

from schemas.events import (
    CASE_EVENT_MODELS,
    CaseTransitioned,
    FindingReported,
    Location,
    ReferralIssued,
    ResponseRejected,
)
from services.common.envelope import encode
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.common.topics import CASE_EVENTS, FINDINGS
from services.dispatch.domain.routing import route
from services.reference.geography import random_point_in_county
from services.reference.loader import load_reference_data
from services.teams.client import ReferralClient
from tests.stack_fixtures import StackFactory
from tests.topic_reader import read_events

pytestmark = pytest.mark.integration
REFERENCE = load_reference_data()
TOWNSHIP, COUNTY = "210624100", "210624"


def referred_category(now: datetime) -> str:
    return next(c for c in sorted(REFERENCE.categories_for_township(TOWNSHIP, now))
                if route(REFERENCE, TOWNSHIP, c, now).rule == "county_department")


def publish_finding(stack, finding_id: str, category: str, seed: int) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    lat, lon = random_point_in_county(COUNTY, random.Random(seed))
    finding = FindingReported(
        finding_id=finding_id, client_report_id=finding_id, source="patrol", reporter="officer-1",
        township_code=TOWNSHIP, county_code=COUNTY, category_code=category, location=Location(latitude=lat,
        longitude=lon), observed_at=now, received_at=now, description="巡查發現",
    )
    record = encode(finding, event_id=finding_id, source="/test", key=REFERENCE.categories[category].dedup_group)
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    producer.send(FINDINGS.name(stack.topic_prefix), record.value, key=record.key, headers=record.headers).get(30)
    producer.close()


def first_referral(client: ReferralClient) -> ReferralIssued:
    def poll() -> ReferralIssued | None:
        try:
            return next((m for m in client.watch(idle_timeout_ms=2000) if isinstance(m, ReferralIssued)), None)
        except Exception:  # the body's topic is created by dispatch on first use
            return None
    return poll_until(poll, 90, 0.5, f"a referral on {client.topic}")


def case_events_of(stack, case_id: str) -> list:  # type: ignore[no-untyped-def]
    return [e for e in read_events(stack.bootstrap_servers, CASE_EVENTS.name(stack.topic_prefix), CASE_EVENT_MODELS)
            if e.case_id == case_id]  # type: ignore[attr-defined]


def test_accept_wrong_body_and_return_through_the_client(make_stack: StackFactory) -> None:
    stack = make_stack()
    stack.start_broker()
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    stack.start_dispatch()
    category = referred_category(datetime.now(UTC))
    lead = route(REFERENCE, TOWNSHIP, category, datetime.now(UTC)).lead_body_id
    publish_finding(stack, "finding-a", category, seed=1)

    team = ReferralClient(stack.bootstrap_servers, lead, stack.topic_prefix)
    referral = first_referral(team)
    assert referral.body_id == lead and referral.finding.finding_id == "finding-a"

    intruder = ReferralClient(stack.bootstrap_servers, f"team:{COUNTY}:health" if not lead.endswith("health")
                              else f"team:{COUNTY}:water", stack.topic_prefix)
    intruder.accept(referral)
    team.accept(referral)
    team.accept(referral)  # the same command again: same response id, answered once

    def transitions() -> list:
        events = case_events_of(stack, referral.case_id)
        done = [e for e in events if isinstance(e, CaseTransitioned | ResponseRejected)]
        return events if len(done) >= 2 else []

    events = poll_until(transitions, 60, 0.5, "the intruder rejected and the acceptance recorded")
    rejected = [e for e in events if isinstance(e, ResponseRejected)]
    accepted = {e.event_id for e in events if isinstance(e, CaseTransitioned)}
    assert len(rejected) == 1 and intruder.body_id in rejected[0].reason
    assert len(accepted) == 1

    # A second case, returned with a reason, goes to another competent body — on that body's own topic.
    publish_finding(stack, "finding-b", category, seed=2)
    second = poll_until(lambda: next((m for m in team.watch(idle_timeout_ms=2000) if isinstance(m, ReferralIssued)
                                      and m.finding.finding_id == "finding-b"), None), 60, 0.5, "second referral")
    team.return_referral(second, "不屬本部門職責")
    rerouted = poll_until(lambda: [e for e in case_events_of(stack, second.case_id)
                                   if isinstance(e, ReferralIssued) and e.attempt == 2], 60, 0.5, "re-routed")
    assert rerouted[0].body_id != lead
    other = ReferralClient(stack.bootstrap_servers, rerouted[0].body_id, stack.topic_prefix)
    assert first_referral(other).referral_id == rerouted[0].referral_id

    # The CLI, as a team member would run it.
    cli = subprocess.run([sys.executable, "-m", "services.teams", "--body", other.body_id, "accept",
                          rerouted[0].referral_id], env=stack.env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "sent accept" in cli.stdout
    poll_until(lambda: any(isinstance(e, CaseTransitioned) and e.referral_id == rerouted[0].referral_id
                           for e in case_events_of(stack, second.case_id)), 60, 0.5, "CLI acceptance recorded")
    for client in (team, intruder, other):
        client.close()
