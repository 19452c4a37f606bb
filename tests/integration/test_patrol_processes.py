"""Patrol as a real process: restarts, a broker outage (503, then recovery), an Open311 request to its case."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.kafka.local_kafka import LocalKafka, free_port
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.patrol.domain.intake import finding_id_for
from tests.patrol_fixtures import (
    CATEGORY,
    HOTLINE_KEY,
    TOWNSHIP,
    finding_ids_on_topic,
    officer_headers,
    patrol_env,
    point_in,
    submission,
)
from tests.stack_fixtures import StackFactory

pytestmark = pytest.mark.integration


def test_same_key_same_finding_id_across_restarts(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = make_stack(extra_env=patrol_env(tmp_path))
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    stack.start_patrol()
    url = f"http://127.0.0.1:{stack.patrol_port}/v1/findings"
    body = submission("restart-1")
    first = httpx.post(url, json=body, headers=officer_headers(stack), timeout=30)
    assert first.status_code == 202, first.text

    stack.processes["patrol"].stop()
    stack.start_patrol()
    again = httpx.post(url, json=body, headers=officer_headers(stack), timeout=30)
    assert again.status_code == 202 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    conflict = httpx.post(url, json={**body, "description": "重啟後改寫"}, headers=officer_headers(stack), timeout=30)
    assert conflict.status_code == 409
    assert finding_ids_on_topic(stack) == [first.json()["finding_id"]]

    # Even with its idempotency records lost, patrol names the finding the same: dispatch drops the repeat by id.
    stack.processes["patrol"].stop()
    (tmp_path / "patrol-store.db").unlink()
    stack.start_patrol()
    lost = httpx.post(url, json=body, headers=officer_headers(stack), timeout=30)
    assert lost.status_code == 202 and lost.json()["finding_id"] == first.json()["finding_id"]
    assert set(finding_ids_on_topic(stack)) == {first.json()["finding_id"]}

    audit = [json.loads(line)["audit"] for line in (tmp_path / "patrol-audit.jsonl").read_text().splitlines()]
    assert [a["outcome"] for a in audit] == ["accepted", "replayed", "conflict", "accepted"]
    assert all(a["who"]["subject"] == "officer-1" and a["at"] for a in audit)
    assert "Bearer" not in json.dumps(audit) and "eyJ" not in json.dumps(audit)


def test_broker_down_gives_503_with_retry_after_then_recovers(make_stack: StackFactory, tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    broker.start()
    try:
        stack = make_stack(bootstrap_servers=broker.bootstrap_servers,
                           extra_env=patrol_env(tmp_path, LIANDONG_PUBLISH_TIMEOUT_SECONDS="3"))
        ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
        stack.start_patrol()
        base = f"http://127.0.0.1:{stack.patrol_port}"
        before = httpx.post(f"{base}/v1/findings", json=submission("up-1"), headers=officer_headers(stack), timeout=30)
        assert before.status_code == 202, before.text

        broker.stop()
        body = submission("down-1")
        started = time.monotonic()
        down = httpx.post(f"{base}/v1/findings", json=body, headers=officer_headers(stack), timeout=30)
        assert down.status_code == 503 and down.json()["error"] == "broker_unavailable", down.text
        assert int(down.headers["Retry-After"]) > 0 and time.monotonic() - started < 15
        batch = httpx.post(f"{base}/v1/findings/batch", json={"items": [submission("down-2")]},
                           headers=officer_headers(stack), timeout=30)
        assert batch.status_code == 200 and batch.json()["results"][0]["status"] == 503
        assert batch.json()["failed"] == 1 and batch.headers["Retry-After"]
        latitude, longitude = point_in("210603", 3)
        open311 = httpx.post(f"{base}/open311/v2/requests.json", timeout=30, data={
            "api_key": HOTLINE_KEY, "jurisdiction_id": TOWNSHIP, "service_code": CATEGORY, "lat": latitude,
            "long": longitude, "description": "停機期間的來電"})
        assert open311.status_code == 503 and open311.json()[0]["code"] == 503 and open311.headers["Retry-After"]
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        assert 'liandong_patrol_publish_failures_total{api="json"} 2.0' in metrics

        broker.start()

        def accepted() -> httpx.Response | None:
            answer = httpx.post(f"{base}/v1/findings", json=body, headers=officer_headers(stack), timeout=30)
            return answer if answer.status_code == 202 else None

        recovered = poll_until(accepted, 90, 1.0, "a 202 once the broker is back")
        assert recovered.json()["finding_id"] == finding_id_for("officer-1", "down-1")  # the id it always had
        ids = set(finding_ids_on_topic(stack))
        assert recovered.json()["finding_id"] in ids and before.json()["finding_id"] in ids
    finally:
        broker.stop()


def test_open311_request_followed_to_its_case_through_the_stack(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = make_stack(extra_env=patrol_env(tmp_path))
    stack.start_all()
    base = f"http://127.0.0.1:{stack.patrol_port}/open311/v2"
    latitude, longitude = point_in("210603", 17)
    posted = httpx.post(f"{base}/requests.xml", timeout=30, data={
        "api_key": HOTLINE_KEY, "jurisdiction_id": TOWNSHIP, "service_code": CATEGORY, "lat": latitude,
        "long": longitude, "description": "來電反映：小區內違法搭建", "attribute[source]": "hotline_12345"})
    assert posted.status_code == 200, posted.text
    request_id = ET.fromstring(posted.content).findtext("request/service_request_id")

    def registered() -> dict[str, Any] | None:
        answer = httpx.get(f"{base}/requests/{request_id}.json", timeout=10,
                           params={"extensions": "true", "api_key": HOTLINE_KEY})
        view = answer.json()[0] if answer.status_code == 200 else None
        # CaseOpened and ReferralIssued are registered one after the other: wait for the referral's deadline too.
        return view if view and view["extended_attributes"]["case_id"] and view["expected_datetime"] else None

    view = poll_until(registered, 90, 0.5, "the request registered as a case and referred")
    assert view["status"] == "open" and view["agency_responsible"] and view["expected_datetime"]
    assert view["extended_attributes"]["routing"]["rule"] and view["description"] == "來電反映：小區內違法搭建"
    listed = httpx.get(f"{base}/requests.xml", params={"service_code": CATEGORY}, timeout=10)
    assert request_id in [r.findtext("service_request_id") for r in ET.fromstring(listed.content)]
    status = httpx.get(f"http://127.0.0.1:{stack.patrol_port}/v1/findings/{request_id}", timeout=10,
                       headers={"X-API-Key": HOTLINE_KEY}).json()
    assert status["state"] == "registered" and status["case"]["case_id"] == view["extended_attributes"]["case_id"]
