"""Wire contracts of every event on Kafka, version 1; domain objects live in the services.

Each model names its CloudEvents ``type`` (``CE_TYPE``); the envelope (id, source, time, subject) travels as ``ce_``
headers in binary mode, the model as the JSON body.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

DivisionCode9 = Annotated[str, Field(pattern=r"^\d{9}$", description="9-digit township-level division code")]
DivisionCode6 = Annotated[str, Field(pattern=r"^\d{6}$", description="6-digit county-level division code")]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class WireModel(BaseModel):
    """Base of all wire models: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    CE_TYPE: ClassVar[str] = ""


class Source(StrEnum):
    PATROL = "patrol"  # 日常巡查
    HOTLINE_12345 = "hotline_12345"  # 12345 民生服務平臺
    VIDEO = "video"  # 視頻監控
    ASSIGNED = "assigned"  # 上級交辦
    COMMAND_PLATFORM = "command_platform"  # 綜合指揮平臺


class Location(WireModel):
    """Where the finding was made."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    datum: Literal["WGS-84"] = Field("WGS-84", description="Coordinates are WGS-84 (GPS), not GCJ-02")
    address: str | None = Field(None, max_length=500)


class Photo(WireModel):
    """A photo reference; the file itself lives in the evidence store, checked by its hash."""

    uri: str = Field(max_length=1000)
    sha256: Sha256Hex


class Subject(WireModel):
    """An identifier of the party the finding concerns; validated with its check character."""

    kind: Literal["uscc", "plate", "resident_id"]
    value: str = Field(max_length=32)


class FindingReported(WireModel):
    """A finding accepted by the patrol service; key = dedup group (see docs/dedup.md)."""

    CE_TYPE: ClassVar[str] = "cn.liandong.finding.reported.v1"
    schema_version: Literal[1] = 1
    finding_id: str = Field(description="Deterministic: uuid5 of the reporting principal and client_report_id")
    client_report_id: str = Field(min_length=1, max_length=128)
    source: Source
    reporter: str = Field(description="Officer or system principal that filed it", max_length=128)
    township_code: DivisionCode9
    county_code: DivisionCode6
    category_code: str = Field(max_length=64)
    location: Location
    observed_at: AwareDatetime = Field(description="When the reporter says it was seen (device clock)")
    received_at: AwareDatetime = Field(description="When the patrol service accepted it (trusted clock)")
    description: str = Field(max_length=4000)
    photos: tuple[Photo, ...] = ()
    subjects: tuple[Subject, ...] = ()


class RoutingExplanation(WireModel):
    """Why a body was chosen: the rule, the list items and the catalogue version in force."""

    rule: str = Field(description="e.g. delegated_to_township, county_department, dispatched_agency, no_competent_body")
    item_codes: tuple[str, ...] = ()
    catalogue_version: str = ""
    detail: str = ""


class CaseEventBase(WireModel):
    """Common fields of every event on the case-events topic (key = case_id)."""

    event_id: str = Field(description="Deterministic id: a replay produces the same id")
    case_id: str
    occurred_at: AwareDatetime


class RelatedCase(WireModel):
    """An open case at the same place that is another matter, with its own lead body, referral and deadline."""

    case_id: str
    category_code: str = Field(max_length=64)
    lead_body_id: str = Field(description="The body competent for that case's matter when it was opened")


class CaseOpened(CaseEventBase):
    """A finding that matched no open case became a new case, with its lead body decided."""

    CE_TYPE: ClassVar[str] = "cn.liandong.case.opened.v1"
    event: Literal["case_opened"] = "case_opened"
    finding: FindingReported
    dedup_group: str
    lead_body_id: str
    co_body_ids: tuple[str, ...] = ()
    routing: RoutingExplanation
    previous_case_id: str | None = Field(None, description="Closed case at the same place this one recurs")
    related_cases: tuple[RelatedCase, ...] = Field(
        (), description="Open cases at the same place (same dedup group, within radius) that are other matters "
                        "handled by other bodies; see docs/dedup.md")


class RelatedCaseOpened(CaseEventBase):
    """Another matter was opened as its own case at this case's place: told to this case's current body.

    Published on that body's referrals topic only (not on case-events: the register learns the link from the new
    case's CaseOpened). ``case_id`` is the receiving body's case; ``related`` the new one.
    """

    CE_TYPE: ClassVar[str] = "cn.liandong.case.related_opened.v1"
    event: Literal["related_case_opened"] = "related_case_opened"
    related: RelatedCase


class FindingMerged(CaseEventBase):
    """A repeat report of an open case's violation joined that case; ``rule`` says why."""

    CE_TYPE: ClassVar[str] = "cn.liandong.case.finding_merged.v1"
    event: Literal["finding_merged"] = "finding_merged"
    finding: FindingReported
    rule: str = Field(description="Which dedup rule matched: same_category_within_radius, "
                                  "same_competent_bodies_within_radius, or either with _same_subject")
    distance_m: float


