"""Dispatch's durable state on local disk: one RocksDB database per input partition, a checkpoint of its changelogs.

The tables and the changelog records are the same as ``state.StateStore``'s (same keys, same JSON values, same
partitions); only where the rows live differs. Each owned partition has a database under
``<state dir>/<group>/partition-<p>`` holding that partition's rows of every table and, per changelog topic, the
offset the database holds the changelog up to. The database always equals its changelogs up to those offsets:

- A batch's writes go to an in-memory overlay (reads see it first). ``take_pending`` seals the batch's overlay and
  hands its changelog records to the worker; once the broker has acknowledged them the worker calls ``checkpoint``
  with the changelog end offsets, and the overlay and those offsets go to each partition's database in one
  ``WriteBatch`` (atomic). A crash before that loses nothing: the input is processed again from its committed offset,
  and the changelog still holds everything the database lacks.
- A restore (``load``/``restored``) writes the records it reads and the offset they end at in one batch as well,
  so even a restore cut short resumes where it stopped.

A restarted worker thus reads each changelog only from its stored offset (``position``) to the end: the records
written since its last checkpoint, or by the worker that owned the partition meanwhile. A database whose offset the
changelog cannot continue (beyond its end, before its start: a topic recreated or truncated) is wiped and restored
from the start (``reset``). A partition the worker loses is closed, its files kept for a later catch-up.

Row keys on disk: the table name, a zero byte, then the changelog key bytes; changelog offsets: a one byte, a zero
byte, then the topic name. Values are the changelog values (JSON) as they are; every read decodes one.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import orjson
from rocksdict import BlockBasedOptions, Options, Rdict, ReadOptions, WriteBatch

from services.dispatch.adapters.state import ChangelogBatches, ChangelogRecord, encode_key, encode_value

_OFFSET_PREFIX = b"\x01\x00"
# One partition's row in an overlay: (partition, changelog value; None for a deletion).
Overlaid = tuple[int, bytes | None]


def _options() -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    # Most reads of a new finding miss (its membership row, in every database but one): a bloom filter answers a
    # miss without reading a block.
    table = BlockBasedOptions()
    table.set_bloom_filter(10, False)
    options.set_block_based_table_factory(table)
    return options


def _offset_key(topic: str) -> bytes:
    return _OFFSET_PREFIX + topic.encode()


class DiskTable(MutableMapping[str, Any]):
    """One table: reads see this batch's writes, then the batches awaiting their acks, then the owned databases."""

    def __init__(self, name: str, changelog_topic: str, store: DiskStateStore) -> None:
        self.name = name
        self.changelog_topic = changelog_topic
        self.prefix = name.encode() + b"\x00"
        self._upper = name.encode() + b"\x01"  # the first key after every row of this table
        self._store = store
        self.current: dict[str, Overlaid] = {}
        self.sealed: deque[dict[str, Overlaid]] = deque()  # oldest first

    def _overlaid(self, key: str) -> Overlaid | None:
        found = self.current.get(key)
        if found is not None:
            return found
        for layer in reversed(self.sealed):
            found = layer.get(key)
            if found is not None:
                return found
        return None

    def _on_disk(self, key: str) -> tuple[int, bytes] | None:
        db_key = self.prefix + encode_key(key)
        for partition, db in self._store.databases_to_read():
            value = db.get(db_key)
            if value is not None:
                return partition, value
        return None

    def _find(self, key: str) -> tuple[int, bytes] | None:
        overlaid = self._overlaid(key)
        if overlaid is not None:
            partition, value = overlaid
            return None if value is None else (partition, value)
        return self._on_disk(key)

    def __getitem__(self, key: str) -> Any:
        found = self._find(key)
        if found is None:
            raise KeyError(key)
        return orjson.loads(found[1])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def _merged_overlay(self) -> dict[str, Overlaid]:
        merged: dict[str, Overlaid] = {}
        for layer in (*self.sealed, self.current):
            merged.update(layer)
        return merged

    def _disk_items(self) -> Iterator[tuple[str, bytes]]:
        start = len(self.prefix)
        for _partition, db in self._store.databases_to_read():
            bound = ReadOptions()
            bound.set_iterate_upper_bound(self._upper)
            for db_key, value in db.items(from_key=self.prefix, read_opt=bound):
                yield orjson.loads(db_key[start:]), value  # type: ignore[index]  # raw mode: bytes

    def _raw_items(self) -> Iterator[tuple[str, bytes]]:
        overlay = self._merged_overlay()
        for key, value in self._disk_items():
            if key not in overlay:
                yield key, value
        for key, (_partition, overlaid) in overlay.items():
            if overlaid is not None:
                yield key, overlaid

    def __iter__(self) -> Iterator[str]:
        return (key for key, _value in self._raw_items())

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]  # a generator: tables outgrow memory
        return ((key, orjson.loads(value)) for key, value in self._raw_items())

    def __len__(self) -> int:
        return sum(1 for _row in self._raw_items())

    def __setitem__(self, key: str, value: Any) -> None:
        self._write(key, encode_value(value))

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._write(key, None)

    def _write(self, key: str, encoded: bytes | None) -> None:
        partition = self._store.current_partition()
        self.current[key] = (partition, encoded)
        self._store.queue(ChangelogRecord(self.changelog_topic, partition, encode_key(key), encoded))

    def partition_of(self, key: str) -> int | None:
        """The input partition whose changelog holds the row (None when there is no such row)."""
        found = self._find(key)
        return None if found is None else found[0]


