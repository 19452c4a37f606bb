"""`make run`'s stack and sample day, then every dashboard expression and every alert rule on its Prometheus.

The stack is started as `make run` starts it (its own broker, the services, the lag exporter and Prometheus with the
shipped rules, scraping every 5 s, the demo's time limits), the sample day is replayed with its incidents and the
parties then act on their referrals (scripts/run_demo.py, scripts/demo_lifecycle.py). Each expression must then return
data — except the alert rules named below with the reason they cannot in this run. That list is asserted to be exactly
what came back empty, so a panel that loses its data fails the test, and so does a rule that answers while listed.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest

from deploy.local_prometheus import PrometheusApi
from deploy.local_stack import Stack
from scripts import demo_lifecycle, demo_open311
from scripts.run_demo import DEMO_TIME_LIMITS, run_sample_day, summary_once_registered
from services.common.polling import poll_until
from tests.monitoring_checks import ROOT, Check, ask, dashboard_checks, declared_metrics, listing, rule_checks

pytestmark = pytest.mark.integration

REPORT_PATH = ROOT / "build" / "sample-day-monitoring-report.json"

# Alert rules whose condition a healthy first run cannot meet, and why. Everything else must answer with data.
RULES_THAT_CANNOT_FIRE_HERE = {
    "alerts.yml / LiandongServiceMissing": "absent(): fires only when a job has no scrape target at all, and "
                                          "this Prometheus has one for every job",
    "alerts.yml / LiandongConsumerLagGrowing": "needs more than 100 records of lag growing for ten minutes; the "
                                               "sample day is consumed within seconds",
    "alerts.yml / LiandongConsumerStalled": "needs a group whose lag stays above zero for ten minutes "
                                            "without a commit",
    "alerts.yml / LiandongKafkaUnreachable": "needs the lag exporter without a successful read for two minutes; "
                                             "the sample day's broker stall lasts seconds",
    "alerts.yml / LiandongIngestionErrorsSpiking": "needs over 20 % of submissions refused and over 20 refusals in "
                                                   "five minutes; the sample day refuses 3 of ~390",
}
# Provoked after the other checks: patrol is stopped, and the service-down expression must then name it.
PROVOKED = "alerts.yml / LiandongServiceDown"


@pytest.fixture
def demo_stack(tmp_path: Path) -> Stack:
    # As `make run`: the demo's time limits, so a major matter nobody signs for is overdue within minutes.
    return Stack(tmp_path / "demo", inherit_settings=False, extra_env=dict(DEMO_TIME_LIMITS),
                 api_keys=demo_open311.api_keys_with_demo("", demo_open311.new_demo_key()))


def test_every_panel_and_alert_rule_after_the_sample_day(demo_stack: Stack,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    stack = demo_stack
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        stack.start_all(monitoring=True)  # as `make run`: 5 s scrapes
        assert "prometheus" in stack.processes, "prometheus not found: apt-get install prometheus (.ci/run does)"
        prometheus = PrometheusApi(stack.prometheus_url)
        poll_until(prometheus.targets_up, 60, 1.0, "every scrape target up")
        timings["stack_started"] = time.monotonic() - started
        with capsys.disabled():
            plan, results, _tokens = run_sample_day(stack)
        assert [status for status, _ in results].count(202) == len(plan)
        timings["sample_day_sent"] = time.monotonic() - started
        # The day's second half, as `make run`: once the register holds the whole day, the parties act.
        life = demo_lifecycle.drive(stack, summary_once_registered(stack, results)["referrals_by_body"])
        with capsys.disabled():
            print(demo_lifecycle.summary_line(life), flush=True)
        assert life.done["closed"] >= 1 and life.done["returned and re-routed"] >= 1, life.done
        timings["lifecycle_driven"] = time.monotonic() - started

        checks = dashboard_checks() + rule_checks(set())
        sources = {check.source for check in checks}
        assert sources >= set(RULES_THAT_CANNOT_FIRE_HERE), "stale names"
        expected_empty = set(RULES_THAT_CANNOT_FIRE_HERE) | {PROVOKED}
        declared = set().union(*(declared_metrics(httpx.get(f"http://{target}/metrics", timeout=10).text)
                                 for target in stack.scrape_targets().values()))

        def empty_now() -> set[str]:
            known = prometheus.metric_names() | declared
            return {c.source for c in (ask(prometheus, check, known) for check in checks) if c.status != "data"}

        # On time-out the listing below says which did not answer, and the assertions fail the test. The overdue
        # panels answer last: a major matter nobody signs for is overdue after the demo's 2 minutes.
        with contextlib.suppress(AssertionError):
            poll_until(lambda: empty_now() <= expected_empty, 300, 5.0, "every expected expression answering")
        timings["expressions_answered"] = time.monotonic() - started
        empty = empty_now()

        stack.processes["patrol"].stop()
        down = next(c for c in checks if c.source == PROVOKED)
        poll_until(lambda: prometheus.has_data(down.expr), 60, 1.0, "LiandongServiceDown answering")
        provoked = ask(prometheus, Check(f"{PROVOKED} (patrol stopped)", down.expr, "data"), prometheus.metric_names())
        timings["total"] = time.monotonic() - started
    finally:
        stack.stop()

    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps({
        "timings_seconds": timings, "cannot_fire_here": RULES_THAT_CANNOT_FIRE_HERE,
        "expressions": [asdict(c) for c in [*checks, provoked]]}, indent=2, ensure_ascii=False) + "\n")
    with capsys.disabled():
        print(f"\nsample-day monitoring: {len(checks)} expressions (full listing: {REPORT_PATH.relative_to(ROOT)})")
        print(listing([*checks, provoked]))
        print("cannot fire in a healthy run:\n  " + "\n  ".join(f"{k}: {v}" for k, v in
                                                               RULES_THAT_CANNOT_FIRE_HERE.items()))
        print(f"timings: {json.dumps({k: round(v, 1) for k, v in timings.items()})}")

    errors = [f"{c.source}: {c.error}" for c in checks if c.status == "error"]
    assert not errors, errors
    assert empty - expected_empty == set(), f"no data: {sorted(empty - expected_empty)}"
    firing = {c.source: c.sample for c in checks if c.source in RULES_THAT_CANNOT_FIRE_HERE and c.status == "data"}
    assert not firing, f"these answer now (take them off RULES_THAT_CANNOT_FIRE_HERE, or find why): {firing}"
    assert PROVOKED in empty, "LiandongServiceDown answered while every service was up"
    assert provoked.status == "data" and "job=patrol" in provoked.sample[0], provoked
