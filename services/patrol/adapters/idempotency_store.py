"""Idempotency records in SQL (SQLite by default, PostgreSQL when several patrol instances share them).

``SqlIdempotencyStore`` runs each call in one transaction with one statement per kind of work, not one per record
(a batch of 500 is a handful of statements). ``GroupCommitStore`` is what the service uses: writes go to one writer
thread, and the calls that arrive while it is writing are written together in its next transaction — one commit
(one fsync) for all of them. Each call still gets its own answer, as if the calls had run one after another, and
every call returns only once its transaction is committed.

Group commit is kept because it earns it: 32 concurrent callers each claiming a key and recording its
acknowledgement get 10.7× as many claims a second through ``GroupCommitStore`` as through ``PerCallStore``, one
transaction per call (``store_group_commit_gain``: median of 5 runs, 9.97–11.1×; ``make bench``, section
``fast_paths``, 2026-12-03; docs/benchmarks.md, "Fast paths").
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from services.patrol.domain.idempotency import KeyRecord, KeyState, StoreUnavailable
from services.patrol.ports import Ack

metadata = MetaData()
keys = Table(
    "patrol_idempotency_keys", metadata,
    Column("scope", String(64), primary_key=True),
    Column("reporter", String(128), primary_key=True),
    Column("client_report_id", String(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("finding_id", String(36), nullable=False, index=True),
    Column("township_code", String(9), nullable=False),
    Column("category_code", String(64), nullable=False),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("kafka_partition", Integer, nullable=True),
    Column("kafka_offset", BigInteger, nullable=True),
)

_LOOKUP_CHUNK = 500  # keys per lookup: at most 1,500 parameters, far below SQLite's and PostgreSQL's limits
_LOOKUP_PROBES = 4096  # combinations of the lookup's three IN lists, each one primary-key search

Key = tuple[str, str, str]


def make_store_engine(url: str) -> Engine:
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # A SQLite file cannot drop a connection: pinging it before every transaction only costs a statement.
    engine = create_engine(url, pool_pre_ping=not is_sqlite)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # Every commit reaches the disk (fsync of the WAL) before the call returns, so an answer given after it
            # survives a power cut too; group commit (GroupCommitStore) spreads that fsync over many requests.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=10000")  # patrol threads and restarts share the file
            cursor.close()
    metadata.create_all(engine)
    return engine


@dataclass(frozen=True)
class StoreCall:
    """One call of the store's write API, to be run together with others (``SqlIdempotencyStore.run_together``)."""

    kind: Literal["claim", "accept", "release"]
    records: tuple[KeyRecord, ...] = ()
    acks: tuple[Ack, ...] = ()  # for "accept": one per record


