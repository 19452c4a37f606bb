"""Bounds of the date-times and integers a request may carry, so that none can overflow the code that uses them.

A date-time near ``datetime.min``/``max`` with an offset (``9999-12-31T23:59:59-23:59``) is valid ISO 8601 but has
no UTC value Python can represent: comparing or converting it raises ``OverflowError``. A cursor beyond 64 bits has
no database column to be compared with. Both are refused as invalid input, naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive
MAX_SEQUENCE = 2 ** 63 - 1  # BIGINT (PostgreSQL) and INTEGER (SQLite) alike
RANGE_TEXT = f"must be from {EARLIEST.date().isoformat()} up to {LATEST.date().isoformat()} (UTC)"


def check_instant(value: datetime) -> datetime:
    """``value`` if it lies in [EARLIEST, LATEST); raises ValueError (pydantic's refusal) otherwise."""
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(RANGE_TEXT) from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(RANGE_TEXT)
    return value


Instant = Annotated[AwareDatetime, AfterValidator(check_instant)]
Sequence = Annotated[int, Field(ge=0, le=MAX_SEQUENCE)]
