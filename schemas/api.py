"""HTTP payloads of the patrol API, version 1 (the JSON API; Open311 has its own shapes)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.bounds import Instant
from schemas.events import Location, Photo, Source, Subject


class FindingSubmission(BaseModel):
    """What a patrol app, the 12345 hotline or a camera platform sends for one finding."""

    model_config = ConfigDict(extra="forbid")

    client_report_id: str = Field(min_length=1, max_length=128, description="Idempotency key chosen by the client")
    township_code: str = Field(pattern=r"^\d{9}$")
    category_code: str = Field(min_length=1, max_length=64)
    location: Location
    observed_at: Instant
    description: str = Field(min_length=1, max_length=4000)
    source: Source = Source.PATROL
    photos: list[Photo] = Field(default_factory=list, max_length=20)
    subjects: list[Subject] = Field(default_factory=list, max_length=10)


class FindingAccepted(BaseModel):
    finding_id: str
    client_report_id: str
    status: str = "accepted"
    partition: int | None = None
    offset: int | None = None


class FieldError(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    error: str
    detail: str
    field_errors: list[FieldError] = Field(default_factory=list)
