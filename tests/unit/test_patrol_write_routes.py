"""The JSON write routes count a caller exactly once: a valid request is filed and charged one request, an
invalid body is refused before anything is charged, a refused credential counts once against its address.

The app is the real one (``create_app``) with the broker and the store replaced by the fakes of ``tests.patrol_fakes``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from services.common.audit import MemoryAuditLog
from services.patrol.adapters.auth import issue_token
from services.patrol.settings import PatrolSettings
from services.patrol.wiring import create_app
from tests.patrol_fakes import FakePublisher, FakeStore
from tests.patrol_fixtures import JWT_SECRET, TOWNSHIP, submission


class NoRegister:
    def report(self, finding_id: str) -> None:
        return None

    def search(self, query: Any) -> list[Any]:
        return []


class ClosingFakePublisher(FakePublisher):
    known_scope = "topic-incarnation-1"

    async def close(self) -> None:
        return None


@pytest.fixture
def patrol(tmp_path: Path) -> Iterator[tuple[TestClient, MemoryAuditLog, PatrolSettings]]:
    settings = PatrolSettings(jwt_secret=JWT_SECRET, rate_limit_burst=3, rate_limit_per_minute=0.001,  # type: ignore[arg-type]
                              auth_failure_burst=2, auth_failures_per_minute=0.001,
                              database_url=f"sqlite:///{tmp_path / 'register.db'}")
    audit = MemoryAuditLog()
    app = create_app(settings, publisher=ClosingFakePublisher(), store=FakeStore(), lookup=NoRegister(),  # type: ignore[arg-type]
                     audit=audit)
    with TestClient(app) as client:
        yield client, audit, settings


def bearer(settings: PatrolSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, 'officer-1', [TOWNSHIP])}"}


def test_valid_requests_are_filed_and_charged_once_each(patrol: tuple[TestClient, MemoryAuditLog, PatrolSettings]
                                                         ) -> None:
    client, audit, settings = patrol
    answers = [client.post("/v1/findings", json=submission(f"one-{i}"), headers=bearer(settings)) for i in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert all(a.headers["x-request-id"] for a in answers)
    over = client.post("/v1/findings", json=submission("one-3"), headers=bearer(settings))
    assert over.status_code == 429 and over.json()["error"] == "rate_limited" and over.headers["Retry-After"]
    assert [e.outcome for e in audit.entries] == ["accepted"] * 3 + ["rate_limited"]
    served = REGISTRY.get_sample_value("liandong_http_request_duration_seconds_count",
                                       {"service": "patrol", "route": "/v1/findings", "status_class": "2xx"})
    assert served is not None and served >= 3  # named by the route, as the framework names it


def test_an_invalid_body_is_the_routes_answer_and_is_charged_once(
        patrol: tuple[TestClient, MemoryAuditLog, PatrolSettings]) -> None:
    client, audit, settings = patrol
    bad = client.post("/v1/findings", json={**submission("bad-1"), "township_code": "1"}, headers=bearer(settings))
    assert bad.status_code == 422 and bad.json()["field_errors"][0]["field"] == "township_code"
    broken = client.post("/v1/findings", content=b'{"client_report_id": ', headers={
        **bearer(settings), "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"] == "malformed_json"
    # The route parses JSON before it authenticates: a body that is not JSON costs the caller nothing, as before.
    assert [client.post("/v1/findings", json=submission(f"ok-{i}"), headers=bearer(settings)).status_code
            for i in range(3)] == [202, 202, 429]
    assert [e.outcome for e in audit.entries] == ["rejected", "rejected", "accepted", "accepted", "rate_limited"]


def test_refused_credentials_count_once_against_the_address(
        patrol: tuple[TestClient, MemoryAuditLog, PatrolSettings]) -> None:
    client, audit, settings = patrol
    forged = {"Authorization": "Bearer not.a.token"}
    assert [client.post("/v1/findings", json=submission("f"), headers=forged).status_code
            for _ in range(2)] == [401, 401]
    # The address has used its two failures: even a valid token from it waits, and nothing was charged to the caller.
    locked = client.post("/v1/findings", json=submission("after"), headers=bearer(settings))
    assert locked.status_code == 429
    assert client.post("/v1/findings", json=submission("x")).status_code == 401  # no credential: not affected
    assert [e.outcome for e in audit.entries] == ["unauthenticated", "unauthenticated", "rate_limited",
                                                  "unauthenticated"]


def test_batches_answer_per_item(patrol: tuple[TestClient, MemoryAuditLog, PatrolSettings]) -> None:
    client, audit, settings = patrol
    items = [submission("b-1"), submission("b-2"), {**submission("b-3"), "category_code": "no_such_category"},
             submission("b-1")]
    answer = client.post("/v1/findings/batch", json={"items": items}, headers=bearer(settings))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["accepted"], body["rejected"], body["failed"]) == (2, 2, 0)
    assert [r["status"] for r in body["results"]] == [202, 202, 422, 422]
    assert [r["outcome"] for r in body["results"]] == ["accepted", "accepted", "rejected", "rejected"]
    assert [e.outcome for e in audit.entries] == ["accepted", "accepted", "rejected", "rejected"]
    empty = client.post("/v1/findings/batch", json={"items": []}, headers=bearer(settings))
    assert empty.status_code == 422  # the route's own validation answer
