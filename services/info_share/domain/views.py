"""API answers built field by field from allow-lists, per audience; personal fields and free text masked.

Nothing here dumps a row: every field an answer can carry is listed below with the lowest audience that sees it and
how it is treated. A field not listed never leaves the register.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from services.common.privacy import RANK as _RANK
from services.common.privacy import Audience, PiiKind, Tally, reporter_for, subject_for, text_for


class Treat(Enum):
    PLAIN = "plain"  # codes, states, ids, times: never personal
    FREE_TEXT = "free_text"  # written by people: scanned and masked
    REPORTER = "reporter"  # a person's identifier
    SUBJECTS = "subjects"  # identifiers of the party concerned


@dataclass(frozen=True)
class Rule:
    name: str
    audience: Audience = Audience.PUBLIC  # the lowest audience that sees the field
    treat: Treat = Treat.PLAIN


OFF, FULL = Audience.OFFICIAL, Audience.FULL  # short names for the tables below

CASE = (
    Rule("case_id"), Rule("county_code"), Rule("township_code"), Rule("category_code"), Rule("status"),
    Rule("lead_body_id"), Rule("routing_rule"), Rule("report_count"), Rule("opened_at"), Rule("updated_at"),
    Rule("closed_at"), Rule("previous_case_id"), Rule("latitude", OFF), Rule("longitude", OFF),
)
REPORT = (
    Rule("finding_id"), Rule("source"), Rule("township_code"), Rule("category_code"), Rule("observed_at"),
    Rule("received_at"), Rule("merge_rule"), Rule("latitude", OFF), Rule("longitude", OFF), Rule("distance_m", OFF),
    Rule("address", OFF, Treat.FREE_TEXT), Rule("description", OFF, Treat.FREE_TEXT),
    Rule("reporter", OFF, Treat.REPORTER), Rule("subjects", OFF, Treat.SUBJECTS),
    Rule("photos", FULL),  # photos may show faces: parties only
)
# A referral's id is the handle of every action on it: enforcement bodies only (acting needs a body's token anyway).
REFERRAL = (
    Rule("referral_id", OFF), Rule("body_id"), Rule("co_body_ids"), Rule("attempt"), Rule("state"),
    Rule("issued_at"), Rule("accept_by"), Rule("extended"), Rule("routing_rule"), Rule("accepted_at"),
    Rule("returned_at"), Rule("closed_at"), Rule("overdue_at"), Rule("outcome"),
    Rule("routing_detail", OFF, Treat.FREE_TEXT), Rule("designated"), Rule("started_at"), Rule("verified_at"),
    Rule("feedback_by"), Rule("reworks"), Rule("return_reason_code"), Rule("decided_body_id"),
)
PARTY = (Rule("body_id"), Rule("role"))
TIMELINE = (
    Rule("sequence"), Rule("event"), Rule("occurred_at"), Rule("body_id"), Rule("status"), Rule("referral_id", OFF),
    Rule("attempt"), Rule("accept_by"), Rule("action"), Rule("from_state"), Rule("to_state"), Rule("outcome"),
    Rule("finding_id"), Rule("rule"), Rule("escalated_to"), Rule("deadline"), Rule("distance_m", OFF),
    Rule("reason", OFF, Treat.FREE_TEXT), Rule("actor_body_id"), Rule("reason_code"), Rule("designated_body_id"),
    Rule("due_by"), Rule("designated"), Rule("previous_case_id"),
)
NEARBY = (*CASE, Rule("distance_m", OFF))
# Every matter of a case and who handles it; the other matters at the same place are related cases (docs/dedup.md).
MATTER = (Rule("category_code"), Rule("body_id"), Rule("report_count"))
RELATED = (Rule("case_id"), Rule("category_code"), Rule("lead_body_id"), Rule("status"), Rule("opened_at"))

# What the timeline takes from a ledger payload (one flat level; the finding itself is shown under reports).
_TIMELINE_PAYLOAD_KEYS = ("referral_id", "attempt", "accept_by", "action", "from_state", "to_state", "outcome",
                          "rule", "escalated_to", "deadline", "distance_m", "reason", "actor_body_id", "reason_code",
                          "designated_body_id", "due_by", "designated", "previous_case_id")


def matters(lead_body_id: str, report_categories: Iterable[str]) -> list[dict[str, Any]]:
    """The matters a case's reports call for, each with its body: one case has one lead for all its matters."""
    counts: dict[str, int] = {}
    for category in report_categories:
        counts[category] = counts.get(category, 0) + 1
    return [{"category_code": c, "body_id": lead_body_id, "report_count": n} for c, n in counts.items()]


@dataclass
class Renderer:
    """Renders records for one audience, masking with the case's known personal values; counts what it masked."""

    audience: Audience
    known: tuple[tuple[PiiKind, str], ...] = ()
    tally: Tally | None = None

    def render(self, rules: Iterable[Rule], record: Mapping[str, Any] | object) -> dict[str, Any]:
        get: Callable[[str], Any] = (record.get if isinstance(record, Mapping)
                                     else lambda name: getattr(record, name, None))
        rank = _RANK[self.audience]
        return {rule.name: self._value(rule, get(rule.name)) for rule in rules if rank >= _RANK[rule.audience]}

    def text(self, value: str | None) -> str | None:
        return text_for(self.audience, value, known=self.known, tally=self.tally)

    def _value(self, rule: Rule, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if value is None or self.audience is Audience.FULL or rule.treat is Treat.PLAIN:
            return value
        if rule.treat is Treat.FREE_TEXT:
            return self.text(value)
        if rule.treat is Treat.REPORTER:
            return reporter_for(self.audience, value, self.tally)
        return [{"kind": s["kind"], "value": subject_for(self.audience, s["kind"], s["value"], self.tally)}
                for s in value]


def known_values(reporters: Iterable[str], subjects: Iterable[Mapping[str, str]]) -> tuple[tuple[PiiKind, str], ...]:
    """Personal values the register knows for a case: its reporters and its subjects' identifiers."""
    known: list[tuple[PiiKind, str]] = [(PiiKind.NAME, reporter) for reporter in reporters]
    for subject in subjects:
        if subject["kind"] == "resident_id":
            known.append((PiiKind.RESIDENT_ID, subject["value"]))
        elif subject["kind"] == "plate":
            known.append((PiiKind.PLATE, subject["value"]))
    return tuple(dict.fromkeys(known))


def timeline_facts(sequence: int, event: str, occurred_at: datetime, body_id: str | None, status: str,
                   payload: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {"sequence": sequence, "event": event, "occurred_at": occurred_at, "body_id": body_id,
                             "status": status}
    facts.update({key: payload[key] for key in _TIMELINE_PAYLOAD_KEYS if key in payload})
    finding = payload.get("finding")
    if isinstance(finding, Mapping):
        facts["finding_id"] = finding.get("finding_id")
    return facts
