"""The responses relay: each body's own responses topic → the internal referral-responses topic, as that body.

    python -m services.dispatch.entrypoints.relay [--web-port P] [--loglevel L]   (several form one group)

A body's Kafka credentials may write only ``<prefix>.responses.<body>`` (deploy/kafka/security.py), so the topic a
record came from *is* the authenticated body. The relay never trusts the payload for who or when:

- ``body_id`` := the body whose topic the record was read from (a body naming another body acts as itself, and
  dispatch refuses it as ``forbidden`` when the referral is not its own);
- ``responded_at`` := the relay's receive time (``services.common.responses.received_now``); a payload's own
  ``responded_at`` is dropped (a body that wants to say when it acted uses ``stated_at``, which dispatch bounds);
- ``response_id`` := ``response_id_for(body, referral, action, <the id the body gave>)``, so a body's retry is the
  same action and one body's id can never name another's;
- ``channel`` := ``kafka``; the key stays the record's key (the dedup group from ``ReferralIssued.dedup_group``).

At-least-once: a batch is republished (acks=all, idempotent producer), then its offsets are committed; a crash in
between republishes it after the restart under the same response ids, which dispatch drops as repeats. A record
that cannot be read goes to the dead-letter topic with the reason, and the relay goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord
from kafka.errors import KafkaError

from schemas.events import Channel, ReferralResponded
from services.common.dead_letters import dead_letter
from services.common.envelope import PoisonEvent, Record, decode
from services.common.kafka_admin import body_topics, ensure_topics
from services.common.pause_guard import stop_on_unexpected_error
from services.common.responses import received_now, response_id_for, response_record
from services.common.settings import KafkaSettings
from services.common.topics import (
    DEAD_LETTERS,
    REFERRAL_RESPONSES,
    body_of_responses_topic,
)
from services.common.worker_main import run_worker_main, stop_on_signals
from services.dispatch.adapters import relay_metrics
from services.reference.loader import load_reference_data

log = logging.getLogger("liandong.relay")
SOURCE = "/relay"
SERVICE = "relay"
MAX_BATCH = 500
# Fields whose payload value is never used: the relay sets them from the topic and its own clock.
_SET_BY_RELAY = ("body_id", "responded_at", "channel")

class RelaySettings(KafkaSettings):
    relay_web_port: int = 6068
    # How soon a body's responses topic created after start (a new body) is subscribed to.
    relay_metadata_max_age_seconds: float = 10.0
    batch_deadline_seconds: float = 20.0


def relay_group(settings: KafkaSettings) -> str:
    return f"{settings.group_prefix}-relay"


def translate(record: ConsumerRecord, prefix: str, now: datetime | None = None) -> tuple[ReferralResponded, Record]:
    """The trusted action for one record of a body's responses topic; ``PoisonEvent`` when it cannot be read."""
    body_id = body_of_responses_topic(record.topic, prefix)
    if body_id is None:
        raise Unreadable("wrong_topic", f"{record.topic} is not a body's responses topic")
    if not record.key:
        raise Unreadable("no_key", "a response without a key: use the referral's dedup_group "
                         "(ReferralIssued.dedup_group)")
    ce_type = dict(record.headers or []).get("ce_type", b"").decode(errors="replace")
    if ce_type != ReferralResponded.CE_TYPE:
        # A DeadlineCheck above all: only dispatch's own timer sends those, on the internal topic.
        raise Unreadable("wrong_type", f"unexpected event type {ce_type!r} on a body's responses topic: only "
                         f"{ReferralResponded.CE_TYPE} is relayed")
    try:
        payload: Any = json.loads(record.value or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Unreadable("not_json", f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise Unreadable("not_json", "body is not a JSON object (a ReferralResponded)")
    given_id = payload.get("response_id")
    if not isinstance(given_id, str) or not given_id:
        raise Unreadable("no_response_id", "response_id (the body's idempotency key for this action) is required")
    # Whatever the body wrote there is replaced before validation: a body may leave these out, or get them wrong.
    for name in _SET_BY_RELAY:
        payload.pop(name, None)
    received = now or received_now()
    payload.update(body_id=body_id, responded_at=received.isoformat(), channel=Channel.KAFKA.value)
    # decode validates the envelope and the type: a DeadlineCheck or any other type on a body's topic is refused.
    try:
        _ce, stated = decode(record.headers or [], json.dumps(payload).encode(), [ReferralResponded])
    except PoisonEvent as exc:
        raise Unreadable("invalid", exc.reason) from None
    assert isinstance(stated, ReferralResponded)
    trusted = stated.model_copy(update={
        "response_id": response_id_for(body_id, stated.referral_id, stated.action.value, given_id)})
    return trusted, response_record(trusted, dedup_group=record.key.decode(errors="replace"), source=SOURCE)


class Unreadable(PoisonEvent):
    """A record the relay cannot turn into an action; ``kind`` is the bounded label of the refusal counter."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class Relay(ConsumerRebalanceListener):
    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.group = relay_group(settings)
        self.prefix = settings.topic_prefix
        self.responses_topic = REFERRAL_RESPONSES.name(self.prefix)
        self.dead_letters_topic = DEAD_LETTERS.name(self.prefix)
        self.delivery = settings.kafka_delivery()  # the bodies whose responses topics exist and are read
        self.batch_lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer
        self.producer: AIOKafkaProducer

    def prepare_topics(self) -> None:
        # The relay may start before dispatch: it creates the same topics, so its pattern finds every body's topic.
        bodies = self.delivery.bodies(body.body_id for body in load_reference_data().bodies())
        for attempt in range(3):
            try:
                ensure_topics(self.settings.bootstrap_servers, self.prefix, extra=body_topics(bodies, self.prefix),
                              timeout_seconds=120)
                return
            except KafkaError:
                # dispatch creates the same topics at the same start: a topic it has just created may not be
                # described yet. Asking again finds it.
                if attempt == 2:
                    raise
                time.sleep(2)

    async def run(self) -> None:
        loop = stop_on_signals(self.stopping)
        await loop.run_in_executor(None, self.prepare_topics)
        servers = self.settings.bootstrap_servers
        self.producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True,
                                         linger_ms=2, client_id=self.group)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=servers, group_id=self.group, client_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", max_poll_records=MAX_BATCH,
            metadata_max_age_ms=int(self.settings.relay_metadata_max_age_seconds * 1000),
            session_timeout_ms=int(self.settings.session_timeout_seconds * 1000),
            rebalance_timeout_ms=int(2 * self.settings.batch_deadline_seconds * 1000),
        )
        await self.producer.start()
        await self.consumer.start()
        pattern = self.delivery.responses_pattern(self.prefix)
        self.consumer.subscribe(pattern=pattern, listener=self)
        log.info("relay started: group %s, pattern %s", self.group, pattern)
        try:
            while not self.stopping.is_set():
                batch = await self.consumer.getmany(timeout_ms=200, max_records=MAX_BATCH)
                if not batch:
                    continue
                async with self.batch_lock:
                    try:
                        await asyncio.wait_for(self._relay(batch), self.settings.batch_deadline_seconds)
                    except CommitFailedError as exc:
                        # The group rebalanced under the batch: its new owner relays it again, same response ids.
                        log.warning("commit refused after a rebalance; the batch will be relayed again: %s", exc)
                    except Exception as exc:
                        stop_on_unexpected_error(log, exc)
        finally:
            await self.consumer.stop()
            await self.producer.stop()
            log.info("relay stopped")

    async def _relay(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assigned = self.consumer.assignment()
        sent: list[tuple[asyncio.Future[Any], str | None, ConsumerRecord]] = []
        offsets = {}
        for tp, records in batch.items():
            if tp not in assigned:
                continue  # revoked since the fetch: whoever owns it now reads it from the committed offset
            for record in records:
                try:
                    response, out = translate(record, self.prefix)
                    topic, action = self.responses_topic, response.action.value
                except Unreadable as exc:
                    log.warning("dead letter from %s@%s: %s", record.topic, record.offset, exc.reason)
                    relay_metrics.REFUSED.labels(exc.kind).inc()
                    out = dead_letter(SERVICE, record.key, record.value, record.headers or [], exc.reason,
                                      record.topic, record.partition, record.offset)
                    topic, action = self.dead_letters_topic, None
                future = await self.producer.send(topic, out.value, key=out.key, headers=out.headers)
                sent.append((future, action, record))
            offsets[tp] = records[-1].offset + 1
        for future, action, record in sent:
            await future  # acks=all: the broker has it before its input offset is committed
            if action is not None:
                relay_metrics.RELAYED.labels(action).inc()
                relay_metrics.LATENCY.observe(max(0.0, time.time() - record.timestamp / 1000))
        if offsets:
            await self.consumer.commit(offsets)

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # The batch in flight commits before its partitions can go to another relay.
        async with self.batch_lock:
            pass

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("relaying %d body topics", len(list(assigned)))


def main() -> None:
    from services.dispatch.wiring import build_relay  # the command line builds its process through the wiring

    run_worker_main(__doc__, RelaySettings, "relay_web_port", lambda settings: build_relay(settings).run())


if __name__ == "__main__":
    main()