class SqlIdempotencyStore:
    """Synchronous: each call is one transaction. The service uses it through ``GroupCommitStore``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        # RETURNING, not rowcount: drivers differ in what rowcount says for ON CONFLICT DO NOTHING.
        self._claim_statement = (dialect.insert(keys).on_conflict_do_nothing()
                                 .returning(keys.c.scope, keys.c.reporter, keys.c.client_report_id))
        pending_with_fingerprint = and_(
            keys.c.scope == bindparam("b_scope"), keys.c.reporter == bindparam("b_reporter"),
            keys.c.client_report_id == bindparam("b_client_report_id"), keys.c.state == KeyState.PENDING.value,
            keys.c.fingerprint == bindparam("b_fingerprint"))
        self._accept_statement = update(keys).where(pending_with_fingerprint).values(
            state=KeyState.ACCEPTED.value, kafka_partition=bindparam("b_partition"),
            kafka_offset=bindparam("b_offset"))
        self._release_statement = delete(keys).where(pending_with_fingerprint)
        self._lookup_statement = select(keys).where(
            keys.c.scope.in_(bindparam("b_scopes", expanding=True)),
            keys.c.reporter.in_(bindparam("b_reporters", expanding=True)),
            keys.c.client_report_id.in_(bindparam("b_client_report_ids", expanding=True)))

    @property
    def engine(self) -> Engine:
        return self._engine

    def claim(self, records: Sequence[KeyRecord]) -> list[KeyRecord | None]:
        """Claim each key; None where this call claimed it, else the record already there."""
        with self._transaction() as conn:
            return self._claim(conn, records)

    def accept(self, accepted: Sequence[tuple[KeyRecord, Ack]]) -> list[KeyRecord]:
        """Record the acknowledgements; the first one recorded for a key stays its answer."""
        with self._transaction() as conn:
            stored = self._accept_many(conn, accepted)
        return [stored[_key_of(record)] for record, _ack in accepted if _key_of(record) in stored]

    def release(self, records: Sequence[KeyRecord]) -> None:
        """Drop claims that were never handed to the broker: the key is free again."""
        with self._transaction() as conn:
            self._release(conn, records)

    def find(self, scope: str, finding_id: str) -> KeyRecord | None:
        with self._transaction() as conn:
            row = conn.execute(select(keys).where(keys.c.scope == scope, keys.c.finding_id == finding_id)).first()
        return _record(row._mapping) if row else None

    def run_together(self, calls: Sequence[StoreCall]) -> list[Any]:
        """Run concurrent calls in one transaction; each gets its result, or the StoreUnavailable that stopped it.

        The calls were made concurrently (none has returned yet), so any order of them is a correct answer; the
        transaction runs every release, then every acknowledgement, then every claim — each kind in one statement
        for all the calls, in the order they were made. Acknowledgements before claims: a retry arriving with its
        key's acknowledgement replays the answer instead of publishing again.

        When the transaction fails on a data error (one call's values refused by the database), each call is run
        again on its own so that only the call at fault fails; any other failure (locked, disconnected, disk) fails
        them all at once — retrying one by one would only wait out the same timeout again and again.
        """
        try:
            with self._transaction() as conn:
                return self._run_group(conn, calls)
        except StoreUnavailable as exc:
            if len(calls) == 1 or not isinstance(exc.__cause__, IntegrityError | DataError):
                return [exc] * len(calls)
        results: list[Any] = []
        for call in calls:
            try:
                with self._transaction() as conn:
                    results.append(self._run_group(conn, [call])[0])
            except StoreUnavailable as exc:
                results.append(exc)
        return results

    def _run_group(self, conn: Connection, calls: Sequence[StoreCall]) -> list[Any]:
        results: list[Any] = [None] * len(calls)
        self._release(conn, [r for call in calls if call.kind == "release" for r in call.records])
        accepts = [(i, call) for i, call in enumerate(calls) if call.kind == "accept"]
        if accepts:
            stored = self._accept_many(conn, [pair for _i, call in accepts
                                              for pair in zip(call.records, call.acks, strict=True)])
            for i, call in accepts:
                results[i] = [stored[_key_of(r)] for r in call.records if _key_of(r) in stored]
        claims = [(i, call) for i, call in enumerate(calls) if call.kind == "claim"]
        if claims:
            found = self._claim(conn, [r for _i, call in claims for r in call.records])
            start = 0
            for i, call in claims:
                results[i] = found[start:start + len(call.records)]
                start += len(call.records)
        return results

    def _claim(self, conn: Connection, records: Sequence[KeyRecord]) -> list[KeyRecord | None]:
        first: dict[Key, KeyRecord] = {}
        for record in records:
            first.setdefault(_key_of(record), record)
        inserted: set[Key] = set()
        if first:
            rows = conn.execute(self._claim_statement, [_row(r) for r in first.values()])
            inserted = {(row[0], row[1], row[2]) for row in rows}
        existing = self._get_many(conn, [k for k in first if k not in inserted])
        results: list[KeyRecord | None] = []
        claimed: set[Key] = set()
        for record in records:
            key = _key_of(record)
            if key in inserted and key not in claimed:
                claimed.add(key)
                results.append(None)
            else:  # already there, or claimed by an earlier record of this same call (as if claimed before)
                results.append(first[key] if key in inserted else existing.get(key))
        return results

    def _accept_many(self, conn: Connection, accepted: Sequence[tuple[KeyRecord, Ack]]) -> dict[Key, KeyRecord]:
        """Each key's record after the acknowledgements (the first one recorded for a key stays)."""
        if not accepted:
            return {}
        conn.execute(self._accept_statement, [
            {**_bind_key(record), "b_partition": ack.partition, "b_offset": ack.offset} for record, ack in accepted])
        return self._get_many(conn, [_key_of(record) for record, _ack in accepted])

    def _release(self, conn: Connection, records: Sequence[KeyRecord]) -> None:
        if records:
            conn.execute(self._release_statement, [_bind_key(record) for record in records])

    def _get_many(self, conn: Connection, wanted: Sequence[Key]) -> dict[Key, KeyRecord]:
        """The records of these keys, in one indexed lookup per chunk.

        Three ``IN`` lists, not ``(scope, reporter, client_report_id) IN (...)``: SQLite answers a row-value IN by
        scanning the whole table, but searches the primary key for each combination of the three lists. Rows of
        combinations that were not asked for are dropped here.
        """
        found: dict[Key, KeyRecord] = {}
        for chunk in _lookup_chunks(wanted):
            asked = set(chunk)
            rows = conn.execute(self._lookup_statement, {
                "b_scopes": sorted({k[0] for k in chunk}), "b_reporters": sorted({k[1] for k in chunk}),
                "b_client_report_ids": sorted({k[2] for k in chunk})})
            for row in rows:
                record = _record(row._mapping)
                if _key_of(record) in asked:
                    found[_key_of(record)] = record
        return found

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"idempotency store: {type(exc).__name__}: {exc}") from exc


