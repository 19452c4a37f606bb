"""Read a lag snapshot from the broker with kafka-python's admin client: groups, commits, assignments, log ends."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from kafka import KafkaAdminClient
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import OffsetSpec

from services.monitor.lag import GroupOffsets, Snapshot, TopicPartition

log = logging.getLogger(__name__)


class OffsetReader:
    """One admin connection, opened on first use and reopened after a failure; call it for a ``Snapshot``."""

    def __init__(self, bootstrap_servers: str, groups: re.Pattern[str], topics: re.Pattern[str],
                 request_timeout_ms: int = 10_000, security: dict[str, Any] | None = None) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.groups = groups
        self.topics = topics
        self.request_timeout_ms = request_timeout_ms
        # kafka-python connection options (SASL) for a secured cluster, as for ensure_topics. The exporter's user
        # needs DESCRIBE on the deployment's topics and groups, nothing more.
        self.security = security or {}
        self._admin: KafkaAdminClient | None = None

    def __call__(self) -> Snapshot:
        if self._admin is None:
            self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id="liandong-lag-exporter",
                                           request_timeout_ms=self.request_timeout_ms, **self.security)
        try:
            return read_snapshot(self._admin, self.groups, self.topics)
        except Exception:
            self.close()  # a broken connection is not reused; the next poll starts afresh
            raise

    def close(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            try:
                admin.close()
            except Exception:  # closing a broken client may fail too; nothing more to release
                log.debug("closing the admin client failed", exc_info=True)


def read_snapshot(admin: KafkaAdminClient, groups: re.Pattern[str], topics: re.Pattern[str]) -> Snapshot:
    group_ids = sorted(g["group_id"] for g in admin.list_groups()
                       if groups.search(g["group_id"]) and g.get("protocol_type") in ("consumer", ""))
    described: dict[str, Any] = admin.describe_groups(group_ids) if group_ids else {}
    committed: dict[str, Any] = admin.list_group_offsets(group_ids) if group_ids else {}
    group_offsets = tuple(
        GroupOffsets(
            group=group_id,
            committed={(tp.topic, tp.partition): meta.offset for tp, meta in committed.get(group_id, {}).items()},
            assigned=_assigned(described.get(group_id) or {}),
            members=len((described.get(group_id) or {}).get("members") or []),
        )
        for group_id in group_ids
    )
    watched = sorted(t for t in admin.list_topics() if topics.search(t))
    partitions: set[TopicPartition] = set()
    for description in admin.describe_topics(watched) if watched else []:
        partitions |= {(description["name"], p["partition_index"]) for p in description["partitions"]}
    for group in group_offsets:
        partitions |= set(group.committed) | group.assigned
    ends = _offsets(admin, partitions, OffsetSpec.LATEST)
    starts = _offsets(admin, partitions, OffsetSpec.EARLIEST)
    return Snapshot(groups=group_offsets, end_offsets=ends, start_offsets=starts, taken_at=time.time(),
                    topics=frozenset(watched))


def _assigned(description: dict[str, Any]) -> frozenset[TopicPartition]:
    # kafka-python decodes the standard consumer assignment; a member whose protocol it cannot decode has none.
    assigned = set()
    for member in description.get("members") or []:
        assignment = member.get("member_assignment")
        if not isinstance(assignment, dict):
            continue
        for topic in assignment.get("assigned_partitions") or []:
            assigned |= {(topic["topic"], int(p)) for p in topic["partitions"]}
    return frozenset(assigned)


def _offsets(admin: KafkaAdminClient, partitions: set[TopicPartition], spec: OffsetSpec) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    answer = admin.list_partition_offsets({KafkaTopicPartition(t, p): spec for t, p in partitions})
    return {(tp.topic, tp.partition): int(found.offset) for tp, found in answer.items()}
