"""Consumer lag from committed and log offsets: plain arithmetic over one snapshot, no Kafka (see offsets.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]


@dataclass(frozen=True)
class GroupOffsets:
    """What the broker knows of one consumer group at one moment."""

    group: str
    committed: Mapping[TopicPartition, int]  # next offset to read, as committed; absent if never committed
    assigned: frozenset[TopicPartition] = frozenset()  # partitions its live members hold now
    members: int = 0


@dataclass(frozen=True)
class Snapshot:
    groups: tuple[GroupOffsets, ...]
    end_offsets: Mapping[TopicPartition, int]  # offset the next record will get
    start_offsets: Mapping[TopicPartition, int]  # oldest offset still in the log
    taken_at: float  # Unix time, seconds
    topics: frozenset[str] = field(default_factory=frozenset)  # watched topics (their offsets are exported)


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    lag: int
    committed: int | None  # None: never committed; the lag then counts from the log start


def partition_lags(snapshot: Snapshot, skip_uncommitted: re.Pattern[str] | None = None) -> list[PartitionLag]:
    """Lag of every (group, topic, partition) with a commit, or assigned and not skipped; sorted.

    A group resumes at its committed offset, or at the log start when it never committed or when retention has
    deleted the records it had committed up to (the services use auto.offset.reset=earliest). Partitions whose
    log offsets are unknown (topic deleted, outside the snapshot) are left out rather than guessed.
    """
    lags = []
    for group in snapshot.groups:
        committed = {tp: offset for tp, offset in group.committed.items() if offset >= 0}
        inferred = {tp for tp in group.assigned - committed.keys()
                    if skip_uncommitted is None or not skip_uncommitted.search(tp[0])}
        for tp in committed.keys() | inferred:
            end = snapshot.end_offsets.get(tp)
            if end is None:
                continue
            start = snapshot.start_offsets.get(tp, 0)
            position = max(committed.get(tp, start), start)
            lags.append(PartitionLag(group.group, tp[0], tp[1], max(0, end - position), committed.get(tp)))
    return sorted(lags, key=lambda lag: (lag.group, lag.topic, lag.partition))
