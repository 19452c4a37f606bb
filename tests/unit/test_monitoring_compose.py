"""deploy/docker-compose.yml read as YAML: health checks, no default secrets, the services and their wiring.

Docker is not available where these tests run, so the file is checked for structure only; it has not been run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE_TEXT = (DEPLOY / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY")
REQUIRED = re.compile(r"^\$\{\w+:\?[^}]+\}$")


def one_shot(name: str) -> bool:
    """A job that runs to completion and that others wait for: it has no health to check."""
    return SERVICES[name].get("restart") == "no" and any(
        (service.get("depends_on") or {}).get(name, {}).get("condition") == "service_completed_successfully"
        for service in SERVICES.values())


def command(name: str) -> str:
    value = SERVICES[name]["command"]
    return value if isinstance(value, str) else " ".join(value)


def test_the_stack_has_every_part() -> None:
    assert set(SERVICES) == {"kafka", "postgres", "topic-init", "patrol", "patrol-case-views", "dispatch",
                             "info-share-worker", "info-share-api", "lag-exporter", "prometheus", "grafana"}
    assert command("patrol-case-views").startswith("python -m services.patrol.entrypoints.case_views")
    assert command("patrol").startswith("python -m services.patrol --host 0.0.0.0")
    assert command("dispatch").startswith("python -m services.dispatch")
    assert SERVICES["dispatch"]["deploy"]["replicas"] == 3
    assert command("info-share-worker").startswith("python -m services.info_share.entrypoints.worker")
    assert command("info-share-api").startswith("python -m services.info_share --host 0.0.0.0")
    assert command("lag-exporter").startswith("python -m services.monitor --host 0.0.0.0")
    assert "from services.common.kafka_admin import ensure_topics" in command("topic-init")


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in SERVICES.items():
        if one_shot(name):
            assert "healthcheck" not in service, name
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"


def test_dependencies_wait_for_health_or_completion() -> None:
    for name, service in SERVICES.items():
        for needed, how in (service.get("depends_on") or {}).items():
            wanted = "service_completed_successfully" if one_shot(needed) else "service_healthy"
            assert how["condition"] == wanted, (name, needed)


def test_kafka_is_kraft_and_never_creates_topics_by_itself() -> None:
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_no_default_secrets() -> None:
    # No ${SECRET:-default} anywhere, and every secret-looking variable is required with ${NAME:?message}.
    for match in re.finditer(r"\$\{(\w+):?-", COMPOSE_TEXT):
        assert not SECRET_NAME.search(match.group(1)), f"{match.group(1)} has a default"
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert REQUIRED.match(str(value)), f"{name}: {key}={value} is not required from the environment"
            if "://" in str(value) and "@" in str(value):  # credentials inside a URL come from a required variable
                assert re.search(r"://[^:/]+:\$\{\w+:\?[^}]+\}@", str(value)), f"{name}: {key}"


def test_services_get_their_configuration_from_the_environment() -> None:
    for name in ("patrol", "patrol-case-views", "dispatch", "info-share-worker", "info-share-api", "lag-exporter",
                 "topic-init"):
        environment = SERVICES[name]["environment"]
        assert environment["LIANDONG_BOOTSTRAP_SERVERS"].startswith("${LIANDONG_BOOTSTRAP_SERVERS:-"), name
        assert environment["LIANDONG_TOPIC_PREFIX"].startswith("${LIANDONG_TOPIC_PREFIX:-"), name
    for name in ("patrol", "info-share-api"):
        assert SERVICES[name]["environment"]["LIANDONG_JWT_SECRET"].startswith("${LIANDONG_JWT_SECRET:?"), name
    for name in ("info-share-worker", "info-share-api"):
        assert "LIANDONG_DATABASE_URL" in SERVICES[name]["environment"], name
    for name in ("patrol", "patrol-case-views"):  # patrol's own store, never info-share's register
        assert "LIANDONG_CASE_VIEW_URL" in SERVICES[name]["environment"], name
        assert "LIANDONG_DATABASE_URL" not in SERVICES[name]["environment"], name
    # Least privilege: the token key goes only where tokens are checked.
    assert "LIANDONG_JWT_SECRET" not in SERVICES["dispatch"]["environment"]


def test_prometheus_scrapes_compose_services_on_their_ports() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    for scrape in config["scrape_configs"]:
        for static in scrape.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.split(":")
                assert host == "localhost" or port in command(host) or port in str(SERVICES[host]), target
        for dns in scrape.get("dns_sd_configs", []):
            for host in dns["names"]:
                assert str(dns["port"]) in command(host), host


def test_bind_mounts_exist_in_the_repository() -> None:
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source


def test_dockerfile_builds_one_non_root_image_with_pinned_dependencies() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.MULTILINE)
    assert "-c constraints.txt" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE)
    for service in ("patrol", "dispatch", "lag-exporter"):
        assert SERVICES[service]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
