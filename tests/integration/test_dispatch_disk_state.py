"""Dispatch's state on disk: a worker restarted with its state directory reads only the changelogs' tail (what was
written since its last checkpoint, here by the worker that had its partitions meanwhile); a worker without a local
database restores every changelog from the start. Every finding is still decided once, as the service layer alone
would decide it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from deploy.local_stack import Stack
from schemas.events import CASE_EVENT_MODELS, FindingReported
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.common.topics import CASE_EVENTS, DEDUP_PARTITIONS
from services.dispatch.entrypoints.worker import TABLE_NAMES, changelog_topic
from tests.dispatch_fixtures import decisions, expected_cases, publish_findings, sample_findings
from tests.stack_fixtures import StackFactory
from tests.topic_reader import read_events

pytestmark = [pytest.mark.integration, pytest.mark.faults]
_READ = re.compile(rb"changelogs read: (\d+) records")
_REBUILT = b"dedup index rebuilt"



def changelog_records(stack: Stack) -> int:
    """The changelogs' end offsets, summed: every changelog record written so far."""
    group = f"{stack.group_prefix}-dispatch"
    consumer = KafkaConsumer(bootstrap_servers=stack.bootstrap_servers, enable_auto_commit=False)
    try:
        tps = [TopicPartition(changelog_topic(group, name), p) for name in TABLE_NAMES
               for p in range(DEDUP_PARTITIONS)]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


def reads_since(log_path: Path, offset: int) -> list[int]:
    return [int(n) for n in _READ.findall(log_path.read_bytes()[offset:])]


def test_a_restarted_worker_reads_only_the_tail_and_a_new_one_everything(make_stack: StackFactory) -> None:
    stack = make_stack(extra_env={"LIANDONG_SESSION_TIMEOUT_SECONDS": "10"})
    stack.start_broker()
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    findings = sample_findings(days=3)
    cut, cut2 = len(findings) * 6 // 10, len(findings) * 85 // 100
    first, second, third = findings[:cut], findings[cut:cut2], findings[cut2:]
    topic = CASE_EVENTS.name(stack.topic_prefix)

    def decided(part: list[tuple[str, FindingReported]]) -> None:
        wanted = {f.finding_id for _k, f in part}
        poll_until(lambda: wanted <= set(decisions(read_events(stack.bootstrap_servers, topic, CASE_EVENT_MODELS))),
                   300, 1.0, "findings decided")

    publish_findings(stack, first)
    a = stack.start_dispatch("dispatch-a")
    decided(first)
    a.stop()  # a clean stop: every batch checkpointed
    written_by_a = changelog_records(stack)
    assert written_by_a > 0 and reads_since(a.log_path, 0) == [0]  # a fresh start: nothing to read

    b = stack.start_dispatch("dispatch-b")  # its own state directory, empty: restores everything
    publish_findings(stack, second)
    decided(first + second)
    b.stop()
    written = changelog_records(stack)
    assert reads_since(b.log_path, 0)[0] == written_by_a
    tail = written - written_by_a
    assert 0 < tail < written_by_a

    restart_at = a.log_path.stat().st_size
    a = stack.start_dispatch("dispatch-a")  # its directory again: the database holds everything up to a's stop
    poll_until(lambda: _REBUILT in a.log_path.read_bytes()[restart_at:], 120, 0.2, "restart restored")
    assert reads_since(a.log_path, restart_at)[0] == tail  # what b wrote, nothing of a's own

    publish_findings(stack, third)  # decided on the caught-up state: merges with cases of both earlier parts
    decided(findings)
    stack.stop()
    seen = decisions(read_events(stack.bootstrap_servers, topic, CASE_EVENT_MODELS))
    assert set(seen) == {f.finding_id for _k, f in findings}
    assert not {fid: d for fid, d in seen.items() if len(d) != 1}
    assert {fid: next(iter(d))[1] for fid, d in seen.items()} == expected_cases(findings)
    print(f"{written_by_a} changelog records by a, {tail} by b; a's restart read {tail}")
