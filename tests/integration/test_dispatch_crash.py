"""A dispatch worker killed with SIGKILL mid-stream and restarted: no finding lost, no case or referral duplicated."""

from __future__ import annotations

from collections import defaultdict

import pytest
from kafka import KafkaProducer

from schemas.events import CASE_EVENT_MODELS, ReferralIssued
from services.common.envelope import encode
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.common.topics import CASE_EVENTS, FINDINGS, referrals_topic
from tests.dispatch_fixtures import decisions, expected_cases, sample_findings
from tests.stack_fixtures import StackFactory
from tests.topic_reader import read_events

pytestmark = [pytest.mark.integration, pytest.mark.faults]


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
