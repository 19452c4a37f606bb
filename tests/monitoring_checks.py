"""Every dashboard expression, Grafana variable and rule expression, put to a real Prometheus and listed with its
answer. Shared by tests/integration/test_monitoring_prometheus.py (short traffic, 1 s scrapes) and
tests/e2e/test_sample_day_monitoring.py (`make run`'s stack and sample day)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from deploy.grafana.build_dashboards import dashboards
from deploy.grafana.model import Expect
from deploy.local_prometheus import PROMETHEUS_DIR, PrometheusApi

ROOT = Path(__file__).resolve().parents[1]
# Made by Prometheus itself, and only while some alert is pending or firing.
SYNTHETIC_METRICS = frozenset({"ALERTS", "ALERTS_FOR_STATE"})
# Grafana fills these in; the tests stand in "every county, every team" and windows a 5 s scrape fills.
SUBSTITUTIONS = {"county": ".*", "team": ".*", "__rate_interval": "1m", "__range": "5m"}


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


def substitute(expr: str) -> str:
    """Grafana's variables as the tests stand them in; ``$1`` and other unknown names stay (label_replace)."""
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


def rules() -> list[tuple[str, str, dict]]:
    """(file, rule name, rule) of every recording and alert rule Prometheus loads."""
    found = []
    for name in ("recording.yml", "alerts.yml"):
        for group in yaml.safe_load((PROMETHEUS_DIR / name).read_text())["groups"]:
            found += [(name, rule.get("alert") or rule["record"], rule) for rule in group["rules"]]
    return found


def rule_checks(with_data: set[str]) -> list[Check]:
    checks = []
    for file, rule_name, rule in rules():
        expect: Expect = "data" if rule_name in with_data else "may_be_empty"
        why = "" if expect == "data" else ("healthy: no alert" if "alert" in rule else "no such situation in this run")
        checks.append(Check(f"{file} / {rule_name}", rule["expr"], expect, why))
    return checks


def declared_metrics(exposition: str) -> set[str]:
    """Series names a service declares on /metrics (``# TYPE``), with or without samples yet."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE):
        suffixes = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("", "_count", "_sum")}.get(kind, ("",))
        names |= {name + suffix for suffix in suffixes}
    return names


def ask(prometheus: PrometheusApi, check: Check, known: set[str],
        pending_metrics: frozenset[str] = frozenset()) -> Check:
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
        check.status = "pending" if set(check.missing) & pending_metrics else "empty"
    return check


def _labels(metric: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(metric.items())) + "}"


def listing(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        detail = check.error or ("; ".join(check.sample) if check.sample else
                                 f"missing {check.missing}" if check.status == "pending" else check.why)
        lines.append(f"  {check.status:8} {check.series:3}  {check.source}\n           {' '.join(check.query.split())}"
                     f"\n           → {detail[:300]}")
    return "\n".join(lines)


def promtool_check_metrics(body: bytes) -> str:
    done = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30, check=False)
    return (done.stdout + done.stderr).decode().strip()
