"""Factories for running services as real processes against the session broker, each test with its own names."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.local_stack import Stack
from services.common.kafka_admin import delete_topics_with_prefixes

StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack(kafka_bootstrap: str, tmp_path: Path) -> Iterator[StackFactory]:
    """Build a Stack on the session broker with fresh topic and group prefixes; every process is stopped after."""
    stacks: list[Stack] = []

    def build(**overrides: object) -> Stack:
        unique = uuid.uuid4().hex[:8]
        options: dict[str, object] = {"run_dir": tmp_path / f"stack-{unique}", "bootstrap_servers": kafka_bootstrap,
                                      "topic_prefix": f"t{unique}", "group_prefix": f"g{unique}",
                                      "inherit_settings": False}
        options.update(overrides)
        stack = Stack(**options)  # type: ignore[arg-type]
        stacks.append(stack)
        return stack

    yield build
    for stack in stacks:
        stack.stop()
        if stack.bootstrap_servers and stack.broker is None:  # the shared broker: leave it as lean as found
            with contextlib.suppress(Exception):
                delete_topics_with_prefixes(stack.bootstrap_servers,
                                            [f"{stack.topic_prefix}.", f"{stack.group_prefix}-"])


def officer_token(stack: Stack, township_codes: list[str], subject: str = "officer-test",
                  role: str = "patrol_officer") -> str:
    from services.patrol.adapters.auth import issue_token  # here, not above: the fixtures serve services that run alone
    from services.patrol.settings import PatrolSettings

    settings = PatrolSettings(jwt_secret=stack.jwt_secret)  # type: ignore[arg-type]
    return issue_token(settings, subject, township_codes, role=role)
