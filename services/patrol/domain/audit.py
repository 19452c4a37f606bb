"""Audit entries for every accepted or refused write: who, what, when, outcome — built from an allow-list, masked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.patrol.domain.access import Principal
from services.patrol.domain.masking import mask_subject, mask_text


@dataclass(frozen=True)
class Who:
    subject: str = "anonymous"
    role: str = ""
    method: str = ""  # "jwt", "api_key", or "" when no credential was accepted
    client_address: str = ""

    @classmethod
    def of(cls, principal: Principal | None, client_address: str) -> Who:
        if principal is None:
            return cls(client_address=client_address)
        return cls(principal.subject, principal.role, principal.method, client_address)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    request_id: str
    api: str  # "json" or "open311"
    action: str  # e.g. "submit_finding", "submit_batch"
    who: Who
    outcome: str  # accepted, replayed, rejected, conflict, unavailable, rate_limited, unauthenticated, forbidden
    status: int
    reason: str = ""
    what: dict[str, Any] = field(default_factory=dict)
    problems: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(), "request_id": self.request_id, "api": self.api, "action": self.action,
            "who": {"subject": self.who.subject, "role": self.who.role, "method": self.who.method,
                    "client_address": self.who.client_address},
            "what": self.what, "outcome": self.outcome, "status": self.status, "reason": self.reason,
            "problems": [{"field": f, "message": m} for f, m in self.problems],
        }


def describe_submission(raw: Any, item_index: int | None = None) -> dict[str, Any]:
    """The allow-listed, masked summary of a submission (parsed or not): never the description or contacts."""
    what: dict[str, Any] = {} if item_index is None else {"item_index": item_index}
    if not isinstance(raw, dict):
        return what
    for name in ("client_report_id", "township_code", "category_code", "source", "finding_id"):
        value = raw.get(name)
        if isinstance(value, str):
            what[name] = mask_text(value[:128])
    description = raw.get("description")
    if isinstance(description, str):
        what["description_chars"] = len(description)
    subjects = raw.get("subjects")
    if isinstance(subjects, list):
        what["subjects"] = [
            {"kind": s.get("kind"), "value": mask_subject(str(s.get("kind")), str(s.get("value"))[:32])}
            for s in subjects if isinstance(s, dict)
        ]
    return what


def masked_problems(problems: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((f, mask_text(m)) for f, m in problems)
