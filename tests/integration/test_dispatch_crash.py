"""A dispatch worker killed with SIGKILL mid-stream and restarted: no finding lost, no case or referral duplicated."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from schemas.api import FindingSubmission
from schemas.events import CASE_EVENT_MODELS, CaseOpened, FindingMerged, FindingReported, ReferralIssued
from scripts.sample_day import sample_day
from services.common.envelope import encode
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.common.topics import CASE_EVENTS, FINDINGS, referrals_topic
from services.dispatch.service import Dispatcher
from services.dispatch.worker import TABLE_NAMES
from services.patrol.domain.access import Principal
from services.patrol.domain.intake import build_finding
from services.reference.loader import load_reference_data
from tests.stack_fixtures import StackFactory
from tests.topic_reader import read_events

pytestmark = [pytest.mark.integration, pytest.mark.faults]
REFERENCE = load_reference_data()


def sample_findings(days: int) -> list[tuple[str, FindingReported]]:
    """(key, finding) for several sample days, made by the patrol intake itself (so they are valid)."""
    system = Principal("system-test", "system", frozenset(REFERENCE.townships))
    out = []
    today = datetime.now(UTC)
    for day in range(days):
        received = today - timedelta(days=day + 1)
        for item in sample_day(REFERENCE, received.date(), seed=day):
            submission = FindingSubmission.model_validate(item.body)
            finding, key = build_finding(submission, system, REFERENCE, received.replace(hour=23))
            out.append((key, finding))
    return out


def expected_cases(findings: list[tuple[str, FindingReported]]) -> dict[str, str]:
    """finding id → case id from the service layer alone, same order: what the running system must produce."""
    dispatcher = Dispatcher(REFERENCE, {name: {} for name in TABLE_NAMES})
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


def test_sigkill_mid_stream_loses_and_duplicates_nothing(make_stack: StackFactory) -> None:
    # A short session timeout: the killed member's partitions are reassigned sooner after the restart.
    stack = make_stack(extra_env={"LIANDONG_SESSION_TIMEOUT_SECONDS": "10"})
    stack.start_broker()
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    findings = sample_findings(days=3)
    # Re-deliveries from the producer side too: every 10th finding is published twice.
    published = findings + findings[::10]
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    for key, finding in published:
        record = encode(finding, event_id=finding.finding_id, source="/test", key=key)
        producer.send(FINDINGS.name(stack.topic_prefix), record.value, key=record.key, headers=record.headers)
    producer.flush()
    producer.close()
    distinct = {f.finding_id for _k, f in findings}
    topic = CASE_EVENTS.name(stack.topic_prefix)

    worker = stack.start_dispatch()
    poll_until(lambda: len(read_events(stack.bootstrap_servers, topic, CASE_EVENT_MODELS)) > 150, 120, 0.2,
               "dispatch under way")
    worker.kill()  # SIGKILL: no shutdown, no commit
    before_restart = decisions(read_events(stack.bootstrap_servers, topic, CASE_EVENT_MODELS))
    assert 0 < len(before_restart) < len(distinct), "the kill must land mid-stream for this test to mean anything"

    stack.start_dispatch()
    seen = poll_until(lambda: (d := decisions(read_events(stack.bootstrap_servers, topic, CASE_EVENT_MODELS)))
                      and len(d) >= len(distinct) and d, 300, 1.0, "every finding decided after restart")
    stack.stop()

    assert set(seen) == distinct  # nothing lost
    doubled = {fid: d for fid, d in seen.items() if len(d) != 1}
    assert not doubled, f"findings decided more than once: {list(doubled.items())[:3]}"
    assert {fid: next(iter(d))[1] for fid, d in seen.items()} == expected_cases(findings)

    events = read_events(stack.bootstrap_servers, topic, CASE_EVENT_MODELS)
    referrals = {e.referral_id: e for e in events if isinstance(e, ReferralIssued)}
    per_case: dict[str, set[str]] = defaultdict(set)
    for referral in referrals.values():
        per_case[referral.case_id].add(referral.referral_id)
    assert all(len(ids) == 1 for ids in per_case.values())  # one referral per case: nothing enforced twice
    # Each body's topic holds its referrals, and a reporting township's topic also the copies (抄送) of the
    # referrals of its cases sent to others (a re-send after the kill has the same id: the body sees it once).
    for body in {r.body_id for r in referrals.values()}:
        on_topic = {r.referral_id for r in read_events(stack.bootstrap_servers,
                                                       referrals_topic(body, stack.topic_prefix), [ReferralIssued])}
        assert on_topic == {rid for rid, r in referrals.items() if body in (r.body_id, f"township:{r.township_code}")}
    print(f"{len(distinct)} findings, {len(set(expected_cases(findings).values()))} cases, "
          f"{len(before_restart)} decided before the kill, {len(referrals)} referrals")
