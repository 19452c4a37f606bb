"""No input makes a served service fail (issue 16): date-times at the edges of what ISO 8601 can write, cursors
beyond 64 bits and an SSE ``Last-Event-ID`` beyond range are refused with a 4xx naming the field; schemathesis runs
over both OpenAPI documents (patrol; info-share with the lifecycle API) against the services served over TCP on the
real broker, and finds no 5xx.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from services.patrol.adapters.auth import issue_token as issue_patrol_token
from tests.info_share_served import InfoShareServer
from tests.patrol_fixtures import HOTLINE_KEY, TOWNSHIP, submission
from tests.patrol_served import PatrolServer

pytestmark = pytest.mark.integration

LATEST_WRITABLE = "9999-12-31T23:59:59-23:59"  # UTC would be in year 10000
EARLIEST_WRITABLE = "0001-01-01T00:00:00+23:59"  # UTC would be in year 0
BEYOND_64_BITS = "9223372036854775808"
EXAMPLES = 12  # per operation and generation mode: the whole run stays well under two minutes on 2 CPUs
BUDGET_SECONDS = 110.0


def q(value: str) -> str:
    return quote(value, safe="")


def server_errors(base_or_client: str | httpx.Client) -> float:
    """5xx answers counted so far by the served process. The registry is the process's own, shared with every test
    served in-process before this one (some answer 503 on purpose, with the broker stopped), so tests compare counts
    taken before and after, never the count itself with zero."""
    if isinstance(base_or_client, httpx.Client):
        metrics = base_or_client.get("/metrics").text
    else:
        metrics = httpx.get(f"{base_or_client}/metrics").text
    return sum(float(m.group(1)) for m in re.finditer(
        r'^liandong_http_request_duration_seconds_count\{[^}]*status_class="5xx"[^}]*\} (\S+)$', metrics,
        re.MULTILINE))


def test_patrol_refuses_edge_times_naming_the_field(patrol_server: Callable[..., PatrolServer]) -> None:
    server = patrol_server()
    client = server.client("127.0.0.5")
    officer = {"Authorization": f"Bearer {server.harness.token()}"}
    errors_before = server_errors(client)
    for edge in (LATEST_WRITABLE, EARLIEST_WRITABLE):
        single = submission(f"edge-{edge[:4]}", seed=3) | {"observed_at": edge}
        answer = client.post("/v1/findings", json=single, headers=officer)
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["field_errors"]] == ["observed_at"]

        # Inside a batch the edge item is refused and the others go on.
        good = submission(f"edge-good-{edge[:4]}", seed=4)
        batch = client.post("/v1/findings/batch", json={"items": [single, good]}, headers=officer)
        assert batch.status_code == 200, batch.text
        assert [r["status"] for r in batch.json()["results"]] == [422, 202]
        assert batch.json()["results"][0]["error"]["field_errors"][0]["field"] == "items[0].observed_at"

        for query in (f"start_date={q(edge)}", f"end_date={q(edge)}",
                      f"start_date=2026-01-01T00:00:00Z&end_date={q(edge)}"):
            listed = client.get(f"/open311/v2/requests.json?{query}")
            assert listed.status_code == 400, (query, listed.text)
            named = query.rsplit("=", 1)[0].rsplit("&", 1)[-1]
            assert listed.json()[0]["description"].startswith(f"{named}:"), listed.text

        form = {"api_key": HOTLINE_KEY, "jurisdiction_id": TOWNSHIP, "service_code": single["category_code"],
                "lat": str(single["location"]["latitude"]), "long": str(single["location"]["longitude"]),
                "attribute[observed_datetime]": edge, "attribute[client_report_id]": f"o311-{edge[:4]}"}
        posted = client.post("/open311/v2/requests.json", data=form)
        assert posted.status_code == 400, posted.text
        assert posted.json()[0]["description"].startswith("attribute[observed_datetime]:"), posted.text
    assert server_errors(client) == errors_before


def test_info_share_refuses_edge_times_cursors_and_event_ids(
        info_share_server: Callable[..., InfoShareServer]) -> None:
    server = info_share_server()
    client = server.client("127.0.0.6")
    supervisor = {"Authorization": f"Bearer {server.token('supervisor', None)}"}
    errors_before = server_errors(client)
    refused: list[tuple[str, str]] = [
        (f"/v1/feed?after={BEYOND_64_BITS}", "after"), (f"/v1/cases?after={BEYOND_64_BITS}", "after"),
        (f"/v1/feed/stream?after={BEYOND_64_BITS}", "after"),
    ]
    for edge in (LATEST_WRITABLE, EARLIEST_WRITABLE):
        for route in ("/v1/feed", "/v1/cases", "/v1/stats/evaluation", "/v1/feed/stream"):
            refused += [(f"{route}?since={q(edge)}", "since"), (f"{route}?until={q(edge)}", "until")]
    for path, field in refused:
        answer = client.get(path, headers=supervisor)
        assert answer.status_code == 422, (path, answer.text)
        assert [e["loc"] for e in answer.json()["detail"]] == [["query", field]], (path, answer.text)

    stream = client.get("/v1/feed/stream", headers={**supervisor, "Last-Event-ID": BEYOND_64_BITS})
    assert stream.status_code == 400 and "Last-Event-ID" in stream.json()["detail"], stream.text

    # The largest cursor is still a cursor: nothing after it.
    assert client.get("/v1/feed?after=9223372036854775807", headers=supervisor).json() == []
    cases = client.get("/v1/cases?after=9223372036854775807", headers=supervisor).json()
    assert cases == {"cases": [], "next_cursor": 9223372036854775807}
    assert server_errors(client) == errors_before


def fuzz(base: str, headers: dict[str, str], tally: Counter[str], failures: list[str],
         prepare: Callable[[Any], None] = lambda case: None) -> None:
    """Every operation of the document ``base`` serves, positive and negative examples, over real HTTP."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    schema.config.base_url = base

    def exercise(case: Any) -> None:
        prepare(case)
        if case.path == "/v1/feed/stream":
            return  # an open stream never ends; its parameters are the feed's, bounded by the test above
        response = case.call(base_url=base, headers=headers, timeout=30)
        tally[f"{case.method} {case.path} {response.status_code // 100}xx"] += 1
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {case.method} {case.formatted_path} "
                            f"{case.query} {str(case.body)[:300]}: {response.text[:300]}")

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in schemathesis.GenerationMode:
            configured = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            with contextlib.suppress(Unsatisfiable):  # nothing to negate: no negative cases
                configured(given(case=operation.as_strategy(generation_mode=mode))(exercise))()


