"""Engine, sessions and schema migrations for the register; SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from services.info_share.adapters.register.tables import Base

HERE = Path(__file__).resolve().parent
ALEMBIC_INI = HERE / "alembic.ini"
# Any fixed 64-bit number: serialises concurrent `upgrade` runs (worker and API starting together) on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x6C69616E646F6E67


class LegacySchema(RuntimeError):
    """The database has register tables but no migration history: it predates Alembic."""


def make_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        if engine.url.database and engine.url.database != ":memory:":
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)  # e.g. .run/ on a fresh checkout
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers (the API) do not block the projection writer
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
    return engine


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(HERE / "migrations"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run on every start (and by several processes on PostgreSQL)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        tables = set(inspect(connection).get_table_names())
        if "ledger" in tables and "alembic_version" not in tables:
            raise LegacySchema(
                f"{engine.url.render_as_string(hide_password=True)} has register tables made without migrations; "
                "the register is a projection: drop it and run `python -m services.info_share.entrypoints.cli_rebuild`")
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def drop_schema(engine: Engine) -> None:
    """Drop every register table and the migration history (before a rebuild into the same database)."""
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
