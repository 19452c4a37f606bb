"""Payloads of the JSON API that schemas/api.py does not define: batches and their per-item results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.api import ErrorResponse


class FindingBatch(BaseModel):
    """Up to LIANDONG_MAX_BATCH_ITEMS findings (default 500) from an app that was offline."""

    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(
        min_length=1,
        description="Each item is a FindingSubmission, validated on its own, so one bad item does not sink the "
                    "batch; a client_report_id may appear only once per batch.")


class ItemResult(BaseModel):
    index: int = Field(description="Position of the item in the batch")
    client_report_id: str | None = None
    status: int = Field(description="The HTTP status this item would have had alone: 202, 403, 409, 422 or 503")
    outcome: Literal["accepted", "replayed", "rejected", "forbidden", "conflict", "unavailable"]
    finding_id: str | None = None
    partition: int | None = None
    offset: int | None = None
    error: ErrorResponse | None = None


class BatchResult(BaseModel):
    accepted: int = Field(description="Items the broker acknowledged, now or on an earlier request (replayed)")
    rejected: int = Field(description="Items refused with a client error (4xx): fix them, do not retry unchanged")
    failed: int = Field(description="Items not confirmed by the broker (503): retry them with the same keys")
    results: list[ItemResult]


class CategoryView(BaseModel):
    """A category a patrol can report, with the dedup rule it follows (docs/dedup.md)."""

    category_code: str
    name: str
    item_codes: list[str] = Field(description="Power-list items the category concerns")
    subject_kinds: list[str] = Field(description="Kinds of party identifier the category takes")
    dedup_group: str = Field(description="Reports merge only within a group, and only when they are the same "
                                         "matter: the same category, or one the very same bodies handle there")
    dedup_radius_m: float = Field(description="The same place: within this many metres of a case's first report "
                                              "(the larger of the two categories' radii)")
