"""A fresh database per test on the session's PostgreSQL server (see the ``postgres_url`` fixture in conftest)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator


def fresh_postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database named ``<prefix>_<random>``, dropped afterwards (yields its URL)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    base, _, _db = server_url.rpartition("/")
    plain = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
