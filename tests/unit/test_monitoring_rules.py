"""Alert and recording rules: promtool checks and unit tests, and every alert's runbook exists in the docs.

The only I/O is running promtool (Debian's ``prometheus`` package) on the files in deploy/prometheus.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
OPERATIONS = ROOT / "docs" / "operations.md"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not found: apt-get install prometheus (.ci/run does)")
    return subprocess.run([binary, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60,
                          check=False)


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_promtool_check_rules() -> None:
    done = promtool("check", "rules", "recording.yml", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_test_rules() -> None:
    done = promtool("test", "rules", "alerts_test.yml")
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_promtool_check_config_of_the_compose_prometheus() -> None:
    done = promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_unit_test() -> None:
    tested = {case["alertname"] for test in yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]
              for case in test.get("alert_rule_test", [])}
    assert {rule["alert"] for rule in alerts()} <= tested


def test_every_alert_has_severity_summary_and_a_runbook_section() -> None:
    anchors = {github_anchor(line.lstrip("#")) for line in OPERATIONS.read_text(encoding="utf-8").splitlines()
               if line.startswith("#")}
    for rule in alerts():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        runbook = rule["annotations"]["runbook_url"]
        assert runbook == f"docs/operations.md#{rule['alert'].lower()}", runbook
        assert runbook.split("#")[1] in anchors, f"docs/operations.md has no section for {rule['alert']}"
