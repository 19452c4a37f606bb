"""Actions on referrals as liandong's trusted writers put them on the internal referral-responses topic.

Three channels carry an action in, and each establishes the actor by its own authentication: the lifecycle API
(bearer token), Open311 ``servicerequestupdates`` (API key of an external work-order system) and the relay of the
bodies' own Kafka response topics (the topic a record came from). Whatever the channel, the action is built here:
the body from authentication, the time from liandong's clock, the id from the actor's idempotency key.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas.events import ReferralResponded
from services.common.envelope import Record, encode

RESPONSE_NAMESPACE = uuid.UUID("5d7b4a0e-2f61-4c53-9a3e-6c1f7d2b8e94")


def response_id_for(actor_body_id: str, referral_id: str, action: str, idempotency_key: str) -> str:
    """One id per (actor, referral, action, key): a retry with the same key is the same action, never a second one.

    The actor is part of the name, so one body's key can never collide with, or replay, another body's action.
    """
    return str(uuid.uuid5(RESPONSE_NAMESPACE, "\x1f".join((actor_body_id, referral_id, action, idempotency_key))))


def received_now() -> datetime:
    """The trusted receive time of an action (what ``responded_at`` means)."""
    return datetime.now(UTC)


def response_record(response: ReferralResponded, *, dedup_group: str, source: str) -> Record:
    """The record for the referral-responses topic: keyed like the case's findings, so the dispatch worker that owns
    the case's state handles it, in order with the case's other commands."""
    return encode(response, event_id=response.response_id, source=source, key=dedup_group,
                  subject=response.case_id, time=response.responded_at)
