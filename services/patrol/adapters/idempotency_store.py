"""Idempotency records in SQL (SQLite by default, PostgreSQL when several patrol instances share them)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    create_engine,
    delete,
    event,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

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


def make_store_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")  # patrol threads and restarts share the file
            cursor.close()
    metadata.create_all(engine)
    return engine


class SqlIdempotencyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert

    def claim(self, records: Sequence[KeyRecord]) -> list[KeyRecord | None]:
        """Claim each key; None where this call claimed it, else the record already there."""
        results: list[KeyRecord | None] = []
        with self._transaction() as conn:
            for record in records:
                # RETURNING, not rowcount: drivers differ in what rowcount says for ON CONFLICT DO NOTHING.
                inserted = conn.execute(self._insert(keys).values(_row(record)).on_conflict_do_nothing()
                                        .returning(keys.c.scope)).first()
                results.append(None if inserted is not None else self._get(conn, record))
        return results

    def accept(self, accepted: Sequence[tuple[KeyRecord, Ack]]) -> list[KeyRecord]:
        """Record the acknowledgements; the first one recorded for a key stays its answer."""
        with self._transaction() as conn:
            for record, ack in accepted:
                conn.execute(update(keys).where(_key(record), keys.c.state == KeyState.PENDING.value,
                                                keys.c.fingerprint == record.fingerprint)
                             .values(state=KeyState.ACCEPTED.value, kafka_partition=ack.partition,
                                     kafka_offset=ack.offset))
            stored = [self._get(conn, record) for record, _ack in accepted]
        return [s for s in stored if s is not None]

    def release(self, records: Sequence[KeyRecord]) -> None:
        """Drop claims that were never handed to the broker: the key is free again."""
        with self._transaction() as conn:
            for record in records:
                conn.execute(delete(keys).where(_key(record), keys.c.state == KeyState.PENDING.value,
                                                keys.c.fingerprint == record.fingerprint))

    def find(self, scope: str, finding_id: str) -> KeyRecord | None:
        with self._transaction() as conn:
            row = conn.execute(select(keys).where(keys.c.scope == scope, keys.c.finding_id == finding_id)).first()
        return _record(row._mapping) if row else None

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"idempotency store: {type(exc).__name__}: {exc}") from exc

    def _get(self, conn: Connection, record: KeyRecord) -> KeyRecord | None:
        row = conn.execute(select(keys).where(_key(record))).first()
        return _record(row._mapping) if row else None


def _key(record: KeyRecord) -> Any:
    return and_(keys.c.scope == record.scope, keys.c.reporter == record.reporter,
                keys.c.client_report_id == record.client_report_id)


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
