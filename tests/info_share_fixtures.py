"""Test material for the info-share service: case stories with personal data in them, a register per backend,
publishing to a case-events topic, tokens, and the leak scanner."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from kafka import KafkaProducer
from stdnum.cn import ric

from schemas.events import (
    CaseOpened,
    CaseTransitioned,
    FindingMerged,
    FindingReported,
    Location,
    ReferralAction,
    ReferralIssued,
    ReferralOutcome,
    ResponseRejected,
    RoutingExplanation,
    Source,
    Subject,
    WireModel,
)
from services.common.envelope import encode
from tests.databases import fresh_postgres_database

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=BEIJING)  # a Monday, a working day
COUNTY = "210603"  # 振兴区
TOWNSHIP = "210603008"  # 花园街道
OTHER_TOWNSHIP = "210603002"  # 站前街道
FAR_TOWNSHIP = "210624100"  # 宽甸镇, 宽甸满族自治县
UNRELATED_TOWNSHIP = "210603003"  # 临江街道: party to none of the stories' cases
TEAM = "team:210603:natural_resources"
OTHER_TEAM = "team:210603:ecology_environment"
AGENCY = f"agency:{TOWNSHIP}:police_station"
CATEGORY = "illegal_construction"
POINT = (40.1290, 124.3920)  # in 振兴区
FAR_POINT = (40.7310, 124.7840)  # in 宽甸镇

# Personal data planted in the stories; none of it may reach an unentitled caller.
RESIDENT_ID = "210603199001011230"  # check character valid (stdnum.cn.ric)
RESIDENT_ID_2 = "21060319850615104X"
MOBILE = "13812345678"
LANDLINE = "0415-2123456"
NAME = "张建国"
NAME_2 = "欧阳明"
REPORTER = "officer-wang-0042"
PLATE = "辽F·12345"
SEEDED = (RESIDENT_ID, RESIDENT_ID_2, MOBILE, "2123456", NAME, NAME_2, REPORTER, "12345")


def _id(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))


@dataclass
class Story:
    """The events of one case, with deterministic ids; ``n`` tells stories apart."""

    n: int
    township: str = TOWNSHIP
    lead: str = TEAM
    at: datetime = T0
    point: tuple[float, float] = POINT

    @property
    def case_id(self) -> str:
        return _id("case", self.n)

    def finding(self, k: int = 0, township: str | None = None, description: str | None = None) -> FindingReported:
        township = township or self.township
        return FindingReported(
            finding_id=_id("finding", self.n, k), client_report_id=f"r{self.n}-{k}", source=Source.PATROL,
            reporter=REPORTER, township_code=township, county_code=township[:6], category_code=CATEGORY,
            location=Location(latitude=self.point[0] + self.n * 1e-4, longitude=self.point[1],
                              address=f"户主{NAME}家院内"),
            observed_at=self.at + timedelta(minutes=k), received_at=self.at + timedelta(minutes=k, seconds=5),
            description=description or (f"当事人{NAME}在院内违法搭建，联系电话{MOBILE}，身份证号{RESIDENT_ID}，"
                                        f"座机{LANDLINE}，{NAME_2}先生反映车辆{PLATE}被挡"),
            subjects=(Subject(kind="resident_id", value=RESIDENT_ID_2), Subject(kind="plate", value="辽F12345"),
                      Subject(kind="uscc", value="91210600MA0QC9XX1Q")),
        )

    def opened(self, co_body_ids: tuple[str, ...] = ()) -> CaseOpened:
        return CaseOpened(event_id=_id("opened", self.n), case_id=self.case_id, occurred_at=self.at,
                          finding=self.finding(), dedup_group="construction", lead_body_id=self.lead,
                          co_body_ids=co_body_ids, routing=_routing())

    def merged(self, k: int, township: str | None = None) -> FindingMerged:
        return FindingMerged(event_id=_id("merged", self.n, k), case_id=self.case_id,
                             occurred_at=self.at + timedelta(minutes=k), finding=self.finding(k, township),
                             rule="same_group_within_radius", distance_m=12.5)

    def referral_id(self, attempt: int = 1) -> str:
        return _id("referral", self.n, attempt)

    def issued(self, attempt: int = 1, body: str | None = None, minutes: int = 1) -> ReferralIssued:
        body = body or self.lead
        return ReferralIssued(
            event_id=_id("issued", self.n, attempt), case_id=self.case_id,
            occurred_at=self.at + timedelta(minutes=minutes), referral_id=self.referral_id(attempt), body_id=body,
            township_code=self.township, category_code=CATEGORY, routing=_routing(),
            accept_by=self.at + timedelta(days=3), finding=self.finding(), attempt=attempt,
            dedup_group="construction")

    def transitioned(self, action: str, from_state: str, to_state: str, *, attempt: int = 1, body: str | None = None,
                     hours: float = 2, reason: str | None = None, outcome: str | None = None) -> CaseTransitioned:
        return CaseTransitioned(
            event_id=_id("transition", self.n, attempt, action), case_id=self.case_id,
            occurred_at=self.at + timedelta(hours=hours), referral_id=self.referral_id(attempt),
            body_id=body or self.lead, action=ReferralAction(action), from_state=from_state, to_state=to_state,
            reason=reason, outcome=ReferralOutcome(outcome) if outcome else None)

    def rejected(self, reason: str = "cannot close referral: no result has been fed back yet") -> ResponseRejected:
        return ResponseRejected(event_id=_id("rejected", self.n, reason), case_id=self.case_id,
                                occurred_at=self.at + timedelta(hours=1), response_id=_id("response", self.n),
                                referral_id=self.referral_id(), body_id=self.lead, reason=reason)

    def lifecycle(self) -> list[WireModel]:
        """Opened, merged, referred, returned, re-referred, accepted, handled, fed back, verified, closed."""
        return [
            self.opened(), self.merged(1, OTHER_TOWNSHIP), self.issued(1),
            self.transitioned("return", "issued", "returned", hours=5,
                              reason=f"不属本部门职责，请联系{NAME}（{MOBILE}）核实"),
            self.issued(2, OTHER_TEAM, minutes=301),
            self.transitioned("accept", "issued", "accepted", attempt=2, body=OTHER_TEAM, hours=26),
            self.transitioned("start_handling", "accepted", "handling", attempt=2, body=OTHER_TEAM, hours=27),
            self.transitioned("feed_back", "handling", "result_fed_back", attempt=2, body=OTHER_TEAM, hours=50,
                              outcome="rectified", reason=f"已责令{NAME}限期拆除，身份证{RESIDENT_ID}"),
            self.transitioned("verify", "result_fed_back", "verified", attempt=2, body=OTHER_TEAM, hours=51),
            self.transitioned("close", "verified", "closed", attempt=2, body=OTHER_TEAM, hours=52),
        ]


def _routing() -> RoutingExplanation:
    return RoutingExplanation(rule="county_department", item_codes=("DD-XZCF-001",), catalogue_version="2025.1")


def orphan_rejection(n: int) -> ResponseRejected:
    return ResponseRejected(event_id=_id("orphan", n), case_id=_id("no-such-case", n), occurred_at=T0,
                            response_id=_id("orphan-response", n), referral_id=_id("no-such-referral", n),
                            body_id=TEAM, reason="no referral for case")


# -- databases ------------------------------------------------------------------------------------------------------

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def register_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty register database: a SQLite file, or a fresh database on the session's PostgreSQL server."""
    yield from _empty_register(request, tmp_path / "register.db")