def test_schemathesis_finds_no_server_error_in_either_document(
        patrol_server: Callable[..., PatrolServer], info_share_server: Callable[..., InfoShareServer],
        kafka_bootstrap: str, topic_prefix: str) -> None:
    unlimited = {"rate_limit_burst": 1_000_000, "rate_limit_per_minute": 60_000_000.0,
                 "auth_failure_burst": 1_000_000, "auth_failures_per_minute": 60_000_000.0}
    patrol = patrol_server(**unlimited)
    # On the real broker: lifecycle actions are published (no dispatch answers them here, so none is waited for).
    info_share = info_share_server(auth_failure_burst=1_000_000, auth_failures_per_minute=60_000_000.0,
                                   read_burst=1_000_000, reads_per_minute=60_000_000.0,
                                   bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix,
                                   action_wait_seconds=0.0)
    tally: Counter[str] = Counter()
    failures: list[str] = []
    errors_before = {base: server_errors(base) for base in (patrol.base, info_share.base)}
    started = time.monotonic()

    def with_key(case: Any) -> None:
        if case.method == "POST" and case.path.startswith("/open311/") and isinstance(case.body, dict):
            case.body["api_key"] = HOTLINE_KEY  # get past authentication to the form checks

    officer = issue_patrol_token(patrol.harness.settings, "officer-fuzz", [TOWNSHIP])
    fuzz(patrol.base, {"Authorization": f"Bearer {officer}"}, tally, failures, with_key)
    team = info_share.token()  # a county team: a party to the register's one case, so actions get past 403
    fuzz(info_share.base, {"Authorization": f"Bearer {team}"}, tally, failures)
    elapsed = time.monotonic() - started

    by_class = Counter(key.rsplit(" ", 1)[1] for key in tally.elements())
    print(f"\nschemathesis over patrol and info-share: {sum(tally.values())} requests in {elapsed:.0f} s, "
          f"{dict(sorted(by_class.items()))}, {len(failures)} server errors")
    assert not failures, "\n".join(failures[:20])
    operations = {key.rsplit(" ", 1)[0] for key in tally}
    assert {"GET /v1/feed", "GET /v1/cases", "GET /v1/stats/evaluation", "GET /open311/v2/requests.{fmt}",
            "POST /v1/findings/batch"} <= operations
    assert any(op.startswith("POST /v1/referrals/") for op in operations)  # the lifecycle API is in the document
    assert by_class["2xx"] > 0 and by_class["4xx"] > 0
    for base, before in errors_before.items():
        assert server_errors(base) == before, base
    assert elapsed < BUDGET_SECONDS


def test_forwarding_headers_are_believed_only_from_configured_proxies(
        patrol_server: Callable[..., PatrolServer]) -> None:
    forged = {"Authorization": "Bearer not-a-token", "X-Forwarded-For": "203.0.113.7"}
    default = patrol_server()
    # uvicorn's own default believes 127.0.0.1; not configured here, the address the guard and the audit log know
    # is the peer's, whatever the header names.
    answer = default.client("127.0.0.1").get("/v1/findings/x", headers=forged)
    assert answer.status_code == 401
    assert [e.who.client_address for e in default.audited(answer)] == ["127.0.0.1"]

    behind_proxy = patrol_server(trusted_proxies="127.0.0.8")
    through_proxy = behind_proxy.client("127.0.0.8").get("/v1/findings/x", headers=forged)
    assert [e.who.client_address for e in behind_proxy.audited(through_proxy)] == ["203.0.113.7"]
    around_proxy = behind_proxy.client("127.0.0.9").get("/v1/findings/x", headers=forged)
    assert [e.who.client_address for e in behind_proxy.audited(around_proxy)] == ["127.0.0.9"]


def test_oversized_request_headers_are_refused_and_counted(
        patrol_server: Callable[..., PatrolServer], info_share_server: Callable[..., InfoShareServer]) -> None:
    for base, limit in ((patrol_server().base, 16_384), (info_share_server().base, 16_384)):
        with httpx.Client(base_url=base, timeout=30) as client:
            refused = client.get("/healthz", headers={"X-Padding": "a" * limit})
            assert refused.status_code == 431, refused.text
            assert client.get("/healthz", headers={"X-Padding": "a" * (limit // 2)}).status_code == 200
            metrics = client.get("/metrics").text
        assert re.search(r'^liandong_http_request_duration_seconds_count\{[^}]*status_class="4xx"[^}]*\} [1-9]',
                         metrics, re.MULTILINE), "the 431 is counted"
