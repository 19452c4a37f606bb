"""Patrol test helpers: in-process app on the real broker, valid submissions, a case view filled by real dispatch."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from deploy.local_stack import Stack
from schemas.events import CASE_EVENT_MODELS, FindingReported, ReferralAction, ReferralOutcome, ReferralResponded
from services.common.audit import MemoryAuditLog
from services.common.envelope import decode
from services.common.topics import FINDINGS
from services.patrol.adapters.auth import issue_token
from services.patrol.adapters.case_views.store import CaseViewStore, make_engine, migrate
from services.patrol.settings import PatrolSettings
from services.patrol.wiring import create_app
from services.reference.geography import random_point_in_county
from services.reference.loader import load_reference_data
from tests.databases import fresh_postgres_database
from tests.serving import JWT_SECRET
from tests.topic_reader import read_records

if TYPE_CHECKING:
    from services.dispatch.service import Dispatcher

HOTLINE_KEY = "hotline-key-0123456789abcdef"
VIDEO_KEY = "video-key-0123456789abcdef01"
TOWNSHIP = "210603008"  # 花园街道, 振兴区 (210603)
OTHER_TOWNSHIP = "210603009"
CATEGORY = "illegal_construction"


def point_in(county_code: str, seed: int = 1) -> tuple[float, float]:
    return random_point_in_county(county_code, random.Random(seed))


def submission(client_report_id: str, *, township: str = TOWNSHIP, category: str = CATEGORY, seed: int = 1,
               observed_at: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid JSON submission (a point inside the township's county, seen an hour ago)."""
    county = load_reference_data().townships[township].county_code
    latitude, longitude = point_in(county, seed)
    body: dict[str, Any] = {
        "client_report_id": client_report_id, "township_code": township, "category_code": category,
        "location": {"latitude": latitude, "longitude": longitude, "datum": "WGS-84"},
        "observed_at": (observed_at or datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "description": "巡查發現疑似違法建設", "source": "patrol",
    }
    body.update(overrides)
    return body


def _dispatcher() -> Dispatcher:
    from services.dispatch.service import Dispatcher  # dispatch's: imported only where a case view is filled

    return Dispatcher(load_reference_data(), defaultdict(dict))


@dataclass
class CaseViews:
    """Patrol's case view as its worker keeps it, filled by the real dispatch logic and patrol's own projection."""

    url: str

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url)
        migrate(self.engine)
        self.store = CaseViewStore(self.engine)
        self._dispatcher: Dispatcher | None = None

    @property
    def dispatcher(self) -> Dispatcher:
        """Made on first use: an empty case view needs no dispatch."""
        if self._dispatcher is None:
            self._dispatcher = _dispatcher()
        return self._dispatcher

    def _apply(self, outgoing: list[Any]) -> list[Any]:
        for out in outgoing:
            if isinstance(out.model, CASE_EVENT_MODELS):
                self.store.apply(out.model)
        return [out.model for out in outgoing]

    def register_topic(self, bootstrap_servers: str, topic_prefix: str) -> list[Any]:
        """Run every finding on the topic through dispatch into patrol's case view; returns the case events."""
        events = []
        for key, value, headers in read_records(bootstrap_servers, FINDINGS.name(topic_prefix)):
            _envelope, finding = decode(headers, value, [FindingReported])
            assert isinstance(finding, FindingReported)
            events += self._apply(self.dispatcher.on_finding(finding, (key or b"").decode()))
        return events

    def close_case(self, case_id: str, referral_id: str, body_id: str, township_code: str) -> None:
        """Walk a referral to its end: accepted, handled, result fed back, verified and closed by the township."""
        at = datetime.now(UTC)
        steps = [(ReferralAction.ACCEPT, body_id, None), (ReferralAction.START_HANDLING, body_id, None),
                 (ReferralAction.FEED_BACK, body_id, ReferralOutcome.RECTIFIED),
                 (ReferralAction.VERIFY, f"township:{township_code}", None),
                 (ReferralAction.CLOSE, f"township:{township_code}", None)]
        for index, (action, actor, outcome) in enumerate(steps):
            response = ReferralResponded(response_id=f"{referral_id}-{index}", referral_id=referral_id,
                                         case_id=case_id, body_id=actor, action=action, outcome=outcome,
                                         responded_at=at + timedelta(seconds=index))
            self._apply(self.dispatcher.on_response(response))


