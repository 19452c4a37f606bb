"""Faust wiring of dispatch: decode, call the Dispatcher, publish what it returns; poison goes to dead letters.

Durable state is four Faust tables backed by compacted changelog topics, co-partitioned with the findings and
referral-responses topics (both keyed by dedup group). Faust flushes the producer — changelog writes and output
events — before it commits an offset, so a crash at any point leads to reprocessing, never to loss; reprocessing
emits the same event ids (see service.py), which consumers drop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import faust

from schemas.events import RESPONSE_TOPIC_MODELS, DeadlineCheck, FindingReported, ReferralIssued
from services.common.envelope import PoisonEvent, decode, encode
from services.common.faust_app import DeadLetters, PauseGuard, make_faust_app, raw_topic, stop_on_unexpected_error
from services.common.kafka_admin import TopicCreator, ensure_topics
from services.common.topics import (
    CASE_EVENTS,
    DEAD_LETTERS,
    DEDUP_PARTITIONS,
    FINDINGS,
    REFERRAL_RESPONSES,
    REFERRALS_FAMILY,
    TopicSpec,
    referrals_topic,
)
from services.dispatch import metrics, observe
from services.dispatch.domain import dedup
from services.dispatch.service import CASE_FILES_TABLE, OVERDUE_TABLE, REFERRALS_TABLE, Dispatcher, Outgoing
from services.dispatch.settings import DispatchSettings
from services.reference.loader import load_reference_data

log = logging.getLogger(__name__)
TABLE_NAMES = (dedup.CASES_TABLE, dedup.MEMBERS_TABLE, CASE_FILES_TABLE, REFERRALS_TABLE, OVERDUE_TABLE)
SOURCE = "/dispatch"


def changelog_specs(app_id: str) -> list[tuple[str, TopicSpec]]:
    """The tables' changelog topics, which the project creates (Faust may not): compacted, co-partitioned."""
    return [(f"{app_id}-{name}-changelog",
             TopicSpec(f"{name}-changelog", DEDUP_PARTITIONS, "table key", f"changelog of dispatch table {name}",
                       {"cleanup.policy": "compact"}))
            for name in TABLE_NAMES]


