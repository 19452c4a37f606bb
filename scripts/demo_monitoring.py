"""`make run`'s monitoring lines: where Prometheus, the lag exporter and the dashboards' questions are."""

from __future__ import annotations

from deploy.local_stack import Stack


def monitoring_text(stack: Stack) -> str:
    lag = f"http://127.0.0.1:{stack.lag_exporter_port}/metrics"
    if "prometheus" not in stack.processes:
        return f"""
monitoring:
  lag exporter         {lag}
  Prometheus           not started: the prometheus binary is not installed (apt-get install prometheus)
"""
    url = stack.prometheus_url
    return f"""
monitoring (scrapes every service every 5 s; recording and alert rules of deploy/prometheus/ loaded):
  Prometheus           {url}          (alerts: {url}/alerts, targets: {url}/targets)
  lag exporter         {lag}
  dashboards           deploy/grafana/dashboards/*.json (import into Grafana with this Prometheus as data source);
                       every panel's question and every alert's runbook: docs/operations.md
  e.g.                 curl '{url}/api/v1/query?query=sum+by+(job)+(up)'
"""