class GroupCommitStore:
    """The service's idempotency store (the ``IdempotencyStore`` port): one writer thread, group commit.

    Calls made while the writer is busy wait together and go into its next transaction, in the order they were
    made. A call returns (or raises StoreUnavailable) once that transaction is committed. With SQLite, one writer
    also means the process's requests never wait on each other's file lock. Reads (``find``) use their own
    connections and do not wait for writes.
    """

    def __init__(self, store: SqlIdempotencyStore) -> None:
        self._store = store
        self._turns = _writer_turns(store.engine)
        self._writer: ThreadPoolExecutor | None = None  # started on first use; again after close()
        self._waiting: list[tuple[StoreCall, asyncio.Future[Any]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def claim(self, records: Sequence[KeyRecord]) -> list[KeyRecord | None]:
        if not records:
            return []
        result: list[KeyRecord | None] = await self._write(StoreCall("claim", tuple(records)))
        return result

    async def accept(self, accepted: Sequence[tuple[KeyRecord, Ack]]) -> list[KeyRecord]:
        if not accepted:
            return []
        result: list[KeyRecord] = await self._write(StoreCall("accept", tuple(r for r, _a in accepted),
                                                              tuple(a for _r, a in accepted)))
        return result

    async def release(self, records: Sequence[KeyRecord]) -> None:
        if records:
            await self._write(StoreCall("release", tuple(records)))

    async def find(self, scope: str, finding_id: str) -> KeyRecord | None:
        return await asyncio.to_thread(self._store.find, scope, finding_id)

    def close(self) -> None:
        """Wait for the writer to finish what it has, then let go of the thread and the connections."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)
        self._store.engine.dispose()

    async def _write(self, call: StoreCall) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((call, future))
        draining = self._draining
        if draining is None or draining.done() or draining.get_loop() is not loop:
            self._draining = loop.create_task(self._drain())
        result = await future
        if isinstance(result, BaseException):
            raise result
        return result

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            group, self._waiting = self._waiting, []
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="patrol-store-writer")
            try:
                results = await loop.run_in_executor(self._writer, self._write_group, [c for c, _f in group])
            except Exception as exc:  # never leave a caller waiting: each gets the error
                results = [exc] * len(group)
            for (_call, future), result in zip(group, results, strict=True):
                if not future.done():
                    with contextlib.suppress(RuntimeError):  # its event loop is gone (an app test ended)
                        future.set_result(result)


    def _write_group(self, calls: list[StoreCall]) -> list[Any]:
        with self._turns():
            return self._store.run_together(calls)


class PerCallStore:
    """The ``IdempotencyStore`` port without group commit: each call is its own transaction (its own commit and
    fsync) in the default thread pool. The plain store the group-commit store is measured against (``make bench``,
    section ``fast_paths``)."""

    def __init__(self, store: SqlIdempotencyStore) -> None:
        self._store = store

    async def claim(self, records: Sequence[KeyRecord]) -> list[KeyRecord | None]:
        return await asyncio.to_thread(self._store.claim, records) if records else []

    async def accept(self, accepted: Sequence[tuple[KeyRecord, Ack]]) -> list[KeyRecord]:
        return await asyncio.to_thread(self._store.accept, accepted) if accepted else []

    async def release(self, records: Sequence[KeyRecord]) -> None:
        if records:
            await asyncio.to_thread(self._store.release, records)

    async def find(self, scope: str, finding_id: str) -> KeyRecord | None:
        return await asyncio.to_thread(self._store.find, scope, finding_id)

    def close(self) -> None:
        self._store.engine.dispose()


def _writer_turns(engine: Engine) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """Turns at writing, between the processes that share one SQLite file (patrol's workers).

    SQLite lets one writer in at a time; another that finds the file locked sleeps and tries again (1, 2, 5, 10 ms
    and longer), so two workers writing groups back to back lose time asleep. An exclusive ``flock`` on a file beside
    the database is a queue instead: the next writer wakes as the lock is released. The kernel releases it when a
    process dies. Other databases order their writers themselves.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return contextlib.nullcontext
    path = Path(f"{database}.writer-lock")

    @contextmanager
    def turn() -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    return turn


def _lookup_chunks(wanted: Sequence[Key]) -> Iterator[list[Key]]:
    """The distinct keys in chunks whose three lists make at most _LOOKUP_PROBES combinations (index searches):
    a batch of one reporter is one chunk, a group of single requests from many reporters a few."""
    chunk: list[Key] = []
    scopes: set[str] = set()
    reporters: set[str] = set()
    ids: set[str] = set()
    for key in dict.fromkeys(wanted):
        probes = (len(scopes | {key[0]}) * len(reporters | {key[1]}) * len(ids | {key[2]}))
        if chunk and (len(chunk) >= _LOOKUP_CHUNK or probes > _LOOKUP_PROBES):
            yield chunk
            chunk, scopes, reporters, ids = [], set(), set(), set()
        chunk.append(key)
        scopes.add(key[0])
        reporters.add(key[1])
        ids.add(key[2])
    if chunk:
        yield chunk


def _key_of(record: KeyRecord) -> Key:
    return record.scope, record.reporter, record.client_report_id


def _bind_key(record: KeyRecord) -> dict[str, Any]:
    return {"b_scope": record.scope, "b_reporter": record.reporter, "b_client_report_id": record.client_report_id,
            "b_fingerprint": record.fingerprint}


def _row(record: KeyRecord) -> dict[str, Any]:
    return {"scope": record.scope, "reporter": record.reporter, "client_report_id": record.client_report_id,
            "fingerprint": record.fingerprint, "finding_id": record.finding_id,
            "township_code": record.township_code, "category_code": record.category_code,
            "latitude": record.latitude, "longitude": record.longitude, "state": record.state.value,
            "claimed_at": record.claimed_at, "kafka_partition": record.partition, "kafka_offset": record.offset}


def _record(row: Any) -> KeyRecord:
    claimed_at: datetime = row["claimed_at"]
    return KeyRecord(
        scope=row["scope"], reporter=row["reporter"], client_report_id=row["client_report_id"],
        fingerprint=row["fingerprint"], finding_id=row["finding_id"], township_code=row["township_code"],
        category_code=row["category_code"], latitude=row["latitude"], longitude=row["longitude"],
        state=KeyState(row["state"]),
        # SQLite hands back naive datetimes; everything written here was UTC.
        claimed_at=claimed_at if claimed_at.tzinfo else claimed_at.replace(tzinfo=UTC),
        partition=row["kafka_partition"], offset=row["kafka_offset"],
    )
