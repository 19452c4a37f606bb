"""Turn a submission from an authenticated caller into a FindingReported, or say field by field why not."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.api import FindingSubmission
from schemas.events import FindingReported, Subject
from services.common.identifiers import InvalidSubject, normalise_subject
from services.patrol.domain.access import NO_ADJOINING, Principal, filing_refusal
from services.reference.geography import county_of
from services.reference.loader import ReferenceData

# Fixed forever: finding ids derived from it must stay the same across releases and restarts.
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
    adjoining: Mapping[str, frozenset[str]] = field(default_factory=lambda: NO_ADJOINING)


def finding_id_for(reporter: str, client_report_id: str) -> str:
    """Deterministic, so a retried submission gets the same id after any restart."""
    return str(uuid.uuid5(FINDING_NAMESPACE, f"{reporter}\x1f{client_report_id}"))


def canonical_submission(submission: FindingSubmission) -> dict[str, Any]:
    """What the idempotency fingerprint covers: the submission as sent, its time in UTC (one instant, one text)."""
    content = submission.model_dump(mode="json")
    content["observed_at"] = submission.observed_at.astimezone(UTC).isoformat()
    return content


def build_finding(submission: FindingSubmission, principal: Principal, reference: ReferenceData,
                  received_at: datetime, limits: IntakeLimits | None = None) -> tuple[FindingReported, str]:
    """Validate against the township's own list and the map; return the event and its partition key."""
    limits = limits or IntakeLimits()
    refusal = filing_refusal(principal, submission.township_code, limits.adjoining)
    if refusal is not None:
        raise Rejected("forbidden_township", [Problem("township_code", refusal)], status=403)
    township = reference.townships.get(submission.township_code)
    if township is None:
        raise Rejected("unknown_township", [Problem("township_code", "not a township of this deployment")])
    problems: list[Problem] = []
    category = reference.categories_for_township(township.code, received_at).get(submission.category_code)
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
        problems.append(Problem("observed_at", f"is in the future (more than "
                                               f"{int(limits.max_future_skew.total_seconds())} s ahead)"))
    elif submission.observed_at < received_at - limits.max_age:
        problems.append(Problem("observed_at", f"is older than {limits.max_age.days} days"))
    problems += _control_characters(submission)
    subjects: list[Subject] = []
    for index, subject in enumerate(submission.subjects):
        try:
            subjects.append(Subject(kind=subject.kind, value=normalise_subject(subject.kind, subject.value)))
        except InvalidSubject as exc:  # its message masks resident ids
            problems.append(Problem(f"subjects[{index}].value", str(exc)))
    if problems or category is None:
        raise Rejected(_reason(problems), problems)
    finding = FindingReported(
        finding_id=finding_id_for(principal.subject, submission.client_report_id),
        client_report_id=submission.client_report_id, source=submission.source, reporter=principal.subject,
        township_code=township.code, county_code=township.county_code, category_code=category.code,
        location=submission.location, observed_at=submission.observed_at, received_at=received_at,
        description=submission.description, photos=tuple(submission.photos), subjects=tuple(subjects),
    )
    return finding, category.dedup_group


# C0 controls other than tab, newline and carriage return: no text needs them, and PostgreSQL refuses NUL outright,
# so one such character would poison every consumer that stores the finding.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_characters(submission: FindingSubmission) -> list[Problem]:
    texts = {"client_report_id": submission.client_report_id, "description": submission.description,
             "location.address": submission.location.address or "",
             **{f"photos[{i}].uri": photo.uri for i, photo in enumerate(submission.photos)}}
    problems = [Problem(name, "contains control characters") for name, text in texts.items() if _CONTROL.search(text)]
    if any(ch in submission.client_report_id for ch in "\t\n\r"):
        problems.append(Problem("client_report_id", "contains control characters"))
    return problems


def _reason(problems: list[Problem]) -> str:
    first = problems[0].field if problems else ""
    return {"category_code": "unknown_category", "location": "bad_location", "observed_at": "bad_time",
            "subjects": "invalid_subject"}.get(first.split("[")[0], "invalid_request")
