"""A credential sent is checked on every route, public ones included (issue 16): an invalid one is 401 with
``WWW-Authenticate`` (RFC 6750), never silently ignored; an officer's token may not claim every township."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt
import pytest

from services.common.polling import poll_until
from services.patrol.adapters.auth import issue_token as issue_patrol_token
from tests.info_share_served import InfoShareServer
from tests.patrol_fixtures import JWT_SECRET, TOWNSHIP, submission
from tests.patrol_served import PatrolServer

pytestmark = pytest.mark.integration


def test_public_routes_refuse_an_invalid_token(patrol_server: Callable[..., PatrolServer],
                                               info_share_server: Callable[..., InfoShareServer]) -> None:
    patrol, info_share = patrol_server(), info_share_server()
    expired = issue_patrol_token(patrol.harness.settings, "officer-1", [TOWNSHIP], lifetime_seconds=-60)
    for base, path in ((patrol.base, "/open311/v2/discovery.json"), (patrol.base, "/open311/v2/services.json"),
                       (patrol.base, "/open311/v2/requests.json"), (info_share.base, "/v1/stats/summary"),
                       (info_share.base, "/v1/feed")):
        client = patrol.client("127.0.0.11") if base == patrol.base else info_share.client("127.0.0.11")
        assert client.get(path).status_code == 200, path  # no credential: the public
        for token in ("forged.token.value", expired):
            refused = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401, (path, refused.status_code, refused.text)
            assert refused.headers["WWW-Authenticate"].startswith("Bearer"), path


def test_an_officer_token_claiming_every_township_or_with_a_string_expiry_is_refused(
        patrol_server: Callable[..., PatrolServer]) -> None:
    patrol = patrol_server()
    settings = patrol.harness.settings
    client = patrol.client("127.0.0.12")
    base = {"sub": "officer-9", "role": "patrol_officer", "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
            "iat": int(time.time())}
    for claims in ({"townships": ["*"], "exp": int(time.time()) + 600},
                   {"townships": [TOWNSHIP], "exp": str(int(time.time()) + 600)}):
        token = jwt.encode({**base, **claims}, JWT_SECRET, algorithm="HS256")
        answer = client.post("/v1/findings", json=submission(f"star-{len(claims)}-{claims['exp']}"),
                             headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, answer.text
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    genuine = client.post("/v1/findings", json=submission("genuine-1"),
                          headers={"Authorization": f"Bearer {patrol.harness.token()}"})
    assert genuine.status_code == 202, genuine.text


def test_a_refused_value_is_not_echoed_back(info_share_server: Callable[..., InfoShareServer]) -> None:
    server = info_share_server()
    answer = server.client("127.0.0.13").get("/v1/cases?township=13812345678&county=210603199001011230")
    assert answer.status_code == 422
    assert {tuple(e["loc"]) for e in answer.json()["detail"]} == {("query", "township"), ("query", "county")}
    assert "13812345678" not in answer.text and "210603199001011230" not in answer.text


def test_reads_are_limited_per_caller(info_share_server: Callable[..., InfoShareServer]) -> None:
    server = info_share_server(read_burst=5, reads_per_minute=6.0)
    greedy, other = server.client("127.0.0.14"), server.client("127.0.0.15")
    assert [greedy.get("/v1/stats/summary").status_code for _ in range(5)] == [200] * 5
    refused = greedy.get("/v1/feed")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1, refused.text
    assert other.get("/v1/feed").status_code == 200  # its own budget
    # An authenticated caller's budget is its token's, wherever it connects from.
    token = {"Authorization": f"Bearer {server.token('supervisor', None)}"}
    assert [greedy.get("/v1/cases", headers=token).status_code for _ in range(5)] == [200] * 5
    assert other.get("/v1/cases", headers=token).status_code == 429
    assert [e["reason"] for e in server.audited(refused)] == ["rate_limited"]


def test_live_streams_are_capped_per_caller_so_queries_go_on(
        info_share_server: Callable[..., InfoShareServer]) -> None:
    server = info_share_server(streams_per_caller=2)
    token = {"Authorization": f"Bearer {server.token('supervisor', None)}"}
    client = server.client("127.0.0.16")
    with client.stream("GET", "/v1/feed/stream", headers=token) as first, \
            client.stream("GET", "/v1/feed/stream", headers=token) as second:
        assert first.status_code == second.status_code == 200
        # Both are being served: each has sent its own opening comment. The line iterators are kept: one dropped
        # and collected would close its stream.
        lines = [stream.iter_lines() for stream in (first, second)]
        for each in lines:
            assert any("liandong feed after" in line for line in each)
        third = client.get("/v1/feed/stream", headers=token, timeout=10)  # a stream accepted would never end
        assert third.status_code == 429 and "live streams" in third.json()["detail"], third.text
        assert client.get("/v1/cases", headers=token).status_code == 200  # queries are still answered
        anonymous = client.get("/v1/stats/summary")
        assert anonymous.status_code == 200
    # Closed streams give their places back.
    poll_until(lambda: _stream_opens(client, token), 10, 0.1, "a stream accepted again")


def _stream_opens(client: httpx.Client, headers: dict[str, str]) -> bool:
    with client.stream("GET", "/v1/feed/stream", headers=headers) as answer:
        return answer.status_code == 200