def create_worker(settings: DispatchSettings) -> faust.App:
    app = make_faust_app("dispatch", settings, settings.worker_web_port)
    prefix = settings.topic_prefix
    reference = load_reference_data()
    # Every known body's referrals topic exists before the first finding: creating one on the hot path costs
    # a broker round trip per new body (one batch here takes about a second for Dandong's 426 bodies).
    body_topics = [(referrals_topic(body.body_id, prefix), REFERRALS_FAMILY) for body in reference.bodies()]
    ensure_topics(settings.bootstrap_servers, prefix, extra=[*changelog_specs(app.conf.id), *body_topics],
                  timeout_seconds=120)
    created = {name for name, _spec in body_topics}
    # value_type stays None: Faust then decodes the JSON changelog back into plain dicts (a type such as dict
    # would be treated as a Faust model on recovery and fail).
    tables = {name: app.Table(name, partitions=DEDUP_PARTITIONS, key_type=str) for name in TABLE_NAMES}
    dispatcher = Dispatcher(reference, tables)  # type: ignore[arg-type]

    findings = raw_topic(app, FINDINGS.name(prefix))
    responses = raw_topic(app, REFERRAL_RESPONSES.name(prefix))
    case_events = raw_topic(app, CASE_EVENTS.name(prefix))
    dead_letters = DeadLetters(app, DEAD_LETTERS.name(prefix), "dispatch", log)
    referral_topics: dict[str, faust.TopicT] = {}

    # A member is dropped from its group only after the session timeout; a shorter pause cannot have cost this
    # worker its partitions (a rebalance others start waits for it to rejoin). The margin covers clock jitter.
    pause_guard = PauseGuard(app, settings.session_timeout_seconds * 0.8, log)

    @tables[dedup.MEMBERS_TABLE].on_recover
    async def rebuild_index() -> None:
        started = time.perf_counter()
        with pause_guard.excused():
            size = dispatcher.rebuild_index()
        log.info("dedup index rebuilt: %d open cases in %.2fs", size, time.perf_counter() - started)

    topic_creator = TopicCreator(settings.bootstrap_servers)
    admin_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="topic-admin")

    async def referral_topic(body_id: str) -> faust.TopicT:
        name = referrals_topic(body_id, prefix)
        if name not in referral_topics:
            if name not in created:  # a body the reference data did not know at start
                await asyncio.get_running_loop().run_in_executor(
                    admin_thread, topic_creator.ensure, name, REFERRALS_FAMILY)
            referral_topics[name] = raw_topic(app, name)
        return referral_topics[name]

    async def publish(outgoing: list[Outgoing]) -> None:
        for out in outgoing:
            if not out.replay:
                observe.record(out.model, dispatcher)
            record = encode(out.model, event_id=out.event_id, source=SOURCE, key=out.key, subject=out.key)
            await case_events.send(key=record.key, value=record.value, headers=record.headers)
            if out.referral_body_id is not None:
                topic = await referral_topic(out.referral_body_id)
                await topic.send(key=record.key, value=record.value, headers=record.headers)
                if isinstance(out.model, ReferralIssued) and out.model.attempt == 1 and not out.replay:
                    metrics.E2E_SECONDS.observe(
                        max(0.0, (datetime.now(UTC) - out.model.finding.received_at).total_seconds()))

    @app.agent(findings, concurrency=1)  # >1 can commit past an in-flight message (faust-streaming #606)
    async def dispatch_findings(stream: faust.StreamT) -> None:
        async for event in stream.events():
            pause_guard.check()
            message = event.message
            try:
                _ce, finding = decode(message.headers or [], message.value, [FindingReported])
                if not message.key:
                    raise PoisonEvent("finding without a key (the dedup group)")
                group = message.key.decode()
                unknown = dispatcher.unknown_reference(finding)  # type: ignore[arg-type]
                if unknown:
                    raise PoisonEvent(unknown)
            except PoisonEvent as exc:
                await dead_letters.send(message, exc.reason)
                continue
            try:
                await publish(dispatcher.on_finding(finding, group))  # type: ignore[arg-type]
            except Exception as exc:
                stop_on_unexpected_error(log, exc)

    @app.agent(responses, concurrency=1)
    async def dispatch_responses(stream: faust.StreamT) -> None:
        async for event in stream.events():
            pause_guard.check()
            message = event.message
            try:
                _ce, command = decode(message.headers or [], message.value, RESPONSE_TOPIC_MODELS)
            except PoisonEvent as exc:
                await dead_letters.send(message, exc.reason)
                continue
            try:
                if isinstance(command, DeadlineCheck):
                    await publish(dispatcher.on_deadline_check(command))
                else:
                    await publish(dispatcher.on_response(command))  # type: ignore[arg-type]
            except Exception as exc:
                stop_on_unexpected_error(log, exc)

    @app.timer(interval=settings.deadline_check_interval_seconds)
    async def check_deadlines() -> None:
        # Only asks: the check is handled by dispatch_responses, in order with the referral's own responses.
        for key, check in dispatcher.due_checks(datetime.now(UTC)):
            record = encode(check, event_id=f"deadline-check:{check.referral_id}:{check.checked_at.isoformat()}",
                            source=SOURCE, key=key, subject=check.case_id)
            await responses.send(key=record.key, value=record.value, headers=record.headers)
            metrics.DEADLINE_CHECKS.inc()

    @app.timer(interval=settings.metrics_refresh_interval_seconds)
    async def refresh_gauges() -> None:
        observe.refresh_gauges(dispatcher, datetime.now(UTC))

    return app
