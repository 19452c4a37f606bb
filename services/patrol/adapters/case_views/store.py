"""Patrol's read model in SQL: the worker writes it from the case events, the status and Open311 views read it.

SQLite by default (``LIANDONG_CASE_VIEW_URL``, a file of patrol's own), PostgreSQL when several patrol instances
read it. The reader never writes: on SQLite its connections are ``query_only``; a database the worker has not
created yet is "unavailable" (503), not an empty file made in its place.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from pydantic import TypeAdapter
from sqlalchemy import Engine, Select, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services.patrol.adapters.case_views.tables import AppliedEventRow, CaseLinkViewRow, CaseViewRow, ReportViewRow
from services.patrol.domain import case_view
from services.patrol.domain.register import (
    CaseSnapshot,
    Registered,
    RegisterUnavailable,
    RelatedSnapshot,
    ReportSnapshot,
    RequestQuery,
)

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
# Any fixed 64-bit number: serialises concurrent `upgrade` runs of two workers on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x7061_7472_6F6C_7631
_CASES: TypeAdapter[CaseSnapshot] = TypeAdapter(CaseSnapshot)
_REPORTS: TypeAdapter[ReportSnapshot] = TypeAdapter(ReportSnapshot)
T = TypeVar("T")


def utc_text(at: datetime) -> str:
    """The sortable text form of an instant (``received_utc``): UTC, microseconds, fixed width."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_engine(url: str, read_only: bool = False) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        if not read_only and engine.url.database and engine.url.database != ":memory:":
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if read_only:
                cursor.execute("PRAGMA query_only=ON")
            else:
                cursor.execute("PRAGMA journal_mode=WAL")  # the views read while the worker writes
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
    elif read_only:
        engine = engine.execution_options(postgresql_readonly=True)
    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the read model's schema to ``revision``; run by the worker on every start."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config = Config()
        config.set_main_option("script_location", str(HERE / "migrations"))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class CaseViewStore:
    """The writer: applies each case event once (by ``event_id``) in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def apply(self, event: case_view.CaseEvent) -> str:
        """``applied``, ``duplicate`` or ``ignored``; ``case_view.NotApplicable`` for an event that does not fit."""
        with self._sessions.begin() as session:
            if session.get(AppliedEventRow, event.event_id) is not None:
                return "duplicate"
            row = session.get(CaseViewRow, event.case_id)
            change = case_view.apply(None if row is None else _CASES.validate_python(row.document), event)
            if change is None:
                return "ignored"
            document = _CASES.dump_python(change.case, mode="json")
            if row is None:
                session.add(CaseViewRow(case_id=change.case.case_id, status=change.case.status, document=document))
            else:
                row.status, row.document = change.case.status, document
            if change.report is not None:
                self._add_report(session, change.report)
            self._link(session, change.case.case_id, change.related_case_ids, opened=row is None)
            session.add(AppliedEventRow(event_id=event.event_id))
        return "applied"

    @staticmethod
    def _add_report(session: Session, report: ReportSnapshot) -> None:
        if session.get(ReportViewRow, report.finding_id) is not None:
            raise case_view.NotApplicable(f"finding {report.finding_id} is already in patrol's view")
        session.add(ReportViewRow(finding_id=report.finding_id, case_id=report.case_id,
                                  township_code=report.township_code, category_code=report.category_code,
                                  received_utc=utc_text(report.received_at),
                                  document=_REPORTS.dump_python(report, mode="json")))

    @staticmethod
    def _link(session: Session, case_id: str, related: Iterable[str], opened: bool) -> None:
        # Case events are keyed by case, so a related case may arrive after the case naming it: when a case opens,
        # it also takes the links others made to it.
        pairs = set()
        for other in related:
            pairs.add((case_id, other))
            if session.get(CaseViewRow, other) is not None:
                pairs.add((other, case_id))
        if opened:
            named_by = session.scalars(select(CaseLinkViewRow.case_id)
                                       .where(CaseLinkViewRow.related_case_id == case_id))
            pairs.update((case_id, earlier) for earlier in named_by)
        for one, other in pairs:
            if one != other and session.get(CaseLinkViewRow, (one, other)) is None:
                session.add(CaseLinkViewRow(case_id=one, related_case_id=other))
                session.flush()


class SqlCaseLookup:
    """The reader (``domain.register.CaseLookup``) of the status and Open311 views."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._engine: Engine | None = None

    def _ready_engine(self) -> Engine:
        if self._engine is None:
            parsed = make_url(self._url)
            if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
                # Connecting would create an empty file: the read-model worker creates and migrates it.
                raise RegisterUnavailable(f"patrol's case view {parsed.database} does not exist yet")
            self._engine = make_engine(self._url, read_only=True)
        return self._engine

    def _run(self, work: Callable[[Session], T]) -> T:
        try:
            with Session(self._ready_engine()) as session:
                return work(session)
        except SQLAlchemyError as exc:
            log.warning("patrol's case view not readable: %r", exc)
            raise RegisterUnavailable(f"patrol's case view not readable: {type(exc).__name__}") from exc

    def report(self, finding_id: str) -> Registered | None:
        found = self._run(lambda s: _registered(s, select(ReportViewRow).where(ReportViewRow.finding_id == finding_id)))
        return found[0] if found else None

    def search(self, query: RequestQuery) -> list[Registered]:
        statement = select(ReportViewRow)
        if query.finding_ids:
            statement = statement.where(ReportViewRow.finding_id.in_(query.finding_ids))
        if query.township_codes is not None:
            statement = statement.where(ReportViewRow.township_code.in_(query.township_codes))
        if query.category_codes:
            statement = statement.where(ReportViewRow.category_code.in_(query.category_codes))
        if query.statuses in (frozenset({"closed"}), frozenset({"open"})):
            statement = statement.join(CaseViewRow, CaseViewRow.case_id == ReportViewRow.case_id)
            closed = CaseViewRow.status == "closed"
            statement = statement.where(closed if "closed" in query.statuses else ~closed)
        if query.start is not None:
            statement = statement.where(ReportViewRow.received_utc >= utc_text(query.start))
        if query.end is not None:
            statement = statement.where(ReportViewRow.received_utc <= utc_text(query.end))
        statement = statement.order_by(ReportViewRow.received_utc.desc(), ReportViewRow.finding_id).limit(query.limit)
        return self._run(lambda s: _registered(s, statement))


