"""The info-share API served for real (tests/serving.py) over a register holding one referred case: the fixture
``info_share_server`` (a fixture plugin of tests/conftest.py). Imports info-share and no other service."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.info_share.adapters.register.database import make_engine, migrate, session_factory
from services.info_share.auth import issue_token as issue_info_share_token
from services.info_share.service import Register as InfoShareRegister
from services.info_share.settings import InfoShareApiSettings
from services.info_share.wiring import create_app as create_info_share_app
from services.reference.loader import load_reference_data
from tests.info_share_fixtures import Story
from tests.serving import JWT_SECRET, client_from, serving


@dataclass
class InfoShareServer:
    base: str
    settings: InfoShareApiSettings
    audit_path: Path
    case_id: str
    clients: ExitStack

    def client(self, address: str) -> httpx.Client:
        return self.clients.enter_context(client_from(self.base, address))

    def token(self, role: str = "county_team", body_id: str | None = "team:210603:natural_resources",
              **options: Any) -> str:
        return issue_info_share_token(self.settings, f"test-{role}", role=role, body_id=body_id, **options)

    def entries(self) -> list[dict[str, Any]]:
        """The audit log as written: one JSON line per entry."""
        if not self.audit_path.exists():
            return []
        return [json.loads(line)["audit"] for line in self.audit_path.read_text(encoding="utf-8").splitlines()]

    def audited(self, answer: httpx.Response) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e["request_id"] == answer.headers["X-Request-ID"]]


@pytest.fixture
def info_share_server(tmp_path: Path) -> Iterator[Callable[..., InfoShareServer]]:
    """Factory: the info-share API over a register holding one referred case, with the test servers' JWT secret
    (tests/serving.py, the one patrol's test servers use)."""
    with ExitStack() as stack:

        def build(**overrides: Any) -> InfoShareServer:
            url = f"sqlite:///{tmp_path / 'info-share-register.db'}"
            engine = make_engine(url)
            stack.callback(engine.dispose)
            migrate(engine)
            story = Story(1)
            register = InfoShareRegister(session_factory(engine), load_reference_data())
            for event in (story.opened(), story.issued()):
                register.apply(event)  # type: ignore[arg-type]
            audit_path = tmp_path / "info-share-audit.jsonl"
            settings = InfoShareApiSettings(jwt_secret=SecretStr(JWT_SECRET), database_url=url,
                                            info_share_audit_log_path=str(audit_path), **overrides)
            base = stack.enter_context(serving(create_info_share_app(settings), settings.trusted_proxies))
            return InfoShareServer(base, settings, audit_path, story.case_id, stack)

        yield build
