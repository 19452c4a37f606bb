"""What patrol reads from the case register (port and snapshots); the SQL adapter fills them, tests use fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class RegisterUnavailable(Exception):
    """The case register cannot be read right now (database down, not created yet)."""


@dataclass(frozen=True)
class RoutingSnapshot:
    rule: str
    item_codes: tuple[str, ...] = ()
    catalogue_version: str = ""
    detail: str = ""


@dataclass(frozen=True)
class ReferralSnapshot:
    referral_id: str
    body_id: str
    attempt: int
    state: str
    issued_at: datetime
    accept_by: datetime


@dataclass(frozen=True)
class RelatedSnapshot:
    """Another matter at the same place: its own case, lead body and referral (docs/dedup.md)."""

    case_id: str
    category_code: str
    lead_body_id: str
    status: str


@dataclass(frozen=True)
class CaseSnapshot:
    case_id: str
    county_code: str
    township_code: str
    category_code: str
    status: str
    lead_body_id: str
    opened_at: datetime
    updated_at: datetime
    report_count: int
    opening_finding_id: str | None = None
    previous_case_id: str | None = None
    routing: RoutingSnapshot | None = None
    referrals: tuple[ReferralSnapshot, ...] = ()  # oldest first
    related: tuple[RelatedSnapshot, ...] = ()  # other matters at the same place, in the order they were opened
    closing_note: str | None = None  # the reporting township's note when it closed the case (结案)


@dataclass(frozen=True)
class ReportSnapshot:
    """One finding as registered; ``merge_rule`` is set when it joined an existing case."""

    finding_id: str
    case_id: str
    source: str
    reporter: str
    township_code: str
    category_code: str
    latitude: float
    longitude: float
    observed_at: datetime
    received_at: datetime
    description: str
    merge_rule: str | None = None
    address: str | None = None
    photo_uris: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestQuery:
    """Filters of Open311 ``GET requests``; ``township_codes`` None means no township restriction."""

    finding_ids: tuple[str, ...] = ()
    township_codes: frozenset[str] | None = None
    category_codes: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()  # "open", "closed"
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 1000


Registered = tuple[ReportSnapshot, CaseSnapshot]


class CaseLookup(Protocol):
    def report(self, finding_id: str) -> Registered | None: ...

    def search(self, query: RequestQuery) -> list[Registered]: ...


def duplicate_of(report: ReportSnapshot, case: CaseSnapshot) -> str | None:
    """The finding that opened the case this one was merged into (None for the opening finding itself)."""
    if report.merge_rule is None or case.opening_finding_id == report.finding_id:
        return None
    return case.opening_finding_id


def pending_deadline(case: CaseSnapshot) -> datetime | None:
    """When the current referral must be accepted or returned, while it waits for that answer."""
    latest = case.referrals[-1] if case.referrals else None
    return latest.accept_by if latest is not None and latest.state == "issued" else None


def is_closed(case: CaseSnapshot) -> bool:
    return case.status == "closed"
