"""Open311 ``GET requests`` filters → a RequestQuery, with the spec's defaults (last 90 days, at most 1000)."""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.bounds import check_instant
from services.patrol.domain.intake import Problem, Rejected
from services.patrol.domain.register import RequestQuery

WINDOW = timedelta(days=90)  # the spec's default window and the longest span a query may ask for
MAX_RESULTS = 1000
STATUSES = frozenset({"open", "closed"})


def _listed(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _when(name: str, value: str | None, problems: list[Problem]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        problems.append(Problem(name, f"{value[:40]!r} is not an ISO 8601 date-time"))
        return None
    if parsed.tzinfo is None:
        problems.append(Problem(name, "needs a UTC offset, e.g. 2026-01-05T08:00:00+08:00"))
        return None
    try:
        return check_instant(parsed)
    except ValueError as exc:
        problems.append(Problem(name, str(exc)))
        return None


def parse_query(*, now: datetime, service_request_id: str | None, service_code: str | None, status: str | None,
                start_date: str | None, end_date: str | None, township_codes: frozenset[str] | None) -> RequestQuery:
    """``service_request_id`` overrides every other filter, as the spec says."""
    ids = tuple(_listed(service_request_id))
    if ids:
        return RequestQuery(finding_ids=ids[:MAX_RESULTS], township_codes=township_codes)
    problems: list[Problem] = []
    statuses = frozenset(_listed(status))
    if statuses - STATUSES:
        problems.append(Problem("status", f"must be open, closed or both (comma-separated), not {status!r}"))
    start, end = _when("start_date", start_date, problems), _when("end_date", end_date, problems)
    if start and end and end < start:
        problems.append(Problem("end_date", "is before start_date"))
    elif start and end and end - start > WINDOW:
        problems.append(Problem("end_date", f"may be at most {WINDOW.days} days after start_date"))
    if problems:
        raise Rejected("invalid_query", problems, status=400)
    if start is None and end is None:
        start = now - WINDOW
    elif start is None and end is not None:
        start = end - WINDOW
    return RequestQuery(township_codes=township_codes, category_codes=frozenset(_listed(service_code)),
                        statuses=statuses, start=start, end=end, limit=MAX_RESULTS)
