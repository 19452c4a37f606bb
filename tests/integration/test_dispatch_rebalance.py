"""Two dispatch workers in one group; one frozen (SIGSTOP) past the session timeout, then woken (SIGCONT).

The frozen worker's partitions move to the other. On waking it must not act on its stale ownership: its pause guard
stops it. Every finding is decided exactly once, as the service layer alone would decide it.
"""

from __future__ import annotations

import signal
import time

import pytest

from schemas.events import CASE_EVENT_MODELS
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.common.topics import CASE_EVENTS
from tests.dispatch_fixtures import decisions, expected_cases, publish_findings, sample_findings
from tests.stack_fixtures import StackFactory
from tests.topic_reader import read_events

pytestmark = [pytest.mark.integration, pytest.mark.faults]
SESSION_TIMEOUT_SECONDS = 10



def test_frozen_worker_does_not_act_on_stale_ownership(make_stack: StackFactory) -> None:
    stack = make_stack(extra_env={"LIANDONG_SESSION_TIMEOUT_SECONDS": str(SESSION_TIMEOUT_SECONDS)})
    stack.start_broker()
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    findings = sample_findings(days=2)
    first, second = findings[: len(findings) // 2], findings[len(findings) // 2:]
    topic = CASE_EVENTS.name(stack.topic_prefix)

    frozen = stack.start_dispatch("dispatch-a")
    stack.start_dispatch("dispatch-b")
    publish_findings(stack, first)
    poll_until(lambda: len(decisions(read_events(stack.bootstrap_servers, topic, CASE_EVENT_MODELS))) >= len(
        {f.finding_id for _k, f in first}), 300, 1.0, "first half decided by two workers")

    frozen.process.send_signal(signal.SIGSTOP)
    publish_findings(stack, second)  # arrives while a member is frozen: the group must rebalance to decide it all
    distinct = {f.finding_id for _k, f in findings}
    seen = poll_until(lambda: (d := decisions(read_events(stack.bootstrap_servers, topic, CASE_EVENT_MODELS)))
                      and len(d) >= len(distinct) and d, 300, 1.0, "all decided by the surviving worker")
    time.sleep(1)  # the frozen worker stays frozen a little past the rebalance, as in the field
    frozen.process.send_signal(signal.SIGCONT)
    exit_code = frozen.process.wait(60)
    assert exit_code == 70, "the woken worker must stop itself (pause guard), not resume on stale ownership"

    seen = decisions(read_events(stack.bootstrap_servers, topic, CASE_EVENT_MODELS))
    assert set(seen) == distinct
    assert not {fid: d for fid, d in seen.items() if len(d) != 1}
    assert {fid: next(iter(d))[1] for fid, d in seen.items()} == expected_cases(findings)
    assert "was paused for" in frozen.log_path.read_text()
