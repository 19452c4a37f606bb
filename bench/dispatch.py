"""Dispatch throughput: one real worker drains pre-loaded findings; a bare aiokafka passthrough of the same messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from bench.kafka_io import Span, end_offsets, passthrough, records_in_topics, span_since, wait_for_commit
from bench.stack import BenchStack
from services.common.topics import CASE_EVENTS, FINDINGS

# Generous: a worker on a loaded 2-core machine may take minutes for 100,000 findings.
DRAIN_TIMEOUT_SECONDS = 900.0


@dataclass(frozen=True)
class DispatchRun:
    findings_per_s: float
    span: Span  # what it wrote to the case-events topic
    drain_seconds: float  # from worker ready to its last commit (includes up to one commit interval)
    records_per_finding: float  # everything it wrote: case events, referral topics, changelogs, dead letters


def run_dispatch(stack: BenchStack, total: int, name: str) -> DispatchRun:
    """Start a worker with a fresh group (and so fresh, empty tables), wait until it committed every finding.

    The rate is counted between the first and the last record it wrote on the case-events topic — one decision
    (CaseOpened or FindingMerged) per finding, ReferralIssued after some — so worker start-up is left out.
    """
    stack.group_prefix = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    case_events = CASE_EVENTS.name(stack.topic_prefix)
    before = end_offsets(stack.bootstrap_servers, [case_events])
    # Its output topics: the prefix's (findings excepted; nothing else writes there now) and its group's changelogs.
    outputs = [f"{stack.topic_prefix}.", f"{stack.group_prefix}-dispatch-"]
    written_before = records_in_topics(stack.bootstrap_servers, outputs)
    findings_before = sum(end_offsets(stack.bootstrap_servers, [FINDINGS.name(stack.topic_prefix)]).values())
    worker = stack.start_dispatch(name=name)
    try:
        drained = wait_for_commit(stack.bootstrap_servers, f"{stack.group_prefix}-dispatch",
                                  FINDINGS.name(stack.topic_prefix), total, DRAIN_TIMEOUT_SECONDS,
                                  alive=lambda: worker.process.poll() is None)
    finally:
        worker.stop()
    span = span_since(stack.bootstrap_servers, before)
    written = records_in_topics(stack.bootstrap_servers, outputs) - written_before
    findings = sum(end_offsets(stack.bootstrap_servers, [FINDINGS.name(stack.topic_prefix)]).values())
    if findings != findings_before:
        raise RuntimeError("the findings topic grew during a dispatch run: records per finding would be wrong")
    return DispatchRun(span.rate_per_s(total), span, drained, written / total)


def run_passthrough(stack: BenchStack, total: int, destination: str, batched: bool = True,
                    copies: float = 1.0) -> float:
    """Input records per second through a bare loop writing ``copies`` records per input record on average."""
    span = passthrough(stack.bootstrap_servers, FINDINGS.name(stack.topic_prefix), destination,
                       f"bench-passthrough-{uuid.uuid4().hex[:6]}", total, batched=batched, copies=copies)
    expected = int(total * copies + 1e-9)
    if abs(span.records - expected) > 1:
        raise RuntimeError(f"passthrough wrote {span.records} records, expected {expected}")
    return span.rate_per_s(total)