def _registered(session: Session, statement: Select[ReportViewRow]) -> list[Registered]:
    reports = list(session.scalars(statement))
    cases = _cases(session, {r.case_id for r in reports})
    return [(_REPORTS.validate_python(r.document), cases[r.case_id]) for r in reports if r.case_id in cases]


def _cases(session: Session, case_ids: set[str]) -> dict[str, CaseSnapshot]:
    if not case_ids:
        return {}
    related_ids: dict[str, list[str]] = defaultdict(list)
    for link in session.scalars(select(CaseLinkViewRow).where(CaseLinkViewRow.case_id.in_(case_ids))):
        related_ids[link.case_id].append(link.related_case_id)
    wanted = case_ids | {other for others in related_ids.values() for other in others}
    known = {row.case_id: _CASES.validate_python(row.document)
             for row in session.scalars(select(CaseViewRow).where(CaseViewRow.case_id.in_(wanted)))}
    return {case_id: _with_related(known[case_id], [known[o] for o in related_ids[case_id] if o in known])
            for case_id in case_ids if case_id in known}


def _with_related(case: CaseSnapshot, related: list[CaseSnapshot]) -> CaseSnapshot:
    ordered = sorted(related, key=lambda other: (other.opened_at, other.case_id))  # in the order they were opened
    return replace(case, related=tuple(RelatedSnapshot(case_id=o.case_id, category_code=o.category_code,
                                                       lead_body_id=o.lead_body_id, status=o.status)
                                       for o in ordered))
