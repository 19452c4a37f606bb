"""A receiving body's Kafka client (kafka-python): watch its own referrals topic, answer on referral-responses.

The body is who the client is configured as; on a secured cluster its SASL credentials only allow its own topic
and consumer group (deploy/kafka ACLs), so a client cannot read or answer as another body.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from schemas.events import (
    ReferralAction,
    ReferralIssued,
    ReferralOutcome,
    ReferralOverdue,
    ReferralResponded,
    WireModel,
)
from services.common.envelope import decode, encode
from services.common.topics import REFERRAL_RESPONSES, referrals_topic

RESPONSE_NAMESPACE = uuid.UUID("5d7b4a0e-2f61-4c53-9a3e-6c1f7d2b8e94")
BODY_TOPIC_MODELS: tuple[type[WireModel], ...] = (ReferralIssued, ReferralOverdue)


def response_id_for(referral_id: str, action: ReferralAction, body_id: str) -> str:
    """One id per (referral, action, body): re-running the same command is answered the same, never twice."""
    return str(uuid.uuid5(RESPONSE_NAMESPACE, f"{referral_id}\x1f{action.value}\x1f{body_id}"))


class ReferralClient:
    def __init__(self, bootstrap_servers: str, body_id: str, topic_prefix: str = "liandong",
                 group_id: str | None = None, **security: Any) -> None:
        self.body_id = body_id
        self.topic = referrals_topic(body_id, topic_prefix)
        self.responses_topic = REFERRAL_RESPONSES.name(topic_prefix)
        self.group_id = group_id or f"{topic_prefix}-body-{body_id.replace(':', '.')}"
        self._bootstrap_servers = bootstrap_servers
        self._security = security
        self._producer: KafkaProducer | None = None

    def watch(self, from_beginning: bool = True, idle_timeout_ms: int | None = None) -> Iterator[WireModel]:
        """Yield referrals (and overdue warnings) sent to this body; the offset is committed after each is handled."""
        consumer = KafkaConsumer(
            self.topic, bootstrap_servers=self._bootstrap_servers, group_id=self.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest" if from_beginning else "latest",
            consumer_timeout_ms=idle_timeout_ms if idle_timeout_ms is not None else float("inf"),
            **self._security,
        )
        try:
            for record in consumer:
                _ce, model = decode(record.headers, record.value, BODY_TOPIC_MODELS)
                yield model
                consumer.commit()  # only once the caller came back for the next one: it has handled this one
        finally:
            consumer.close()

    def respond(self, referral: ReferralIssued, action: ReferralAction, *, reason: str | None = None,
                outcome: ReferralOutcome | None = None, at: datetime | None = None) -> ReferralResponded:
        """Validate and publish a response; returns it once the broker acknowledged it."""
        response = ReferralResponded(
            response_id=response_id_for(referral.referral_id, action, self.body_id),
            referral_id=referral.referral_id, case_id=referral.case_id, body_id=self.body_id, action=action,
            reason=reason, outcome=outcome, responded_at=at or datetime.now(UTC),
        )
        # Keyed like the case's findings, so dispatch handles it on the partition that owns the case's state.
        record = encode(response, event_id=response.response_id, source=f"/bodies/{self.body_id}",
                        key=referral.dedup_group, subject=referral.case_id)
        self._producer_ready().send(self.responses_topic, record.value, key=record.key,
                                    headers=record.headers).get(timeout=30)
        return response

    def accept(self, referral: ReferralIssued) -> ReferralResponded:
        return self.respond(referral, ReferralAction.ACCEPT)

    def return_referral(self, referral: ReferralIssued, reason: str) -> ReferralResponded:
        return self.respond(referral, ReferralAction.RETURN, reason=reason)

    def start_handling(self, referral: ReferralIssued) -> ReferralResponded:
        return self.respond(referral, ReferralAction.START_HANDLING)

    def feed_back(self, referral: ReferralIssued, outcome: ReferralOutcome, note: str | None = None
                  ) -> ReferralResponded:
        return self.respond(referral, ReferralAction.FEED_BACK, outcome=outcome, reason=note)

    def extend(self, referral: ReferralIssued, reason: str) -> ReferralResponded:
        return self.respond(referral, ReferralAction.EXTEND, reason=reason)

    def find(self, referral_id: str) -> ReferralIssued:
        """Look a referral up on this body's own topic (a body can only answer what it was sent)."""
        for model in self._scan():
            if isinstance(model, ReferralIssued) and model.referral_id == referral_id:
                return model
        raise LookupError(f"no referral {referral_id} on {self.topic}")

    def _scan(self) -> Iterator[WireModel]:
        # Read without a group: looking something up must not move the body's own committed position.
        consumer = KafkaConsumer(self.topic, bootstrap_servers=self._bootstrap_servers, group_id=None,
                                 enable_auto_commit=False, auto_offset_reset="earliest", consumer_timeout_ms=3000,
                                 **self._security)
        try:
            for record in consumer:
                yield decode(record.headers, record.value, BODY_TOPIC_MODELS)[1]
        finally:
            consumer.close()

    def _producer_ready(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self._bootstrap_servers, acks="all",
                                           enable_idempotence=True, **self._security)
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None
