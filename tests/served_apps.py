"""The patrol and info-share apps served for real (uvicorn over TCP, lifespan included) as their ``__main__`` serves
them, with clients that connect from chosen loopback addresses: the fixtures ``patrol_server`` and
``info_share_server``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from deploy.kafka.local_kafka import free_port
from services.common.audit import AuditEntry, MemoryAuditLog
from services.common.http_server import server_options
from services.common.polling import poll_until
from services.info_share.adapters.register.database import make_engine, migrate, session_factory
from services.info_share.auth import issue_token as issue_info_share_token
from services.info_share.service import Register as InfoShareRegister
from services.info_share.settings import InfoShareApiSettings
from services.info_share.wiring import create_app as create_info_share_app
from services.patrol.wiring import create_app as create_patrol_app
from services.reference.loader import load_reference_data
from tests.info_share_fixtures import Story
from tests.patrol_fixtures import JWT_SECRET, CaseViews, PatrolHarness, patrol_settings

ATTACKER = "127.0.0.2"  # where a PatrolServer's harness client connects from


@contextmanager
def serving(app: FastAPI, trusted_proxies: str = "") -> Iterator[str]:
    """``app`` behind uvicorn on a free loopback port (lifespan included), served as the services' ``__main__``
    serves them (``server_options``); yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           **server_options(trusted_proxies)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        poll_until(lambda: _healthy(base), 30, 0.05, f"{app.title} up")
        yield base
    finally:
        server.should_exit = True
        thread.join(15)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def client_from(base: str, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.0.0.x is this machine)."""
    return httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=address), timeout=30)


@dataclass
class PatrolServer:
    base: str
    harness: PatrolHarness  # tokens, the findings topic, the register; its client connects from ATTACKER
    clients: ExitStack

    def client(self, address: str) -> httpx.Client:
        return self.clients.enter_context(client_from(self.base, address))

    @property
    def attacker(self) -> httpx.Client:
        return self.harness.client  # type: ignore[return-value]

    def audited(self, answer: httpx.Response) -> list[AuditEntry]:
        """The audit entries of one request (a batch has one per item)."""
        request_id = answer.headers["X-Request-ID"]
        return [e for e in self.harness.audit.entries if e.request_id == request_id]

    def audit_text(self) -> str:
        return json.dumps([e.to_dict() for e in self.harness.audit.entries], ensure_ascii=False)


@pytest.fixture
def patrol_server(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[Callable[..., PatrolServer]]:
    """Factory: the patrol service on this test's topics, served over HTTP; ``patrol_server(auth_failure_burst=5)``."""
    with ExitStack() as stack:

        def build(**overrides: Any) -> PatrolServer:
            settings = patrol_settings(kafka_bootstrap, topic_prefix, tmp_path, **overrides)
            CaseViews(settings.case_view_url)  # an empty case view, as patrol's worker creates it
            audit = MemoryAuditLog()
            base = stack.enter_context(serving(create_patrol_app(settings, audit=audit), settings.trusted_proxies))
            attacker = stack.enter_context(client_from(base, ATTACKER))
            harness = PatrolHarness(attacker, settings, audit, settings.case_view_url,  # type: ignore[arg-type]
                                    kafka_bootstrap, topic_prefix)
            return PatrolServer(base, harness, stack)

        yield build


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
    """Factory: the info-share API over a register holding one referred case, with the patrol tests' JWT secret."""
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
