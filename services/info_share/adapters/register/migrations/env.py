"""Alembic environment of the register: uses the connection given by code, else the configured URL."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine

from services.info_share.adapters.register.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    # Batch mode lets later revisions ALTER tables on SQLite (which rebuilds the table to do so).
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from services.info_share.settings import InfoShareSettings

    return InfoShareSettings().database_url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        if config.config_file_name is not None:
            fileConfig(config.config_file_name, disable_existing_loggers=False)
        engine = create_engine(_url())
        with engine.begin() as connection:
            _run(connection)
        engine.dispose()
