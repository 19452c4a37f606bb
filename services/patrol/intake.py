"""Turn a submission from an authenticated caller into a FindingReported, or say field by field why not."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.api import FindingSubmission
from schemas.events import FindingReported, Subject
from services.dispatch.domain.identifiers import InvalidSubject, normalise_subject
from services.patrol.auth import Principal
from services.reference.geography import county_of
from services.reference.loader import ReferenceData

FINDING_NAMESPACE = uuid.UUID("6f1c2d1e-5a43-4d1b-9a53-0d5c3c7a1f10")


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


class Rejected(Exception):
    """The submission cannot be accepted; ``reason`` is a stable code for metrics, ``problems`` explain it."""

    def __init__(self, reason: str, problems: list[Problem], status: int = 422) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.reason = reason
        self.problems = problems
        self.status = status


@dataclass(frozen=True)
class IntakeLimits:
    max_future_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=30)


def finding_id_for(principal: Principal, client_report_id: str) -> str:
    """Deterministic, so a retried submission gets the same id after any restart."""
    return str(uuid.uuid5(FINDING_NAMESPACE, f"{principal.subject}\x1f{client_report_id}"))


def build_finding(submission: FindingSubmission, principal: Principal, reference: ReferenceData,
                  received_at: datetime, limits: IntakeLimits | None = None) -> tuple[FindingReported, str]:
    """Validate against the township's own list and the map; return the event and its partition key."""
    limits = limits or IntakeLimits()
    if not principal.may_file_for(submission.township_code):
        raise Rejected("forbidden_township", [Problem("township_code", f"{principal.subject} may not file for "
                                                      f"township {submission.township_code}")], status=403)
    township = reference.townships.get(submission.township_code)
    if township is None:
        raise Rejected("unknown_township", [Problem("township_code", "not a township of this deployment")])
    problems: list[Problem] = []
    allowed = reference.categories_for_township(township.code, received_at)
    category = allowed.get(submission.category_code) if isinstance(allowed, dict) else None
    if category is None:
        problems.append(Problem("category_code", f"category {submission.category_code!r} is not on the list "
                                                 f"of {township.name} ({township.code})"))
    county = county_of(submission.location.latitude, submission.location.longitude)
    if county is None:
        problems.append(Problem("location", "coordinates are outside China (WGS-84 expected)"))
    elif county != township.county_code:
        problems.append(Problem("location", f"coordinates are in county {county}, not in the township's county "
                                            f"{township.county_code}"))
    if submission.observed_at > received_at + limits.max_future_skew:
        problems.append(Problem("observed_at", "is in the future"))
    elif submission.observed_at < received_at - limits.max_age:
        problems.append(Problem("observed_at", f"is older than {limits.max_age.days} days"))
    subjects: list[Subject] = []
    for index, subject in enumerate(submission.subjects):
        try:
            subjects.append(Subject(kind=subject.kind, value=normalise_subject(subject.kind, subject.value)))
        except InvalidSubject as exc:
            problems.append(Problem(f"subjects[{index}].value", str(exc)))
    if problems or category is None:
        raise Rejected(_reason(problems), problems)
    finding = FindingReported(
        finding_id=finding_id_for(principal, submission.client_report_id),
        client_report_id=submission.client_report_id, source=submission.source, reporter=principal.subject,
        township_code=township.code, county_code=township.county_code, category_code=category.code,
        location=submission.location, observed_at=submission.observed_at, received_at=received_at,
        description=submission.description, photos=tuple(submission.photos), subjects=tuple(subjects),
    )
    return finding, category.dedup_group


def _reason(problems: list[Problem]) -> str:
    return {"category_code": "unknown_category", "location": "bad_location", "observed_at": "bad_time"}.get(
        problems[0].field if problems else "", "invalid_subject")
