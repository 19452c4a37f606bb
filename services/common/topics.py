"""The one place every Kafka topic is declared: name, partitions, configs and what the key means.

The broker runs with ``auto.create.topics.enable=false``; ``services.common.kafka_admin.ensure_topics`` creates these.
A ``prefix`` (default ``liandong``) lets tests give every test its own topics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Findings and their dedup decisions are partitioned by dedup group (see docs/dedup.md): all findings that could
# ever merge share a partition, whatever their location, so no geographic border can split them.
DEDUP_PARTITIONS = 12
CASE_PARTITIONS = 6


@dataclass(frozen=True)
class TopicSpec:
    suffix: str
    partitions: int
    key: str
    description: str
    configs: dict[str, str] = field(default_factory=dict)

    def name(self, prefix: str = "liandong") -> str:
        return f"{prefix}.{self.suffix}"


# min.insync.replicas is not set here: every topic takes the cluster's (services/common/kafka_admin.py).
KEEP_FOREVER = {"retention.ms": "-1"}

FINDINGS = TopicSpec(
    "findings", DEDUP_PARTITIONS, "dedup group of the finding's category",
    "FindingReported events accepted by the patrol service", KEEP_FOREVER,
)
CASE_EVENTS = TopicSpec(
    "case-events", CASE_PARTITIONS, "case_id",
    "Case lifecycle: CaseOpened, FindingMerged, ReferralIssued, CaseTransitioned, ResponseRejected", KEEP_FOREVER,
)
REFERRAL_RESPONSES = TopicSpec(
    "referral-responses", DEDUP_PARTITIONS, "dedup group of the case (same partition as its findings)",
    "ReferralResponded commands from receiving bodies", KEEP_FOREVER,
)
FEED = TopicSpec(
    "feed", CASE_PARTITIONS, "case_id",
    "Shared enforcement-information feed, masked for the public audience", KEEP_FOREVER,
)
DEAD_LETTERS = TopicSpec(
    "dead-letters", 1, "original key",
    "Events no handler could read, with the reason in headers", KEEP_FOREVER,
)
# One topic per receiving body, so each body's credentials can be limited to its own referrals; only for the bodies
# of the counties LIANDONG_KAFKA_DELIVERY_COUNTIES covers (services/common/delivery.py).
REFERRALS_FAMILY = TopicSpec(
    "referrals", 1, "case_id",
    "ReferralIssued for one body: <prefix>.referrals.<body id with ':' as '.'>; only for a body of a county "
    "LIANDONG_KAFKA_DELIVERY_COUNTIES covers (every county by default)", KEEP_FOREVER,
)

# One topic per receiving body for its answers: its credentials may write only there, so the topic a record came from
# is who wrote it. The relay (services/dispatch/entrypoints/relay.py) republishes each action on referral-responses
# with that body.
# LogAppendTime: the record's timestamp is the broker's, not whatever a body's producer claims.
RESPONSES_FAMILY = TopicSpec(
    "responses", 1, "dedup group of the case (ReferralIssued.dedup_group)",
    "ReferralResponded written by one body: <prefix>.responses.<body id with ':' as '.'>; only for a body of a "
    "county LIANDONG_KAFKA_DELIVERY_COUNTIES covers",
    {**KEEP_FOREVER, "message.timestamp.type": "LogAppendTime"},
)

CORE_TOPICS: tuple[TopicSpec, ...] = (FINDINGS, CASE_EVENTS, REFERRAL_RESPONSES, FEED, DEAD_LETTERS)


def referrals_topic(body_id: str, prefix: str = "liandong") -> str:
    return f"{REFERRALS_FAMILY.name(prefix)}.{body_id.replace(':', '.')}"


def responses_topic(body_id: str, prefix: str = "liandong") -> str:
    return f"{RESPONSES_FAMILY.name(prefix)}.{body_id.replace(':', '.')}"


def responses_topic_pattern(prefix: str = "liandong") -> str:
    """Regular expression matching every body's responses topic (and nothing else) under ``prefix``."""
    return "^" + re.escape(f"{RESPONSES_FAMILY.name(prefix)}.") + r"[^.]+(\.[^.]+)*$"


def body_of_responses_topic(topic: str, prefix: str = "liandong") -> str | None:
    """The body whose responses topic ``topic`` is; None for any other topic. Body ids never contain '.'."""
    family = f"{RESPONSES_FAMILY.name(prefix)}."
    if not topic.startswith(family) or len(topic) == len(family):
        return None
    return topic[len(family):].replace(".", ":")
