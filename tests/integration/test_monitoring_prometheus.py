"""Dashboards and alerts proven against a real Prometheus scraping the running stack while findings flow.

The stack runs as processes with its monitoring as `make run` starts it (deploy/local_stack.py: the lag
exporter, and Debian's ``prometheus`` with the shipped job names and rule files), here scraping every second.
Traffic goes through the patrol API (accepted findings, a repeat report, refusals) plus one unreadable event on
the findings topic. Then every dashboard query, every Grafana variable and
every rule expression is put to Prometheus's HTTP API and listed with its result — on the terminal and in
build/monitoring-report.json. Finally patrol is stopped and the service-down alert expression must answer.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer

from deploy.local_prometheus import PrometheusApi
from deploy.local_stack import Stack
from services.common.polling import poll_until
from services.common.topics import FINDINGS
from services.reference.geography import random_point_in_county
from services.reference.loader import load_reference_data
from tests.monitoring_checks import (
    ROOT,
    SUBSTITUTIONS,
    Check,
    ask,
    dashboard_checks,
    declared_metrics,
    listing,
    promtool_check_metrics,
    rule_checks,
)
from tests.stack_fixtures import StackFactory, officer_token

pytestmark = pytest.mark.integration

REPORT_PATH = ROOT / "build" / "monitoring-report.json"
NOW = datetime.now(UTC)

# Metrics the dashboards and alerts rely on that this run's traffic does not produce (see each reason). Their queries
# must still parse; they are reported "pending". Every other metric's queries are held to their expectation, and
# any other unknown name fails the test: it is a typo.
PENDING_METRICS = frozenset({
    # Exported by dispatch, but a labelled series only exists once it happened: this run answers no referral,
    # lets none go overdue, and may end before the 15 s gauge refresh.
    "liandong_dispatch_referral_transitions_total",
    "liandong_dispatch_referral_answers_total",
    "liandong_dispatch_referrals_open",
    "liandong_dispatch_referrals_overdue",
})
# Rule expressions that must answer with data in this run (the others may, and are listed either way).
RULES_WITH_DATA = {"kafka_consumergroup_lag_sum", "LiandongDeadLettersAppearing", "LiandongIngestionErrorsSpiking"}
RULES_EMPTY_WHILE_HEALTHY = {"LiandongServiceDown", "LiandongServiceMissing"}
REFUSAL_BURST = 25


def failures(checks: list[Check]) -> list[str]:
    problems = []
    for check in checks:
        unknown = sorted(set(check.missing) - PENDING_METRICS)
        if check.status == "error":
            problems.append(f"{check.source}: {check.error}")
        elif unknown:
            problems.append(f"{check.source}: no such metric {unknown} (typo, or add it to PENDING_METRICS)")
        elif check.expect == "data" and check.status == "empty":
            problems.append(f"{check.source}: no data for {check.query}")
    return problems


# -- traffic ------------------------------------------------------------------------------------------------------


def referred_picks(count: int) -> list[tuple[str, str]]:
    """(township, category) pairs in different counties, each routed to a county team (so a referral follows)."""
    from services.dispatch.domain.routing import route

    reference = load_reference_data()
    picks: list[tuple[str, str]] = []
    counties: set[str] = set()
    for township in sorted(reference.townships.values(), key=lambda t: t.code):
        if township.county_code in counties:
            continue
        for code in sorted(reference.categories_for_township(township.code, NOW)):
            if route(reference, township.code, code, NOW).rule == "county_department":
                picks.append((township.code, code))
                counties.add(township.county_code)
                break
        if len(picks) == count:
            return picks
    raise AssertionError(f"only {len(picks)} referred (township, category) pairs found")


def finding(client_report_id: str, township: str, category: str, point: tuple[float, float]) -> dict[str, Any]:
    return {"client_report_id": client_report_id, "township_code": township, "category_code": category,
            "location": {"latitude": point[0], "longitude": point[1], "datum": "WGS-84"},
            "observed_at": NOW.isoformat(), "description": "巡查發現 (monitoring test)"}


def drive_traffic(stack: Stack, prometheus: PrometheusApi) -> dict[str, int]:
    picks = referred_picks(4)
    rng = random.Random(6)
    url = f"http://127.0.0.1:{stack.patrol_port}/v1/findings"
    auth = {"Authorization": f"Bearer {officer_token(stack, [t for t, _ in picks])}"}
    counts = {"accepted": 0, "refused": 0}
    with httpx.Client(timeout=30) as client:
        def post(body: dict[str, Any], headers: dict[str, str], status: int) -> None:
            answer = client.post(url, json=body, headers=headers)
            assert answer.status_code == status, answer.text
            counts["accepted" if status == 202 else "refused"] += 1

        # One refusal first and let it be scraped: rate() cannot see the first value of a newborn series.
        post(finding("nobody-0", *picks[0], (40.1, 124.3)), {}, 401)
        poll_until(lambda: prometheus.has_data('liandong_patrol_findings_rejected_total{reason="unauthenticated"}'),
                   30, 0.5, "the first refusal scraped")
        first_points = []
        for i, (township, category) in enumerate(picks):
            for j in range(2):
                point = random_point_in_county(township[:6], rng)
                first_points.append(point)
                post(finding(f"mon-{i}-{j}", township, category, point), auth, 202)
        post(finding("mon-repeat", *picks[0], first_points[0]), auth, 202)  # same place again: merged
        for i in range(REFUSAL_BURST):
            post(finding(f"nobody-{i + 1}", *picks[0], first_points[0]), {}, 401)
        post({"client_report_id": "broken"}, auth, 422)
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    try:  # no CloudEvents headers: dispatch must set it aside on the dead-letter topic and go on
        producer.send(FINDINGS.name(stack.topic_prefix), key=b"monitoring-test", value=b"{not an event").get(30)
    finally:
        producer.close()
    return counts


# -- the test -----------------------------------------------------------------------------------------------------


def test_dashboard_and_alert_expressions_against_real_prometheus(
        make_stack: StackFactory, capsys: pytest.CaptureFixture[str]) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    stack = make_stack()
    # The stack's own monitoring, as `make run` starts it, scraping every second so a short run fills the windows.
    stack.start_all(monitoring=True, scrape_interval="1s")
    if "prometheus" not in stack.processes:
        pytest.fail("prometheus not found: apt-get install prometheus (.ci/run does)")
    timings["stack_started"] = time.monotonic() - started
    endpoints = {job: int(target.rsplit(":", 1)[1]) for job, target in stack.scrape_targets().items()}
    prometheus = PrometheusApi(stack.prometheus_url)
    poll_until(prometheus.targets_up, 30, 0.5, "every scrape target up")
    timings["prometheus_scraping"] = time.monotonic() - started

    traffic = drive_traffic(stack, prometheus)
    timings["traffic_sent"] = time.monotonic() - started

    checks = dashboard_checks() + rule_checks(RULES_WITH_DATA)
    expositions = {job: httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).content
                   for job, port in endpoints.items()}
    declared = set().union(*(declared_metrics(body.decode()) for body in expositions.values()))

    def everything_expected_answers() -> bool:
        known = prometheus.metric_names() | declared
        return not failures([ask(prometheus, check, known, PENDING_METRICS) for check in checks])

    # On time-out the listing below says which did not answer, and the assertions at the end fail the test.
    with contextlib.suppress(AssertionError):
        poll_until(everything_expected_answers, 90, 1.0, "every expected query answering with data")
    timings["expressions_answered"] = time.monotonic() - started

    lint = {job: promtool_check_metrics(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).content)
            for job, port in endpoints.items()}
    rules = [rule for group in prometheus.api("/api/v1/rules")["data"]["groups"] for rule in group["rules"]]
    rule_health = {rule["name"]: rule.get("lastError") or rule["health"] for rule in rules}

    # Healthy so far: nothing down. Now stop patrol; the service-down expression must name it.
    down_expr = next(c.expr for c in checks if c.source.endswith("/ LiandongServiceDown"))
    healthy = {c.source.split(" / ")[1]: c.status for c in checks if c.source.split(" / ")[1] in
               RULES_EMPTY_WHILE_HEALTHY}
    stack.processes["patrol"].stop()
    poll_until(lambda: prometheus.has_data(down_expr), 30, 0.5, "LiandongServiceDown expression answering")
    fired = prometheus.query(down_expr)["data"]["result"]
    provoked = Check("alerts.yml / LiandongServiceDown (patrol stopped)", down_expr, "data")
    ask(prometheus, provoked, prometheus.metric_names() | declared, PENDING_METRICS)
    timings["total"] = time.monotonic() - started

    report = {
        "prometheus": prometheus.api("/api/v1/status/buildinfo")["data"]["version"],
        "substitutions": SUBSTITUTIONS, "traffic": traffic, "timings_seconds": timings,
        "expressions": [asdict(c) for c in [*checks, provoked]],
        "rule_health": rule_health, "promtool_check_metrics": lint,
    }
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with capsys.disabled():
        print(f"\nmonitoring: {len(checks) + 1} expressions against Prometheus {report['prometheus']} "
              f"(full listing: {REPORT_PATH.relative_to(ROOT)})")
        print(listing([*checks, provoked]))

    assert not failures(checks), "\n".join(failures(checks))
    assert all(state == "ok" for state in rule_health.values()), rule_health
    assert len(rule_health) == len([c for c in checks if c.source.startswith(("alerts.yml", "recording.yml"))])
    assert healthy == dict.fromkeys(RULES_EMPTY_WHILE_HEALTHY, "empty"), healthy
    assert [r["metric"]["job"] for r in fired] == ["patrol"], fired
    assert {job: output for job, output in lint.items() if output} == {}, "promtool check metrics is not clean"
