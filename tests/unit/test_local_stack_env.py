"""`make run` honours LIANDONG_* settings from the environment; the stack keeps the ones its processes must share."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.local_stack import STACK_SETTINGS, Stack
from scripts.demo_open311 import api_keys_with_demo, new_demo_key


def test_environment_settings_reach_every_process_but_the_shared_ones_are_the_stacks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANDONG_PUBLISH_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("LIANDONG_RATE_LIMIT_BURST", "7")
    monkeypatch.setenv("LIANDONG_BOOTSTRAP_SERVERS", "elsewhere:9092")
    monkeypatch.setenv("LIANDONG_TOPIC_PREFIX", "township-a")
    monkeypatch.setenv("LIANDONG_JWT_SECRET", "an-operator-secret-of-some-length")
    stack = Stack.from_environment(tmp_path, bootstrap_servers="127.0.0.1:1")
    env = stack.env
    assert env["LIANDONG_PUBLISH_TIMEOUT_SECONDS"] == "2.5" and env["LIANDONG_RATE_LIMIT_BURST"] == "7"
    assert env["LIANDONG_BOOTSTRAP_SERVERS"] == "127.0.0.1:1"  # the stack's broker, never another
    assert env["LIANDONG_TOPIC_PREFIX"] == "township-a" == stack.topic_prefix
    assert env["LIANDONG_JWT_SECRET"] == "an-operator-secret-of-some-length" == stack.jwt_secret
    assert {f"LIANDONG_{name}" for name in STACK_SETTINGS} <= set(env)


def test_the_test_fixtures_stack_ignores_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANDONG_PUBLISH_TIMEOUT_SECONDS", "2.5")
    assert "LIANDONG_PUBLISH_TIMEOUT_SECONDS" not in Stack(tmp_path, inherit_settings=False).env


def test_demo_key_is_added_to_the_operators_keys() -> None:
    key = new_demo_key()
    assert len(key) >= 16 and not set(key) & set("=;:") and not key.startswith("-")
    assert api_keys_with_demo("", key) == f"{key}=hotline-12345:*"
    mine = "k" * 20 + "=video-platform:210603001"
    assert api_keys_with_demo(mine, key) == f"{mine};{key}=hotline-12345:*"
