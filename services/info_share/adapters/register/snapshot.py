"""Every row of every register table, in primary-key order, as plain values: to compare two registers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from services.info_share.adapters.register.tables import Base

Snapshot = dict[str, list[dict[str, Any]]]


def snapshot(engine: Engine) -> Snapshot:
    tables: Snapshot = {}
    with Session(engine) as session:
        for mapper in sorted(Base.registry.mappers, key=lambda m: m.class_.__tablename__):
            entity = mapper.class_
            rows = session.scalars(select(entity).order_by(*mapper.primary_key))
            tables[entity.__tablename__] = [
                {attr.key: getattr(row, attr.key) for attr in mapper.column_attrs} for row in rows
            ]
    return tables


def first_difference(left: Snapshot, right: Snapshot) -> str | None:
    """Where two snapshots first differ (table, row, column), or None when they are identical."""
    for table in sorted(set(left) | set(right)):
        a, b = left.get(table, []), right.get(table, [])
        if len(a) != len(b):
            return f"{table}: {len(a)} rows against {len(b)}"
        for index, (row_a, row_b) in enumerate(zip(a, b, strict=True)):
            for column in row_a:
                if row_a[column] != row_b.get(column):
                    return f"{table} row {index}: {column} is {row_a[column]!r} against {row_b.get(column)!r}"
    return None