class ReferralIssued(CaseEventBase):
    """A referral (案件移送) to one body; also published on that body's own referrals topic."""

    CE_TYPE: ClassVar[str] = "cn.liandong.referral.issued.v1"
    event: Literal["referral_issued"] = "referral_issued"
    referral_id: str
    body_id: str
    co_body_ids: tuple[str, ...] = ()
    township_code: DivisionCode9
    category_code: str
    routing: RoutingExplanation
    accept_by: AwareDatetime = Field(description="Deadline to accept or return")
    finding: FindingReported
    attempt: int = Field(1, ge=1, description="1 for the first body; higher after returns")
    dedup_group: str = Field(description="Key to use when responding on the referral-responses topic")
    designated: bool = Field(False, description="Named by county coordination (指定管辖): it cannot be returned")
    related_cases: tuple[RelatedCase, ...] = Field(
        (), description="Other matters at the same place and the bodies handling them (each its own case)")


class ReferralAction(StrEnum):
    ACCEPT = "accept"
    RETURN = "return"
    START_HANDLING = "start_handling"
    FEED_BACK = "feed_back"
    VERIFY = "verify"
    CLOSE = "close"
    EXTEND = "extend"
    REWORK = "rework"  # 驳回重办: the township sends a fed-back result back for more work
    DECIDE = "decide"  # 指定管辖: county coordination names the competent body of a jurisdiction dispute


class ReturnReason(StrEnum):
    """Why a body returns a referral (退回原因), as 12345 work-order systems structure it."""

    WRONG_PLACE = "wrong_place"  # 属地不符
    OVERLAPPING_DUTIES = "overlapping_duties"  # 职能交叉
    UNCLEAR_OWNERSHIP = "unclear_ownership"  # 权属不清
    NOT_OUR_DUTY = "not_our_duty"  # 不属本部门职责
    OTHER = "other"  # 其他 (the reason text says what)


class Channel(StrEnum):
    """How an action reached the system; the actor always comes from that channel's authentication."""

    HTTP = "http"  # the lifecycle API (bearer token of the acting body)
    KAFKA = "kafka"  # a body's own responses topic, relayed with the body the topic belongs to
    OPEN311 = "open311"  # servicerequestupdates from an external work-order system (its API key names the body)


class ReferralOutcome(StrEnum):
    PENALTY_DECIDED = "penalty_decided"
    RECTIFIED = "rectified"
    NO_VIOLATION = "no_violation"
    TRANSFERRED_TO_JUDICIARY = "transferred_to_judiciary"


EvidenceLink = Annotated[str, Field(min_length=1, max_length=1000, pattern=r"^https?://")]


class ReferralResponded(WireModel):
    """An action on a referral (topic referral-responses, key = the case's dedup group).

    Written only by liandong's own services (the lifecycle API, the Open311 updates endpoint, the relay of the
    bodies' own response topics): ``body_id`` is the acting body as its authentication established it and
    ``responded_at`` the server's receive time. What the actor says of itself goes in ``stated_at``.
    """

    CE_TYPE: ClassVar[str] = "cn.liandong.referral.responded.v1"
    schema_version: Literal[1] = 1
    response_id: str = Field(min_length=1, max_length=128, description="Idempotency key: a retry is the same action")
    referral_id: str
    case_id: str
    body_id: str = Field(max_length=80, description="The acting body, from authentication, never from a payload")
    action: ReferralAction
    reason: str | None = Field(None, max_length=2000)
    outcome: ReferralOutcome | None = None
    responded_at: AwareDatetime = Field(description="When liandong received the action (trusted clock)")
    reason_code: ReturnReason | None = Field(None, description="Structured reason of a return")
    designated_body_id: str | None = Field(None, max_length=80, description="decide: the body named competent")
    due_by: AwareDatetime | None = Field(None, description="rework: the new deadline to feed back")
    evidence: tuple[EvidenceLink, ...] = Field((), max_length=20, description="feed_back: links to evidence")
    stated_at: AwareDatetime | None = Field(None, description="When the actor says it acted (its own clock)")
    actor: str | None = Field(None, max_length=128, description="The person or system that acted (token subject)")
    channel: Channel = Channel.KAFKA


