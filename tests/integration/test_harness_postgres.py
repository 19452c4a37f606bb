"""The PostgreSQL fixture gives a real server the register can use."""

import pytest
from sqlalchemy import text

from services.info_share.adapters.register.database import make_engine, migrate

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_register_schema_on_real_postgres(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("select version()")).scalar_one().startswith("PostgreSQL")
        tables = set(conn.execute(text("select tablename from pg_tables where schemaname='public'")).scalars())
    assert {"ledger", "cases", "reports", "referrals"} <= tables
