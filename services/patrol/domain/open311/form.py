"""Open311 ``POST requests``: form fields → a FindingSubmission, with problems named as the form names them."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from schemas.api import FindingSubmission
from services.patrol.domain.idempotency import fingerprint
from services.patrol.domain.intake import Problem, Rejected
from services.patrol.domain.open311.services import DEFAULT_SOURCE, SUBJECT_ATTRIBUTES, attribute_codes
from services.reference.loader import ReferenceData

CHINA = timezone(timedelta(hours=8))  # no daylight saving: a fixed offset is exact
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_]+)\]$")
# Accepted and dropped: the finding carries no citizen contact; the hotline keeps its own records.
CONTACT_FIELDS = frozenset({"email", "first_name", "last_name", "phone", "device_id", "account_id"})
SECRET_FIELDS = frozenset({"api_key"})


@dataclass(frozen=True)
class Open311Post:
    submission: FindingSubmission
    fingerprint: str


def parse_post(pairs: Sequence[tuple[str, str]], *, default_township: str | None, reference: ReferenceData,
               received_at: datetime) -> Open311Post:
    fields, problems = _single_values(pairs)
    content = sorted((k, v) for k, v in fields.items() if k not in SECRET_FIELDS)
    attributes = {m.group(1): v for k, v in fields.items() if (m := _ATTRIBUTE.match(k))}
    code = fields.get("service_code", "").strip()
    category = reference.categories.get(code)
    if not code:
        problems.append(Problem("service_code", "is required"))
    elif category is None:
        problems.append(Problem("service_code", f"{code!r} is not a service of this endpoint"))
    if category is not None:
        allowed = set(attribute_codes(category))
        problems += [Problem(f"attribute[{a}]", f"is not an attribute of service {code}")
                     for a in sorted(attributes) if a not in allowed]
    township = fields.get("jurisdiction_id", "").strip() or default_township
    if not township:
        problems.append(Problem("jurisdiction_id", "is required: the 9-digit code of the township to file for"))
    latitude = _coordinate(fields, "lat", problems)
    longitude = _coordinate(fields, "long", problems)
    if problems:
        raise Rejected("invalid_request", problems, status=400)
    assert category is not None and township is not None and latitude is not None and longitude is not None
    raw: dict[str, Any] = {
        "client_report_id": attributes.get("client_report_id") or _derived_key(content, received_at),
        "township_code": township, "category_code": category.code,
        "location": {"latitude": latitude, "longitude": longitude, "datum": "WGS-84",
                     **({"address": fields["address_string"]} if fields.get("address_string") else {})},
        "observed_at": attributes.get("observed_datetime") or received_at.isoformat(),
        "description": fields.get("description", "").strip() or category.name,
        "source": attributes.get("source") or DEFAULT_SOURCE.value,
        "subjects": [{"kind": kind, "value": attributes[code]}
                     for code, (kind, _text) in SUBJECT_ATTRIBUTES.items() if attributes.get(code)],
    }
    if fields.get("media_url"):
        raw["photos"] = [{"uri": fields["media_url"], "sha256": attributes.get("photo_sha256", "")}]
        if not attributes.get("photo_sha256"):
            raise Rejected("invalid_request", [Problem("attribute[photo_sha256]", "is required with media_url: "
                                                       "evidence is accepted only with its SHA-256")], status=400)
    try:
        submission = FindingSubmission.model_validate(raw)
    except ValidationError as exc:
        mapped = [Problem(open311_field(".".join(str(p) for p in e["loc"]), raw), e["msg"]) for e in exc.errors()]
        raise Rejected("invalid_request", mapped, status=400) from None
    return Open311Post(submission, fingerprint(content))


def _single_values(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[Problem]]:
    fields: dict[str, str] = {}
    problems: list[Problem] = []
    for key, value in pairs:
        if key in fields:
            problems.append(Problem(key, "is given more than once"))
        fields[key] = value
    return fields, problems


def _coordinate(fields: dict[str, str], name: str, problems: list[Problem]) -> float | None:
    text = fields.get(name, "").strip()
    if not text:
        hint = " (address_string alone cannot be located: this endpoint has no geocoder)" \
            if fields.get("address_string") else ""
        problems.append(Problem(name, f"is required{hint}"))
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append(Problem(name, f"{text[:40]!r} is not a number"))
        return None
    if not math.isfinite(value):
        problems.append(Problem(name, "is not a finite number"))
        return None
    return value


def _derived_key(content: list[tuple[str, str]], received_at: datetime) -> str:
    # Same content on the same China-time day is taken for a retry; the next day it is a new report.
    day = received_at.astimezone(CHINA).date().isoformat()
    return f"o311-{day}-{fingerprint(content)[:40]}"


_FIELD_NAMES = {
    "township_code": "jurisdiction_id", "category_code": "service_code", "location.latitude": "lat",
    "location.longitude": "long", "location.address": "address_string", "location": "lat",
    "description": "description", "client_report_id": "attribute[client_report_id]",
    "observed_at": "attribute[observed_datetime]", "source": "attribute[source]",
}


def open311_field(field: str, raw: Any) -> str:
    """The form name of a FindingSubmission field path (as used in problems), e.g. subjects.0.value."""
    path = field.replace("[", ".").replace("]", "")
    if path in _FIELD_NAMES:
        return _FIELD_NAMES[path]
    parts = path.split(".")
    if parts[0] == "photos":
        return "attribute[photo_sha256]" if parts[-1] == "sha256" else "media_url"
    if parts[0] == "subjects" and len(parts) > 1 and parts[1].isdigit():
        subjects = raw.get("subjects", []) if isinstance(raw, dict) else []
        index = int(parts[1])
        kind = subjects[index].get("kind") if index < len(subjects) else None
        return f"attribute[subject_{kind}]" if kind else "attribute"
    return _FIELD_NAMES.get(parts[0], parts[0])
