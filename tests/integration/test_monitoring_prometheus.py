"""Dashboards and alerts proven against a real Prometheus scraping the running stack while findings flow.

The stack and the lag exporter run as processes; Debian's ``prometheus`` scrapes them every second on loopback with
the shipped job names and rule files. Traffic goes through the patrol API (accepted findings, a repeat report,
refusals) plus one unreadable event on the findings topic. Then every dashboard query, every Grafana variable and
every rule expression is put to Prometheus's HTTP API and listed with its result — on the terminal and in
build/monitoring-report.json. Finally patrol is stopped and the service-down alert expression must answer.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kafka import KafkaProducer

from deploy.grafana.build_dashboards import dashboards
from deploy.grafana.model import Expect
from deploy.kafka.local_kafka import free_port
from deploy.local_stack import Stack, http_ok
from services.common.polling import poll_until
from services.common.topics import FINDINGS
from services.reference.geography import random_point_in_county
from services.reference.loader import load_reference_data
from tests.stack_fixtures import StackFactory, officer_token

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
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
# Made by Prometheus itself, and only while some alert is pending or firing.
SYNTHETIC_METRICS = frozenset({"ALERTS", "ALERTS_FOR_STATE"})
# Grafana fills these in; the test stands in "every county, every team" and the windows a 15 s scrape gives.
SUBSTITUTIONS = {"county": ".*", "team": ".*", "__rate_interval": "1m", "__range": "5m"}
# Rule expressions that must answer with data in this run (the others may, and are listed either way).
RULES_WITH_DATA = {"kafka_consumergroup_lag_sum", "LiandongDeadLettersAppearing", "LiandongIngestionErrorsSpiking"}
RULES_EMPTY_WHILE_HEALTHY = {"LiandongServiceDown", "LiandongServiceMissing"}
REFUSAL_BURST = 25


@dataclass
class Check:
    source: str  # where the expression lives: dashboard and panel, variable, or rule
    expr: str  # as written
    expect: Expect
    why: str = ""
    query: str = ""  # as sent to Prometheus
    status: str = "unasked"  # data | empty | pending | error
    series: int = 0
    sample: list[str] = field(default_factory=list)
    error: str = ""
    missing: list[str] = field(default_factory=list)


class Prometheus:
    """Debian's prometheus on a free loopback port with its own storage; ``stop`` leaves nothing running."""

    def __init__(self, work_dir: Path, targets: dict[str, str]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus not found: apt-get install prometheus (.ci/run does)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        work_dir.mkdir(parents=True, exist_ok=True)
        config = work_dir / "prometheus.yml"
        config.write_text(yaml.safe_dump(_loopback_config(targets | {"prometheus": f"127.0.0.1:{self.port}"})))
        self.log_path = work_dir / "prometheus.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={work_dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> None:
        poll_until(lambda: self.process.poll() is not None or http_ok(f"{self.url}/-/ready")(), 30, 0.2,
                   "prometheus ready")
        if self.process.poll() is not None:
            pytest.fail(f"prometheus exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")

    def api(self, path: str, **params: Any) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        body: dict[str, Any] = answer.json()
        return body

    def query(self, expr: str) -> dict[str, Any]:
        return self.api("/api/v1/query", query=expr)

    def has_data(self, expr: str) -> bool:
        answer = self.query(expr)
        return answer.get("status") == "success" and bool(answer["data"]["result"])

    def metric_names(self) -> set[str]:
        return set(self.api("/api/v1/label/__name__/values")["data"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _loopback_config(targets: dict[str, str]) -> dict[str, Any]:
    """The shipped prometheus.yml with its job names and rule files, pointed at loopback and scraping every second."""
    shipped = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = [scrape["job_name"] for scrape in shipped["scrape_configs"]]
    assert sorted(jobs) == sorted(targets), f"the test scrapes {sorted(targets)}, prometheus.yml has {jobs}"
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROMETHEUS_DIR / name) for name in shipped["rule_files"]],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [targets[job]]}]} for job in jobs],
    }


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Prometheus]]:
    servers: list[Prometheus] = []

    def start(targets: dict[str, str]) -> Prometheus:
        servers.append(Prometheus(tmp_path / f"prometheus-{len(servers)}", targets))
        servers[-1].wait_ready()  # registered first: stopped at teardown even if it never gets ready
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# -- what to ask --------------------------------------------------------------------------------------------------


