"""The patrol app served for real (tests/serving.py) on a test's topics: the fixture ``patrol_server`` (a fixture
plugin of tests/conftest.py). Imports patrol and no other service."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.audit import AuditEntry, MemoryAuditLog
from services.patrol.wiring import create_app as create_patrol_app
from tests.patrol_fixtures import CaseViews, PatrolHarness, patrol_settings
from tests.serving import ATTACKER, client_from, serving


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