@pytest.fixture(scope="module", params=BACKENDS)
def module_register_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """As ``register_url``, shared by the tests of one module (for read-only tests)."""
    yield from _empty_register(request, tmp_path_factory.mktemp("register") / "register.db")


@pytest.fixture
def second_register_url(request: pytest.FixtureRequest, register_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty register on the same backend (to rebuild into)."""
    backend = "sqlite" if register_url.startswith("sqlite") else "postgresql"
    yield from _empty_register(request, tmp_path / "rebuilt.db", backend)


def _empty_register(request: pytest.FixtureRequest, sqlite_path: Path, backend: str | None = None) -> Iterator[str]:
    if (backend or request.param) == "sqlite":
        yield f"sqlite:///{sqlite_path}"
        return
    yield from fresh_postgres_database(request.getfixturevalue("postgres_url"), "register")


# -- Kafka ----------------------------------------------------------------------------------------------------------

def publish(bootstrap_servers: str, topic: str, events: Iterable[WireModel]) -> int:
    """Publish case events as dispatch does (binary CloudEvents, key = case_id); returns how many."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    sent = 0
    try:
        for event in events:
            case_id = getattr(event, "case_id")  # noqa: B009 - every case event has one
            record = encode(event, event_id=getattr(event, "event_id"), source="/dispatch",  # noqa: B009
                            key=case_id, subject=case_id)
            producer.send(topic, key=record.key, value=record.value, headers=record.headers)
            sent += 1
        producer.flush(30)
    finally:
        producer.close()
    return sent


# -- leaks ----------------------------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{64})$")
_RIC_CANDIDATE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def leaks(answer: Any) -> list[str]:
    """Unmasked personal data in an answer: a valid resident id (stdnum), a valid phone number (phonenumbers), or any
    planted value. Generated identifiers (UUIDs, hashes) are skipped: they are hex, not personal data."""
    found = []
    for text in strings_in(answer):
        if _IDENTIFIER.match(text):
            continue
        compact = re.sub(r"[\s\-·]", "", text)
        found += [f"resident id {m.group()} in {text!r}" for m in _RIC_CANDIDATE.finditer(compact)
                  if ric.is_valid(m.group())]
        found += [f"phone {m.raw_string} in {text!r}" for m in phonenumbers.PhoneNumberMatcher(text, "CN")]
        found += [f"planted {value!r} in {text!r}" for value in SEEDED if value in text or value in compact]
    return found


def aware_utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"naive time {value}"
    return parsed.astimezone(UTC)
