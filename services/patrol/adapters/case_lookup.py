"""Read-only view of the case register (tables owned by services.info_share) for status lookups and Open311 GET."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from services.info_share.register.tables import CaseLinkRow, CaseRow, LedgerRow, ReferralRow, ReportRow
from services.patrol.domain.register import (
    CaseSnapshot,
    ReferralSnapshot,
    Registered,
    RegisterUnavailable,
    RelatedSnapshot,
    ReportSnapshot,
    RequestQuery,
    RoutingSnapshot,
)

log = logging.getLogger(__name__)
ROUTING_EVENTS = ("case_opened", "referral_issued")


def _aware(value: datetime) -> datetime:
    # The register hands back UTC; a naive value (an older register on SQLite) was written as UTC too.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class SqlCaseLookup:
    def __init__(self, url: str) -> None:
        self._url = url
        self._engine: Engine | None = None

    def _ready_engine(self) -> Engine:
        if self._engine is None:
            parsed = make_url(self._url)
            if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
                # Connecting would create an empty file in the register's place: it is info-share's to create.
                raise RegisterUnavailable(f"case register {parsed.database} does not exist yet")
            engine = create_engine(self._url, pool_pre_ping=True)
            if engine.dialect.name == "sqlite":
                @event.listens_for(engine, "connect")
                def _read_only(dbapi_connection, _record):
                    cursor = dbapi_connection.cursor()
                    cursor.execute("PRAGMA query_only=ON")  # this service never writes the register
                    cursor.execute("PRAGMA busy_timeout=10000")
                    cursor.close()
            else:
                engine = engine.execution_options(postgresql_readonly=True)
            self._engine = engine
        return self._engine

    def _run(self, work: Any) -> Any:
        try:
            with Session(self._ready_engine()) as session:
                return work(session)
        except SQLAlchemyError as exc:
            log.warning("case register not readable: %r", exc)
            raise RegisterUnavailable(f"case register not readable: {type(exc).__name__}") from exc

    def report(self, finding_id: str) -> Registered | None:
        found = self._run(lambda s: self._registered(s, select(ReportRow).where(ReportRow.finding_id == finding_id)))
        return found[0] if found else None

    def search(self, query: RequestQuery) -> list[Registered]:
        statement = select(ReportRow).join(CaseRow, CaseRow.case_id == ReportRow.case_id)
        if query.finding_ids:
            statement = statement.where(ReportRow.finding_id.in_(query.finding_ids))
        if query.township_codes is not None:
            statement = statement.where(ReportRow.township_code.in_(query.township_codes))
        if query.category_codes:
            statement = statement.where(ReportRow.category_code.in_(query.category_codes))
        if query.statuses == frozenset({"closed"}):
            statement = statement.where(CaseRow.status == "closed")
        elif query.statuses == frozenset({"open"}):
            statement = statement.where(CaseRow.status != "closed")
        if query.start is not None:
            statement = statement.where(ReportRow.received_at >= self._bound(query.start))
        if query.end is not None:
            statement = statement.where(ReportRow.received_at <= self._bound(query.end))
        statement = statement.order_by(ReportRow.received_at.desc(), ReportRow.finding_id).limit(query.limit)
        return list(self._run(lambda s: self._registered(s, statement)))

    @staticmethod
    def _bound(at: datetime) -> datetime:
        return at.astimezone(UTC)  # the register's columns take aware times and compare them in UTC

    def _registered(self, session: Session, statement: Select[ReportRow]) -> list[Registered]:
        reports = list(session.scalars(statement))
        cases = _cases(session, {r.case_id for r in reports})
        return [(_report(r), cases[r.case_id]) for r in reports if r.case_id in cases]


def _cases(session: Session, case_ids: set[str]) -> dict[str, CaseSnapshot]:
    if not case_ids:
        return {}
    openers = dict(session.execute(select(ReportRow.case_id, ReportRow.finding_id)
                                   .where(ReportRow.case_id.in_(case_ids), ReportRow.merge_rule.is_(None))).all())
    states: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)
    for referral in session.scalars(select(ReferralRow).where(ReferralRow.case_id.in_(case_ids))):
        states[referral.case_id][referral.referral_id] = (referral.state, referral.attempt)
    ledger = session.execute(select(LedgerRow.case_id, LedgerRow.event, LedgerRow.payload)
                             .where(LedgerRow.case_id.in_(case_ids)).order_by(LedgerRow.sequence)).all()
    by_case: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for case_id, name, payload in ledger:
        by_case[case_id].append((name, payload))
    related: dict[str, list[RelatedSnapshot]] = defaultdict(list)
    for case_id, other in session.execute(
            select(CaseLinkRow.case_id, CaseRow).join(CaseRow, CaseRow.case_id == CaseLinkRow.related_case_id)
            .where(CaseLinkRow.case_id.in_(case_ids)).order_by(CaseRow.opened_sequence)):
        related[case_id].append(RelatedSnapshot(case_id=other.case_id, category_code=other.category_code,
                                                lead_body_id=other.lead_body_id, status=other.status))
    return {row.case_id: _case(row, openers.get(row.case_id), by_case[row.case_id], states[row.case_id],
                               tuple(related[row.case_id]))
            for row in session.scalars(select(CaseRow).where(CaseRow.case_id.in_(case_ids)))}


def _case(row: CaseRow, opener: str | None, events: list[tuple[str, dict[str, Any]]],
          states: dict[str, tuple[str, int]], related: tuple[RelatedSnapshot, ...] = ()) -> CaseSnapshot:
    # Times come from the ledger's JSON payloads, which keep their UTC offsets (SQLite columns do not).
    occurred = [datetime.fromisoformat(p["occurred_at"]) for _n, p in events if p.get("occurred_at")]
    routing = next((p["routing"] for n, p in reversed(events) if n in ROUTING_EVENTS and p.get("routing")), None)
    referrals = tuple(_referral(p, states) for n, p in events if n == "referral_issued")
    return CaseSnapshot(
        case_id=row.case_id, county_code=row.county_code, township_code=row.township_code,
        category_code=row.category_code, status=row.status, lead_body_id=row.lead_body_id,
        opened_at=occurred[0] if occurred else _aware(row.opened_at),
        updated_at=max(occurred) if occurred else _aware(row.updated_at), report_count=row.report_count,
        opening_finding_id=opener, previous_case_id=row.previous_case_id,
        routing=None if routing is None else RoutingSnapshot(
            rule=routing.get("rule", ""), item_codes=tuple(routing.get("item_codes", ())),
            catalogue_version=routing.get("catalogue_version", ""), detail=routing.get("detail", "")),
        referrals=referrals, related=related,
        closing_note=next((p.get("reason") for n, p in reversed(events)
                           if n == "case_transitioned" and p.get("action") == "close"), None),
    )


def _referral(payload: dict[str, Any], states: dict[str, tuple[str, int]]) -> ReferralSnapshot:
    state, attempt = states.get(payload["referral_id"], ("issued", int(payload.get("attempt", 1))))
    return ReferralSnapshot(referral_id=payload["referral_id"], body_id=payload["body_id"], attempt=attempt,
                            state=state, issued_at=datetime.fromisoformat(payload["occurred_at"]),
                            accept_by=datetime.fromisoformat(payload["accept_by"]))


def _report(row: ReportRow) -> ReportSnapshot:
    return ReportSnapshot(
        finding_id=row.finding_id, case_id=row.case_id, source=row.source, reporter=row.reporter,
        township_code=row.township_code, category_code=row.category_code, latitude=row.latitude,
        longitude=row.longitude, observed_at=_aware(row.observed_at), received_at=_aware(row.received_at),
        description=row.description, merge_rule=row.merge_rule, address=row.address,
        photo_uris=tuple(str(p.get("uri", "")) for p in row.photos or () if isinstance(p, dict)),
    )