@dataclass
class PatrolHarness:
    """The patrol app in-process (TestClient), on the real broker, with its own stores and audit log."""

    client: TestClient
    settings: PatrolSettings
    audit: MemoryAuditLog
    case_view_url: str
    bootstrap_servers: str
    topic_prefix: str

    def token(self, townships: list[str] | None = None, subject: str = "officer-1", role: str = "patrol_officer",
              lifetime_seconds: int = 3600) -> str:
        return issue_token(self.settings, subject, townships if townships is not None else [TOWNSHIP], role=role,
                           lifetime_seconds=lifetime_seconds)

    def headers(self, **token_options: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**token_options)}"}

    def findings_on_topic(self) -> list[FindingReported]:
        found = []
        for _key, value, headers in read_records(self.bootstrap_servers, FINDINGS.name(self.topic_prefix)):
            _envelope, finding = decode(headers, value, [FindingReported])
            assert isinstance(finding, FindingReported)
            found.append(finding)
        return found

    def case_views(self) -> CaseViews:
        return CaseViews(self.case_view_url)


def patrol_settings(bootstrap_servers: str, topic_prefix: str, directory: Path, **overrides: Any) -> PatrolSettings:
    """Settings for a patrol app of one test: its topics, its own store and case-view files, two API keys."""
    unique = uuid.uuid4().hex[:6]
    options: dict[str, Any] = {
        "jwt_secret": JWT_SECRET, "bootstrap_servers": bootstrap_servers, "topic_prefix": topic_prefix,
        "patrol_store_url": f"sqlite:///{directory / f'patrol-{unique}.db'}",
        "case_view_url": f"sqlite:///{directory / 'patrol-cases.db'}",
        "api_keys": f"{HOTLINE_KEY}=hotline-12345:*;{VIDEO_KEY}=video-platform:{TOWNSHIP}",
        "publish_timeout_seconds": 5.0,
    }
    options.update(overrides)
    return PatrolSettings(**options)


@pytest.fixture
def make_patrol(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[Any]:
    """Factory of in-process patrol apps on this test's topics; ``make_patrol(rate_limit_burst=2, ...)``."""
    harnesses: list[PatrolHarness] = []

    def build(**overrides: Any) -> PatrolHarness:
        settings = patrol_settings(kafka_bootstrap, topic_prefix, tmp_path, **overrides)
        audit = MemoryAuditLog()
        client = TestClient(create_app(settings, audit=audit))
        client.__enter__()  # runs the lifespan: the producer is closed on exit
        harness = PatrolHarness(client, settings, audit, settings.case_view_url, kafka_bootstrap, topic_prefix)
        harnesses.append(harness)
        return harness

    yield build
    for harness in harnesses:
        harness.client.__exit__(None, None, None)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    yield from fresh_postgres_database(request.getfixturevalue("postgres_url"), "patrol")


# -- patrol in a stack of real processes -------------------------------------------------------------------------------

def patrol_env(run_dir: Path, **more: str) -> dict[str, str]:
    """A stack's patrol environment: its own idempotency store and audit log under ``run_dir``, the hotline's key."""
    return {"LIANDONG_PATROL_STORE_URL": f"sqlite:///{run_dir / 'patrol-store.db'}",
            "LIANDONG_AUDIT_LOG_PATH": str(run_dir / "patrol-audit.jsonl"),
            "LIANDONG_API_KEYS": f"{HOTLINE_KEY}=hotline-12345:*", **more}


def officer_headers(stack: Stack) -> dict[str, str]:
    """officer-1 of TOWNSHIP's Authorization header for the patrol service of ``stack``."""
    settings = PatrolSettings(jwt_secret=stack.jwt_secret)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {issue_token(settings, 'officer-1', [TOWNSHIP])}"}


def finding_ids_on_topic(stack: Stack) -> list[str]:
    """The finding ids published on the stack's findings topic, in order."""
    records = read_records(stack.bootstrap_servers, f"{stack.topic_prefix}.findings")
    return [dict(headers)["ce_id"].decode() for _key, _value, headers in records]
