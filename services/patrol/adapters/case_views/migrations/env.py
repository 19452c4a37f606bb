"""Alembic environment of patrol's read model: the connection given by code, else PatrolSettings' URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from services.patrol.adapters.case_views.tables import Base

config = context.config


# Its own version table: the read model may share a PostgreSQL database with another service's tables.
VERSION_TABLE = "patrol_alembic_version"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, version_table=VERSION_TABLE,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    from services.patrol.settings import PatrolSettings

    engine = create_engine(config.get_main_option("sqlalchemy.url") or PatrolSettings().case_view_url)  # type: ignore[call-arg]
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()