class DiskStateStore(ChangelogBatches):
    def __init__(self, changelog_topics: dict[str, str], directory: Path | str) -> None:
        """``changelog_topics``: table name → its changelog topic; ``directory``: this worker's own (one worker per
        directory: RocksDB locks a database against a second process)."""
        self.directory = Path(directory)
        self.tables = {name: DiskTable(name, topic, self) for name, topic in changelog_topics.items()}
        self._by_topic = {table.changelog_topic: table for table in self.tables.values()}
        self._databases: dict[int, Rdict] = {}
        super().__init__()

    # -- the tables' side ---------------------------------------------------------------------------------------

    def databases_to_read(self) -> Iterator[tuple[int, Rdict]]:
        """The owned databases, the partition being processed first (its rows are the ones an event reads)."""
        current = self._databases.get(self._current) if self._current is not None else None
        if current is not None:
            yield self._current, current  # type: ignore[misc]
        for partition, db in self._databases.items():
            if partition != self._current:
                yield partition, db

    # -- the worker's side: batches -----------------------------------------------------------------------------

    def take_pending(self) -> list[ChangelogRecord]:
        """The changelog records written since the last call, in order; their overlay waits for ``checkpoint``."""
        pending = super().take_pending()
        for table in self.tables.values():
            table.sealed.append(table.current)
            table.current = {}
        return pending

    def checkpoint(self, ends: Mapping[tuple[str, int], int]) -> None:
        """The oldest batch taken is acknowledged, its changelogs ending at ``ends`` ((topic, partition) → end
        offset): write its rows and those offsets to each partition's database, in one batch per database."""
        batches: dict[int, WriteBatch] = {}

        def batch(partition: int) -> WriteBatch:
            if partition not in batches:
                batches[partition] = WriteBatch(raw_mode=True)
            return batches[partition]

        for table in self.tables.values():
            layer = table.sealed[0] if table.sealed else {}
            for key, (partition, value) in layer.items():
                db_key = table.prefix + encode_key(key)
                if value is None:
                    batch(partition).delete(db_key)
                else:
                    batch(partition).put(db_key, value)
        for (topic, partition), end in ends.items():
            batch(partition).put(_offset_key(topic), str(end).encode())
        for partition, writes in batches.items():
            db = self._databases.get(partition)
            if db is None:
                raise RuntimeError(f"a batch of partition {partition} was acknowledged after the partition was closed")
            db.write(writes)
        for table in self.tables.values():
            if table.sealed:
                table.sealed.popleft()

    def discard_unwritten(self) -> None:
        """Forget the overlays of batches that never reached ``checkpoint`` (their commit failed; they are
        processed again, and whatever of them the changelog holds is read back by ``position``)."""
        self._pending = []
        for table in self.tables.values():
            table.current = {}
            table.sealed.clear()

    # -- the worker's side: partitions --------------------------------------------------------------------------

    def path(self, partition: int) -> Path:
        return self.directory / f"partition-{partition}"

    def own(self, partitions: Iterable[int]) -> None:
        """Open the databases of the partitions now owned; close the others (their files stay)."""
        wanted = set(partitions)
        self.drop(set(self._databases) - wanted)
        for partition in sorted(wanted - set(self._databases)):
            self.path(partition).parent.mkdir(parents=True, exist_ok=True)
            self._databases[partition] = Rdict(str(self.path(partition)), _options())

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            db = self._databases.pop(partition, None)
            if db is not None:
                db.close()

    def close(self) -> None:
        self.drop(list(self._databases))

    def position(self, topic: str, partition: int) -> int:
        """The offset the partition's database holds ``topic`` up to (0: nothing of it)."""
        stored = self._databases[partition].get(_offset_key(topic))
        return 0 if stored is None else int(stored)

    # A position that the changelog continues is caught up from there (``state.StateStore`` cannot: see there).
    resumable = True

    def reset(self, partition: int) -> None:
        """Wipe the partition's database (its changelog is read again from the start)."""
        self._databases.pop(partition).close()
        shutil.rmtree(self.path(partition), ignore_errors=True)
        self._databases[partition] = Rdict(str(self.path(partition)), _options())

    def load(self, topic: str, partition: int, records: Iterable[tuple[bytes, bytes | None]], end: int) -> None:
        """Apply changelog records read back (key, value; no value: a deletion) and store ``end`` as the offset the
        database now holds ``topic`` up to, in one write."""
        table = self._by_topic[topic]
        writes = WriteBatch(raw_mode=True)
        for key, value in records:
            if value is None:
                writes.delete(table.prefix + key)
            else:
                writes.put(table.prefix + key, value)
        writes.put(_offset_key(topic), str(end).encode())
        self._databases[partition].write(writes)

    def table_of_topic(self, topic: str) -> DiskTable:
        return self._by_topic[topic]