def substitute(expr: str) -> str:
    """Grafana's variables as the test stands them in; ``$1`` and other unknown names stay (label_replace)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: SUBSTITUTIONS.get(m.group(1) or m.group(2), m.group(0)), expr)


def metric_names_in(expr: str) -> set[str]:
    without_strings = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    return set(re.findall(r"\b(liandong_\w+|kafka_\w+|up|ALERTS\w*)\b(?!\s*\()", without_strings))


def dashboard_checks() -> list[Check]:
    checks = []
    for dashboard in dashboards().values():
        for panel in (panel for row in dashboard.rows for panel in row.panels):
            several = len(panel.queries) > 1  # then the legend tells the queries apart
            checks += [Check(f"{dashboard.uid} / {panel.title}" + (f" [{q.legend}]" if several else ""), q.expr,
                             q.expect, q.why) for q in panel.queries]
        checks += [Check(f"{dashboard.uid} / variable ${v.name}", v.query, "data") for v in dashboard.variables
                   if v.kind == "query"]
    return checks


def rule_checks() -> list[Check]:
    checks = []
    for name in ("recording.yml", "alerts.yml"):
        for group in yaml.safe_load((PROMETHEUS_DIR / name).read_text())["groups"]:
            for rule in group["rules"]:
                rule_name = rule.get("alert") or rule["record"]
                expect: Expect = "data" if rule_name in RULES_WITH_DATA else "may_be_empty"
                why = "" if expect == "data" else ("healthy: no alert" if "alert" in rule
                                                   else "no such situation in this run")
                checks.append(Check(f"{name} / {rule_name}", rule["expr"], expect, why))
    return checks


def declared_metrics(exposition: str) -> set[str]:
    """Series names a service declares on /metrics (``# TYPE``), with or without samples yet."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE):
        suffixes = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("", "_count", "_sum")}.get(kind, ("",))
        names |= {name + suffix for suffix in suffixes}
    return names


def ask(prometheus: Prometheus, check: Check, known: set[str]) -> Check:
    """``known``: names with series in Prometheus or declared by a service (a labelled counter has no series yet)."""
    check.query = substitute(check.expr)
    check.missing = sorted(metric_names_in(check.query) - known - SYNTHETIC_METRICS)
    variable = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", check.query, re.DOTALL)
    if variable:
        answer = prometheus.api(f"/api/v1/label/{variable.group(2)}/values", **{"match[]": variable.group(1)})
        values = answer.get("data") or []
        check.sample = [str(v) for v in values[:5]]
    else:
        answer = prometheus.query(check.query)
        values = (answer.get("data") or {}).get("result") or []
        check.sample = [f"{_labels(r['metric'])} {r['value'][1]}" for r in values[:3]]
    check.series = len(values)
    if answer.get("status") != "success":
        check.status, check.error = "error", f"{answer.get('errorType')}: {answer.get('error')}"
    elif values:
        check.status = "data"
    else:
        check.status = "pending" if set(check.missing) & PENDING_METRICS else "empty"
    return check


def _labels(metric: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(metric.items())) + "}"


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


def drive_traffic(stack: Stack, prometheus: Prometheus) -> dict[str, int]:
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


def promtool_check_metrics(body: bytes) -> str:
    done = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30, check=False)
    return (done.stdout + done.stderr).decode().strip()


def test_dashboard_and_alert_expressions_against_real_prometheus(
        make_stack: StackFactory, start_prometheus: Callable[[dict[str, str]], Prometheus],
        capsys: pytest.CaptureFixture[str]) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    stack = make_stack()
    stack.start_all()
    exporter_port = free_port()
    stack.start_process("lag-exporter", ["-m", "services.monitor", "--port", str(exporter_port), "--interval", "1"],
                        http_ok(f"http://127.0.0.1:{exporter_port}/healthz"))
    timings["stack_started"] = time.monotonic() - started
    endpoints = {"patrol": stack.patrol_port, "dispatch": stack.dispatch_web_port,
                 "info-share-worker": stack.info_share_web_port, "info-share-api": stack.info_share_port,
                 "lag-exporter": exporter_port}
    prometheus = start_prometheus({job: f"127.0.0.1:{port}" for job, port in endpoints.items()})
    poll_until(lambda: all(t["health"] == "up" for t in prometheus.api("/api/v1/targets")["data"]["activeTargets"]),
               30, 0.5, "every scrape target up")
    timings["prometheus_scraping"] = time.monotonic() - started

    traffic = drive_traffic(stack, prometheus)
    timings["traffic_sent"] = time.monotonic() - started

    checks = dashboard_checks() + rule_checks()
    expositions = {job: httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).content
                   for job, port in endpoints.items()}
    declared = set().union(*(declared_metrics(body.decode()) for body in expositions.values()))

    def everything_expected_answers() -> bool:
        known = prometheus.metric_names() | declared
        return not failures([ask(prometheus, check, known) for check in checks])

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
    ask(prometheus, provoked, prometheus.metric_names() | declared)
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
        for check in [*checks, provoked]:
            detail = check.error or ("; ".join(check.sample) if check.sample else
                                     f"missing {check.missing}" if check.status == "pending" else check.why)
            print(f"  {check.status:8} {check.series:3}  {check.source}\n           {' '.join(check.query.split())}"
                  f"\n           → {detail[:300]}")

    assert not failures(checks), "\n".join(failures(checks))
    assert all(state == "ok" for state in rule_health.values()), rule_health
    assert len(rule_health) == len([c for c in checks if c.source.startswith(("alerts.yml", "recording.yml"))])
    assert healthy == dict.fromkeys(RULES_EMPTY_WHILE_HEALTHY, "empty"), healthy
    assert [r["metric"]["job"] for r in fired] == ["patrol"], fired
    assert {job: output for job, output in lint.items() if output} == {}, "promtool check metrics is not clean"
