"""Dispatch's durable state: dict tables split by input partition, each backed by a compacted changelog topic.

A table is a plain mapping to the service layer (``service.Dispatcher``). The worker tells the store which input
partition it is processing (``processing(partition)``); every write then lands in that partition's rows and is queued
as a changelog record for the same partition, which the worker sends before it commits the input offset. A worker
that takes a partition over reads that partition of every changelog from the start (``load``), so the rows follow
the input partition from worker to worker — the same co-partitioning Kafka Streams and Faust use.

This store keeps every row in memory and so reads each owned partition's changelogs whole after every start;
``disk_state.DiskStateStore`` keeps them in RocksDB and reads only what was written since its last checkpoint. Both
offer the worker the same methods: ``processing``, ``take_pending``, ``checkpoint``, ``discard_unwritten``, ``own``,
``position``, ``reset``, ``load``, ``close``.

Changelog records: key = the row key as JSON, value = the row as JSON, a deletion is a tombstone (no value).
Keys are written by the standard library's encoder and never change form: compaction keeps the last record per key
bytes. Values are written and read with orjson — several times faster, and a restore reads millions of them; any JSON
reader can read them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class ChangelogRecord:
    topic: str
    partition: int
    key: bytes
    value: bytes | None


def encode_key(key: str) -> bytes:
    return json.dumps(key).encode()


def encode_value(value: Any) -> bytes | None:
    return None if value is None else orjson.dumps(value)


Where = tuple[str, int]  # a changelog topic and partition


def restore_plan(positions: Mapping[Where, int], starts: Mapping[Where, int], ends: Mapping[Where, int],
                 resumable: bool) -> tuple[dict[Where, int], set[int]]:
    """Where to read each changelog partition from to bring a store to ``ends``, and the input partitions to wipe
    first (their changelogs are then read from the start).

    ``positions``: the offsets the store holds each changelog partition up to; ``starts``/``ends``: the changelogs'
    first and end offsets now. A position at the end needs nothing. A position the changelog continues is read on
    from, if the store can catch up (``resumable``); one past the end or before the start (a topic recreated or
    truncated), or any change for a store that cannot catch up, wipes the whole input partition.
    """
    behind = {where for where, end in ends.items() if positions.get(where, 0) != end}
    wiped = {where[1] for where in behind
             if not resumable or not starts[where] <= positions.get(where, 0) <= ends[where]}
    reads = {where: starts[where] if where[1] in wiped else max(starts[where], positions.get(where, 0))
             for where in behind}
    reads.update({where: starts[where] for where in ends if where[1] in wiped and ends[where] > starts[where]})
    return reads, wiped


class NoPartition(RuntimeError):
    """A table was written outside ``StateStore.processing``: the row would have no changelog partition."""


class PartitionedTable(MutableMapping[str, Any]):
    """One table of the store. Reads see every partition this worker owns; writes go to the current one.

    A table kept ``encoded`` holds each row as its changelog JSON and decodes it on every read: for tables read
    rarely but large (the dedup rows, also held as objects by the dedup index) that is several times less memory.
    """

    def __init__(self, name: str, changelog_topic: str, store: StateStore, encoded: bool = False) -> None:
        self.name = name
        self.changelog_topic = changelog_topic
        self.encoded = encoded
        self._store = store
        self._rows: dict[str, Any] = {}
        self._partition_of: dict[str, int] = {}

    def __getitem__(self, key: str) -> Any:
        row = self._rows[key]
        return orjson.loads(row) if self.encoded else row

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __setitem__(self, key: str, value: Any) -> None:
        partition = self._store.current_partition()
        encoded = encode_value(value)
        self._rows[key] = encoded if self.encoded else value
        self._partition_of[key] = partition
        self._store.queue(ChangelogRecord(self.changelog_topic, partition, encode_key(key), encoded))

    def __delitem__(self, key: str) -> None:
        partition = self._store.current_partition()
        del self._rows[key]
        self._partition_of.pop(key, None)
        self._store.queue(ChangelogRecord(self.changelog_topic, partition, encode_key(key), None))

    def partition_of(self, key: str) -> int | None:
        """The input partition whose changelog holds the row (None when there is no such row)."""
        return self._partition_of.get(key)

    # -- the store's side ---------------------------------------------------------------------------------------

    def load(self, partition: int, key: bytes, value: bytes | None) -> None:
        """Apply one changelog record read back during a restore (no new changelog record)."""
        row_key = orjson.loads(key)
        if value is None:
            self._rows.pop(row_key, None)
            self._partition_of.pop(row_key, None)
        else:
            self._rows[row_key] = value if self.encoded else orjson.loads(value)
            self._partition_of[row_key] = partition

    def drop(self, partitions: set[int]) -> None:
        """Forget the rows of partitions this worker no longer owns."""
        gone = [key for key, partition in self._partition_of.items() if partition in partitions]
        for key in gone:
            del self._rows[key]
            del self._partition_of[key]


class ChangelogBatches:
    """What both stores share: which input partition is being processed (every write lands in its rows and its
    changelog partition), and the changelog records written since the worker last took them."""

    def __init__(self) -> None:
        self._current: int | None = None
        self._pending: list[ChangelogRecord] = []

    def current_partition(self) -> int:
        if self._current is None:
            raise NoPartition("a dispatch table was written outside the processing of an input event")
        return self._current

    def queue(self, record: ChangelogRecord) -> None:
        self._pending.append(record)

    @contextmanager
    def processing(self, partition: int) -> Iterator[None]:
        self._current = partition
        try:
            yield
        finally:
            self._current = None

    def take_pending(self) -> list[ChangelogRecord]:
        """The changelog records written since the last call, in order, to be sent before the input is committed."""
        pending, self._pending = self._pending, []
        return pending


class StateStore(ChangelogBatches):
    def __init__(self, changelog_topics: dict[str, str], encoded: frozenset[str] = frozenset()) -> None:
        """``changelog_topics``: table name → its changelog topic (same partition count as the input topics);
        ``encoded``: the tables kept as changelog JSON in memory (see ``PartitionedTable``)."""
        self.tables = {name: PartitionedTable(name, topic, self, encoded=name in encoded)
                       for name, topic in changelog_topics.items()}
        self._by_topic = {table.changelog_topic: table for table in self.tables.values()}
        super().__init__()
        # The changelog end offsets the rows hold, per (topic, partition), this worker's own writes included.
        self._positions: dict[tuple[str, int], int] = {}
        self._owned: set[int] = set()

    def checkpoint(self, ends: Mapping[tuple[str, int], int]) -> None:
        """The oldest batch taken is acknowledged and its changelogs end at ``ends``: remember them (``position``)."""
        for where, end in ends.items():
            self._positions[where] = max(self._positions.get(where, 0), end)

    def discard_unwritten(self) -> None:
        """Nothing to discard: the rows already hold every batch's writes, which is why this store cannot catch a
        partition up from its ``position`` and reads it again whole when its changelog moved (``resumable``)."""
        self._pending = []

    resumable = False

    def table_of_topic(self, topic: str) -> PartitionedTable:
        return self._by_topic[topic]

    def own(self, partitions: Iterable[int]) -> None:
        """The partitions now owned: forget the rows of the others."""
        wanted = set(partitions)
        self.drop(self._owned - wanted)
        self._owned = wanted

    def drop(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for table in self.tables.values():
            table.drop(gone)
        self._positions = {where: end for where, end in self._positions.items() if where[1] not in gone}

    def reset(self, partition: int) -> None:
        """Forget the partition's rows (its changelog is read again from the start)."""
        self.drop({partition})

    def position(self, topic: str, partition: int) -> int:
        """The offset the rows hold ``topic``'s partition up to (0: nothing of it)."""
        return self._positions.get((topic, partition), 0)

    def load(self, topic: str, partition: int, records: Iterable[tuple[bytes, bytes | None]], end: int) -> None:
        """Apply changelog records read back (key, value; no value: a deletion), which end at offset ``end``."""
        table = self._by_topic[topic]
        for key, value in records:
            table.load(partition, key, value)
        self._positions[(topic, partition)] = end

    def close(self) -> None:
        pass
