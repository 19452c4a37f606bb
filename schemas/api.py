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


class LedgerHead(BaseModel):
    """The register ledger's last entry: a consumer keeps it (or checks its copy against it) because a hash chain
    alone cannot show that entries were cut off its end or that the whole tail was rewritten."""

    model_config = ConfigDict(frozen=True)
    sequence: int = Field(ge=0, description="Sequence of the last entry; 0 for an empty ledger")
    hash: str = Field(pattern="^[0-9a-f]{64}$", description="Its chain hash (64 zeros for an empty ledger)")


class LedgerLink(BaseModel):
    """One entry of the chain without its content: enough to check a filtered or masked copy of the feed."""

    model_config = ConfigDict(frozen=True)
    sequence: int = Field(ge=1)
    prev_hash: str = Field(pattern="^[0-9a-f]{64}$")
    hash: str = Field(pattern="^[0-9a-f]{64}$")
