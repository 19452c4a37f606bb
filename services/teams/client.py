"""A receiving body's Kafka client (kafka-python): watch its own referrals topic, answer on its own responses topic.

The body is who the client is configured as. On a secured cluster its SASL credentials allow only its own referrals
topic, its own consumer group and its own responses topic (deploy/kafka/security.py); the relay
(services/dispatch/entrypoints/relay.py) republishes each answer on the internal topic *as the body whose topic it
came from*, so a client cannot answer as another body whatever it writes in ``body_id``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from schemas.events import (
    ReferralAction,
    ReferralIssued,
    ReferralOutcome,
    ReferralOverdue,
    ReferralResponded,
    RelatedCaseOpened,
    ReturnReason,
    WireModel,
)
from services.common.envelope import decode, encode
from services.common.topics import referrals_topic, responses_topic

KEY_NAMESPACE = uuid.UUID("0b8f3c52-6a0e-4f1d-9b57-2e4c8d91a6f3")
BODY_TOPIC_MODELS: tuple[type[WireModel], ...] = (ReferralIssued, ReferralOverdue, RelatedCaseOpened)


@dataclass(frozen=True)
class ReferralRef:
    """What an answer needs of a referral: enough for a township verifying a referral sent to another body (it is
    not on the township's own topic; the ids and the dedup group come from the case register or the feed)."""

    referral_id: str
    case_id: str
    dedup_group: str

    @classmethod
    def of(cls, referral: ReferralIssued | ReferralRef) -> ReferralRef:
        return cls(referral.referral_id, referral.case_id, referral.dedup_group)


def idempotency_key(referral_id: str, action: ReferralAction, user_key: str | None = None,
                    content: dict[str, Any] | None = None) -> str:
    """The key a command is sent with: the same command run again is the same action, answered once.

    With ``user_key`` the key is (referral, action, user key). Without one it is (referral, action, what the command
    says): an identical re-run is a retry, while a second round after a rework (a new note, a new outcome) is a new
    action. The relay scopes the key to the body, so two bodies' keys never meet.
    """
    if user_key is not None:
        name = f"{referral_id}\x1f{action.value}\x1fkey\x1f{user_key}"
    else:
        canonical = json.dumps(content or {}, sort_keys=True, ensure_ascii=False, default=str)
        name = f"{referral_id}\x1f{action.value}\x1fcontent\x1f{hashlib.sha256(canonical.encode()).hexdigest()}"
    return str(uuid.uuid5(KEY_NAMESPACE, name))


class ReferralClient:
    def __init__(self, bootstrap_servers: str, body_id: str, topic_prefix: str = "liandong",
                 group_id: str | None = None, **security: Any) -> None:
        self.body_id = body_id
        self.topic = referrals_topic(body_id, topic_prefix)
        self.responses_topic = responses_topic(body_id, topic_prefix)
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

    def respond(self, referral: ReferralIssued | ReferralRef, action: ReferralAction, *, reason: str | None = None,
                outcome: ReferralOutcome | None = None, reason_code: ReturnReason | None = None,
                designated_body_id: str | None = None, due_by: datetime | None = None,
                evidence: Sequence[str] = (), key: str | None = None, stated_at: datetime | None = None,
                actor: str | None = None) -> ReferralResponded:
        """Validate and publish an action on this body's responses topic; returns it once the broker has it.

        ``body_id`` and ``responded_at`` are filled in for the schema only: the relay replaces them with this
        body (the topic's) and its own receive time. ``key``: see ``idempotency_key``.
        """
        ref = ReferralRef.of(referral)
        content = {"reason": reason, "outcome": outcome, "reason_code": reason_code,
                   "designated_body_id": designated_body_id, "due_by": due_by, "evidence": list(evidence)}
        response = ReferralResponded(
            response_id=idempotency_key(ref.referral_id, action, key, content),
            referral_id=ref.referral_id, case_id=ref.case_id, body_id=self.body_id, action=action,
            reason=reason, outcome=outcome, responded_at=datetime.now(UTC), reason_code=reason_code,
            designated_body_id=designated_body_id, due_by=due_by, evidence=tuple(evidence), stated_at=stated_at,
            actor=actor,
        )
        # Keyed like the case's findings, so dispatch handles it on the partition that owns the case's state.
        record = encode(response, event_id=response.response_id, source=f"/bodies/{self.body_id}",
                        key=ref.dedup_group, subject=ref.case_id)
        self._producer_ready().send(self.responses_topic, record.value, key=record.key,
                                    headers=record.headers).get(timeout=30)
        return response

    def accept(self, referral: ReferralIssued, key: str | None = None) -> ReferralResponded:
        return self.respond(referral, ReferralAction.ACCEPT, key=key)

    def return_referral(self, referral: ReferralIssued, reason: str | None = None,
                        reason_code: ReturnReason | None = None, key: str | None = None) -> ReferralResponded:
        return self.respond(referral, ReferralAction.RETURN, reason=reason, reason_code=reason_code, key=key)

    def start_handling(self, referral: ReferralIssued, key: str | None = None) -> ReferralResponded:
        return self.respond(referral, ReferralAction.START_HANDLING, key=key)

    def feed_back(self, referral: ReferralIssued, outcome: ReferralOutcome, note: str | None = None,
                  evidence: Sequence[str] = (), key: str | None = None) -> ReferralResponded:
        return self.respond(referral, ReferralAction.FEED_BACK, outcome=outcome, reason=note, evidence=evidence,
                            key=key)

    def extend(self, referral: ReferralIssued, reason: str, key: str | None = None) -> ReferralResponded:
        return self.respond(referral, ReferralAction.EXTEND, reason=reason, key=key)

    # The reporting township's actions (核查結案, 驳回重办), on the referral sent to the handling body.
    def verify(self, referral: ReferralIssued | ReferralRef, key: str | None = None) -> ReferralResponded:
        return self.respond(referral, ReferralAction.VERIFY, key=key)

    def close_case(self, referral: ReferralIssued | ReferralRef, note: str | None = None,
                   key: str | None = None) -> ReferralResponded:
        return self.respond(referral, ReferralAction.CLOSE, reason=note, key=key)

    def rework(self, referral: ReferralIssued | ReferralRef, reason: str, due_by: datetime | None = None,
               key: str | None = None) -> ReferralResponded:
        return self.respond(referral, ReferralAction.REWORK, reason=reason, due_by=due_by, key=key)

    # County coordination's decision of a jurisdiction dispute (指定管辖).
    def decide(self, referral: ReferralIssued, body_id: str, reason: str | None = None,
               key: str | None = None) -> ReferralResponded:
        return self.respond(referral, ReferralAction.DECIDE, designated_body_id=body_id, reason=reason, key=key)

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
