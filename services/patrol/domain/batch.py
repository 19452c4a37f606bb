"""Batch policy: each item stands alone, but an idempotency key may appear only once per batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.patrol.domain.intake import Problem


def duplicate_items(items: Sequence[Any]) -> dict[int, Problem]:
    """Index → problem for every item whose client_report_id an earlier item of the batch already used.

    The first occurrence is processed; later ones are refused, since one key must name one report.
    """
    first_seen: dict[str, int] = {}
    problems: dict[int, Problem] = {}
    for index, item in enumerate(items):
        key = item.get("client_report_id") if isinstance(item, dict) else None
        if not isinstance(key, str):
            continue
        if key in first_seen:
            problems[index] = Problem(f"items[{index}].client_report_id",
                                      f"duplicate of items[{first_seen[key]}] in the same batch")
        else:
            first_seen[key] = index
    return problems
