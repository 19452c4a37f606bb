"""Timestamps stored and read back as UTC on every backend.

SQLite has no time zone type: SQLAlchemy writes the wall-clock digits and drops the offset, and reads naive values
back — a +08:00 time would silently become a different instant. PostgreSQL's timestamptz keeps the instant but
answers in the session's zone. Converting to UTC on the way in (refusing naive values) and attaching UTC on the way
out gives the same aware value from both.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"the register stores aware datetimes only, got naive {value.isoformat()}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
