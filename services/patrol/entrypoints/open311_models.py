"""Open311 GeoReport v2 JSON shapes, for the OpenAPI document (the routers build plain dicts in these shapes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Open311Error(BaseModel):
    code: int = Field(description="The HTTP status: 400 bad input, 403 api_key, 404 not found, 409, 429, 503")
    description: str


class Open311Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = Field(description="True: GET services/{service_code} lists attributes")
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str = Field(description="Power-list item codes of the category, comma-separated")
    group: str = Field(description="Dedup group of the category: the kind of matter reports may merge within")
    dedup_radius_m: float = Field(description="Reports of the same matter this close (metres) make one case; "
                                              "the larger of two categories' radii applies (docs/dedup.md)")


class Open311AttributeValue(BaseModel):
    key: str
    name: str


class Open311Attribute(BaseModel):
    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[Open311AttributeValue] | None = None


class Open311ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Open311Attribute]
    dedup_group: str = Field(description="Same as the service's group")
    dedup_radius_m: float = Field(description="Same as the service's dedup_radius_m")


class Open311PostAnswer(BaseModel):
    service_request_id: str = Field(description="The finding id: final at once, also across retries")
    token: str = Field(description="Same value; GET tokens/{token} resolves it")
    service_notice: str | None = None
    account_id: str | None = None


class Open311Token(BaseModel):
    service_request_id: str
    token: str


class Open311Routing(BaseModel):
    rule: str
    item_codes: list[str]
    catalogue_version: str
    detail: str


class Open311RelatedCase(BaseModel):
    case_id: str
    category_code: str
    lead_body_id: str
    agency_responsible: str
    status: str


class Open311Extensions(BaseModel):
    case_id: str | None
    case_status: str | None
    duplicate_of: str | None = Field(description="Request (finding) whose case this one was merged into")
    previous_case_id: str | None
    township_code: str
    lead_body_id: str | None
    report_count: int | None
    routing: Open311Routing | None = Field(description="Why the lead body was chosen")
    related_cases: list[Open311RelatedCase] = Field(
        default_factory=list, description="Other matters at the same place: each its own case and lead body")


class Open311Request(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str | None
    service_code: str
    description: str | None = Field(description="Masked; only for callers serving the township")
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None = Field(description="Deadline of the referral awaiting an answer")
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float = Field(description="Exact for callers serving the township, else rounded to 3 decimals")
    long: float
    media_url: str | None
    extended_attributes: Open311Extensions | None = Field(None, description="Only with extensions=true")


class Open311Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class Open311Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Open311Endpoint]


def responses(model: Any, *errors: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: JSON per ``model``, XML as text; errors in the spec's format, both formats."""
    xml = {"text/xml": {"schema": {"type": "string", "description": "The same document as XML"}}}
    documented: dict[int | str, dict[str, Any]] = {200: {"model": model, "content": xml}}
    texts = {400: "Bad input (field by field)", 401: "Invalid bearer token", 403: "api_key missing or invalid",
             404: "Not found", 409: "Idempotency key used for different content", 413: "Body too large",
             415: "Not form-encoded", 429: "Rate limit exceeded", 503: "Broker or register unavailable"}
    retry = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
    for status in errors:
        documented[status] = {"model": list[Open311Error], "description": texts[status], "content": xml,
                              **({"headers": retry} if status in (429, 503) else {})}
    return documented
