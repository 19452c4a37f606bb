"""A Prometheus on loopback for the local stack: Debian's ``prometheus`` binary with the shipped rules and job names.

``deploy/prometheus/prometheus.yml`` is the compose deployment's configuration (service names as hosts); here the
same job names and rule files are pointed at loopback ports, so the dashboards and alerts select on the same jobs.
Used by ``make run`` (through ``deploy/local_stack.py``) and by the monitoring tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parent / "prometheus"


def prometheus_binary() -> str | None:
    """Debian's package installs it on PATH (``apt-get install prometheus``; ``.ci/run`` does)."""
    return shutil.which("prometheus")


def shipped_jobs() -> list[str]:
    shipped = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    return [scrape["job_name"] for scrape in shipped["scrape_configs"]]


def loopback_config(targets: dict[str, str], scrape_interval: str = "1s") -> dict[str, Any]:
    """The shipped prometheus.yml with its job names and rule files, pointed at loopback targets.

    Every shipped job needs a target: a job without one would leave its alerts (LiandongServiceMissing) and panels
    silently empty, so a mismatch is an error here rather than a surprise on a dashboard.
    """
    shipped = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = [scrape["job_name"] for scrape in shipped["scrape_configs"]]
    if sorted(jobs) != sorted(targets):
        raise ValueError(f"targets for {sorted(targets)}, but prometheus.yml has the jobs {sorted(jobs)}")
    timeout = scrape_interval  # a scrape may take as long as the interval, never longer (Prometheus refuses it)
    return {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": timeout,
                   "evaluation_interval": scrape_interval, "external_labels": shipped["global"]["external_labels"]},
        "rule_files": [str(PROMETHEUS_DIR / name) for name in shipped["rule_files"]],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [targets[job]]}]} for job in jobs],
    }


def write_config(work_dir: Path, port: int, targets: dict[str, str], scrape_interval: str) -> Path:
    """prometheus.yml for these targets (Prometheus scrapes itself as job ``prometheus``, as shipped)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir / "prometheus.yml"
    config.write_text(yaml.safe_dump(loopback_config(targets | {"prometheus": f"127.0.0.1:{port}"},
                                                     scrape_interval)))
    return config


def command(binary: str, config: Path, work_dir: Path, port: int) -> list[str]:
    # Values joined to their flags: a path can never be read as a flag of its own.
    return [binary, f"--config.file={config}", f"--storage.tsdb.path={work_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]


class PrometheusApi:
    """The few HTTP API calls the stack and the tests make."""

    def __init__(self, url: str) -> None:
        self.url = url

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

    def targets_up(self) -> bool:
        targets = self.api("/api/v1/targets")["data"]["activeTargets"]
        return bool(targets) and all(t["health"] == "up" for t in targets)

    def graph_url(self, expr: str) -> str:
        return f"{self.url}/graph?" + urlencode({"g0.expr": expr, "g0.tab": "0"})
