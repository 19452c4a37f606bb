"""Every 5xx a client gets is counted in ``liandong_http_request_duration_seconds`` — also an exception the
application did not handle, which Starlette answers with 500 outside every user middleware (issue 13)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.info_share.settings import InfoShareApiSettings
from services.info_share.wiring import create_app as create_info_share_app
from tests.patrol_fixtures import JWT_SECRET, PatrolHarness

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.patrol_fixtures"]


def count(exposition: str, service: str, route: str, status_class: str) -> float:
    pattern = (r'^liandong_http_request_duration_seconds_count\{(?=[^}]*route="' + re.escape(route) + r'")'
               r'(?=[^}]*service="' + service + r'")(?=[^}]*status_class="' + status_class + r'")[^}]*\} (\S+)$')
    found = re.search(pattern, exposition, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_info_share_counts_the_500_of_an_unmigrated_register(tmp_path: Path) -> None:
    # A real failure: the register's file exists but its schema was never migrated, so the query raises.
    (tmp_path / "register.db").touch()
    settings = InfoShareApiSettings(jwt_secret=SecretStr(JWT_SECRET),  # type: ignore[call-arg]
                                    database_url=f"sqlite:///{tmp_path / 'register.db'}")
    with TestClient(create_info_share_app(settings), raise_server_exceptions=False) as client:
        before = count(client.get("/metrics").text, "info-share", "/v1/stats/summary", "5xx")
        assert client.get("/v1/stats/summary").status_code == 500
        after = client.get("/metrics").text
    assert count(after, "info-share", "/v1/stats/summary", "5xx") == before + 1
    assert count(after, "info-share", "/metrics", "2xx") >= 1  # and the ordinary answers as before


def test_patrol_counts_an_unhandled_exception_as_5xx(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    app: Any = patrol.client.app

    async def broken() -> None:  # stands in for a bug: nothing in patrol handles this error
        raise RuntimeError("unexpected")

    app.add_api_route("/v1/broken", broken, methods=["GET"])
    before = count(patrol.client.get("/metrics").text, "patrol", "/v1/broken", "5xx")
    with pytest.raises(RuntimeError):  # the test client re-raises what Starlette answered with 500
        patrol.client.get("/v1/broken")
    assert count(patrol.client.get("/metrics").text, "patrol", "/v1/broken", "5xx") == before + 1