class CaseTransitioned(CaseEventBase):
    """A lifecycle transition of a case's referral, after dispatch validated it."""

    CE_TYPE: ClassVar[str] = "cn.liandong.case.transitioned.v1"
    event: Literal["case_transitioned"] = "case_transitioned"
    referral_id: str
    body_id: str
    action: ReferralAction
    from_state: str
    to_state: str
    reason: str | None = None
    outcome: ReferralOutcome | None = None
    accept_by: AwareDatetime | None = Field(None, description="The new acceptance deadline, set by an extension")
    response_id: str | None = Field(None, description="The action that caused it (ReferralResponded.response_id)")
    actor_body_id: str | None = Field(None, description="Who acted: the body, or the township verifying/closing")
    actor: str | None = None
    channel: Channel | None = None
    reason_code: ReturnReason | None = None
    designated_body_id: str | None = None
    due_by: AwareDatetime | None = Field(None, description="rework: the new deadline to feed back")
    evidence: tuple[str, ...] = ()
    stated_at: AwareDatetime | None = None


class ResponseRejected(WireModel):
    """A referral response dispatch refused, with why (topic case-events, key = case_id)."""

    CE_TYPE: ClassVar[str] = "cn.liandong.referral.response_rejected.v1"
    event: Literal["response_rejected"] = "response_rejected"
    event_id: str
    case_id: str
    occurred_at: AwareDatetime
    response_id: str
    referral_id: str
    body_id: str
    reason: str
    code: Literal["not_found", "forbidden", "conflict", "invalid"] | None = Field(
        None, description="not_found: no such referral; forbidden: not this body's to do; conflict: the state does "
        "not allow it now; invalid: the action's details are wrong")
    state: str | None = Field(None, description="The referral's state when the action was refused")


class ReferralOverdue(CaseEventBase):
    """A referral passed its acceptance deadline unanswered: a warning, escalated to county coordination."""

    CE_TYPE: ClassVar[str] = "cn.liandong.referral.overdue.v1"
    event: Literal["referral_overdue"] = "referral_overdue"
    referral_id: str
    body_id: str
    deadline: AwareDatetime
    escalated_to: str = Field(description="The county coordination body told about it")


class DeadlineCheck(WireModel):
    """Dispatch's own command, on the referral-responses topic: check one referral's deadline (key = dedup group).

    Sent by a worker's timer and handled in order with the referral's responses, so an answer that arrived first wins.
    """

    CE_TYPE: ClassVar[str] = "cn.liandong.referral.deadline_check.v1"
    schema_version: Literal[1] = 1
    referral_id: str
    case_id: str
    checked_at: AwareDatetime


class FeedEntry(WireModel):
    """One entry of the shared enforcement-information feed; personal data masked for the public audience."""

    CE_TYPE: ClassVar[str] = "cn.liandong.feed.entry.v1"
    schema_version: Literal[1] = 1
    sequence: int = Field(ge=1, description="Position in the register's ledger; the feed cursor")
    event_id: str
    event: str
    case_id: str
    occurred_at: datetime
    county_code: DivisionCode6
    township_code: DivisionCode9
    category_code: str
    body_id: str | None = None
    status: str
    summary: str = Field(description="Human summary with personal data masked")
    previous_case_id: str | None = Field(None, description="case_opened: the closed case this one recurs")
    related_cases: tuple[RelatedCase, ...] = Field(
        (), description="case_opened: open cases at the same place that are other matters, with their lead bodies")
    matter_category_code: str | None = Field(
        None, description="finding_merged: the merged report's category (another matter the same bodies handle)")
    ledger_hash: str | None = Field(
        None, pattern="^[0-9a-f]{64}$",
        description="The ledger entry's chain hash: compare a kept copy with GET /v1/ledger/head and /v1/ledger/links "
                    "(python -m services.info_share.entrypoints.cli_verify_feed)")
    prev_hash: str | None = Field(None, pattern="^[0-9a-f]{64}$",
                                  description="The chain hash of the entry before (64 zeros for the first)")


CASE_EVENT_MODELS: tuple[type[WireModel], ...] = (
    CaseOpened, FindingMerged, ReferralIssued, CaseTransitioned, ResponseRejected, ReferralOverdue,
)
class StateSweep(WireModel):
    """Dispatch's own command, on one partition of the referral-responses topic: drop what retention allows.

    Sent by a worker's timer to each partition it owns and handled in order with that partition's events, so the
    state's retention is decided from the command's time, like every other decision: closed cases' files and
    referrals after the retention, closed cases themselves (their recurrence) after the recurrence window.
    """

    CE_TYPE: ClassVar[str] = "cn.liandong.dispatch.state_sweep.v1"
    schema_version: Literal[1] = 1
    swept_at: AwareDatetime


# The same, as a type: what a consumer of the case-events topic is handed.
CaseEvent = CaseOpened | FindingMerged | ReferralIssued | CaseTransitioned | ResponseRejected | ReferralOverdue
RESPONSE_TOPIC_MODELS: tuple[type[WireModel], ...] = (ReferralResponded, DeadlineCheck, StateSweep)
ALL_EVENT_MODELS: tuple[type[WireModel], ...] = (
    FindingReported, *CASE_EVENT_MODELS, RelatedCaseOpened, *RESPONSE_TOPIC_MODELS, FeedEntry,
)
