"""What patrol's audit entries say about a write: an allow-listed, masked summary (entries: services.common.audit)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.common.privacy import mask_subject, mask_text


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
