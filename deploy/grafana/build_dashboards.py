"""Build the Grafana dashboards from code: `make dashboards` (python -m deploy.grafana.build_dashboards) writes
dashboards/*.json through grafana-foundation-sdk; tests/unit/test_monitoring_dashboards.py fails on drift.

Panels are declared here with their PromQL; each query also says whether a running stack must answer it with
data, which tests/integration/test_monitoring_prometheus.py checks against a real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path

from deploy.grafana.model import Dashboard, Panel, Query, Row, Variable
from services.reference.loader import load_reference_data

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
RATE = "$__rate_interval"
RANGE = "$__range"
SERVICE_JOBS = "patrol|patrol-case-views|dispatch|info-share-worker|info-share-api|lag-exporter"
IN_COUNTY = 'county=~"$county"'
IN_TEAM = 'county=~"$county", team=~"$team"'
# Township codes begin with their county's code: patrol's findings have a township label and no county label.
TOWNSHIP_IN_COUNTY = 'township=~"${county}.*"'
NOTHING_WRONG = "empty while nothing is wrong"
# Scrapes and health checks would otherwise dominate request rates and latencies.
USER_ROUTES = 'route!~"/metrics|/healthz"'


def operations() -> Dashboard:
    health = Row("Service health", (
        Panel("Instances up", "stat", (Query(f'sum by (job) (up{{job=~"{SERVICE_JOBS}"}})', "{{job}}"),),
              "Scrape targets answering, per job (dispatch counts its replicas).", width=8, height=5),
        Panel("Consumer group members", "stat",
              (Query("max by (consumergroup) (kafka_consumergroup_members)", "{{consumergroup}}"),),
              "Live members per consumer group, as the broker sees them.", width=8, height=5),
        Panel("Alerts firing", "stat",
              (Query('sum by (alertname) (ALERTS{alertstate="firing"})', "{{alertname}}", "may_be_empty",
                     NOTHING_WRONG),),
              "See docs/operations.md for each alert's runbook.", width=8, height=5),
        Panel("Scrape health", "timeseries", (Query(f'up{{job=~"{SERVICE_JOBS}"}}', "{{job}} {{instance}}"),),
              "1 = scraped, 0 = down.", width=24, height=6),
    ))
    throughput = Row("Throughput", (
        Panel("Findings accepted / s", "timeseries",
              (Query(f"sum by (source) (rate(liandong_patrol_findings_accepted_total[{RATE}]))", "{{source}}"),),
              "Findings the broker acknowledged and patrol answered 202, by source.", unit="reqps"),
        Panel("Case events emitted by dispatch / s", "timeseries",
              (Query(f"sum by (event) (rate(liandong_dispatch_events_emitted_total[{RATE}]))", "{{event}}"),),
              unit="ops"),
        Panel("Register events applied / s", "timeseries",
              (Query(f"sum by (event, outcome) (rate(liandong_info_share_events_applied_total[{RATE}]))",
                     "{{event}} {{outcome}}"),),
              "Case events read by the info-share register, by outcome; duplicates are redeliveries.", unit="ops"),
        Panel("Records produced / s per topic", "timeseries",
              (Query(f"sum by (topic) (rate(kafka_topic_partition_current_offset[{RATE}]))", "{{topic}}"),),
              "From log end offsets read by the lag exporter.", unit="ops"),
        Panel("Records consumed / s per group", "timeseries",
              (Query(f"sum by (consumergroup, topic) (rate(kafka_consumergroup_current_offset[{RATE}]))",
                     "{{consumergroup}} ← {{topic}}"),),
              "From committed offsets.", unit="ops", width=24),
    ))
    acceptance = "liandong_dispatch_acceptance_to_referral_seconds_bucket"
    latency = Row("Latency", (
        Panel("Acceptance → referral published", "timeseries", tuple(
            Query(f"histogram_quantile({q}, sum by (le) (rate({acceptance}[{RATE}])))", f"p{round(q * 100)}")
            for q in (0.5, 0.95, 0.99)),
              "From patrol's acceptance of a finding to its first referral on the team's topic.", unit="s"),
        Panel("Case event → feed entry published", "timeseries",
              (Query("histogram_quantile(0.95, sum by (le) "
                     f"(rate(liandong_info_share_feed_delay_seconds_bucket[{RATE}])))", "p95"),),
              "From a case event's occurred_at to its entry on the shared feed (info-share).", unit="s"),
        Panel("HTTP latency p95", "timeseries",
              (Query("histogram_quantile(0.95, sum by (le, service, route) "
                     f"(rate(liandong_http_request_duration_seconds_bucket{{{USER_ROUTES}}}[{RATE}])))",
                     "{{service}} {{route}}"),),
              "Every HTTP service, by route template (scrapes and health checks left out).", unit="s"),
        Panel("HTTP requests / s", "timeseries",
              (Query("sum by (service, status_class) "
                     f"(rate(liandong_http_request_duration_seconds_count{{{USER_ROUTES}}}[{RATE}]))",
                     "{{service}} {{status_class}}"),),
              unit="reqps"),
    ))
    lag = Row("Consumer lag", (
        Panel("Lag per group and topic", "timeseries",
              (Query("kafka_consumergroup_lag_sum", "{{consumergroup}} {{topic}}"),),
              "Records not yet consumed (recording rule over the lag exporter's per-partition lag).",
              unit="short"),
        Panel("Largest partition lag", "timeseries",
              (Query("max by (consumergroup, topic) (kafka_consumergroup_lag)", "{{consumergroup}} {{topic}}"),),
              "One hot partition (one dedup group) can lag while the others are idle."),
        Panel("Seconds since offsets were read", "stat",
              (Query("time() - max(liandong_lag_exporter_last_success_timestamp_seconds)", "age"),),
              "Lag older than this is not shown; over 120 s fires LiandongKafkaUnreachable.", unit="s",
              width=8, height=5),
        Panel("Lag exporter polls / s", "timeseries",
              (Query(f"sum by (outcome) (rate(liandong_lag_exporter_polls_total[{RATE}]))", "{{outcome}}"),),
              unit="ops", width=16, height=5),
    ))
    errors = Row("Errors and dead letters", (
        Panel("Findings refused / s by reason", "timeseries",
              (Query(f"sum by (reason) (rate(liandong_patrol_findings_rejected_total[{RATE}]))", "{{reason}}"),),
              "Client errors: the caller gets the reason and the fields at fault.", unit="reqps"),
        Panel("Findings not acknowledged / s (503)", "timeseries",
              (Query(f"sum(rate(liandong_patrol_publish_failures_total[{RATE}]))", "503", "may_be_empty",
                     NOTHING_WRONG),),
              "The broker did not acknowledge in time; callers were told to retry.", unit="reqps"),
        Panel("HTTP 5xx / s", "timeseries",
              (Query("sum by (service, route) "
                     f'(rate(liandong_http_request_duration_seconds_count{{status_class="5xx"}}[{RATE}]))',
                     "{{service}} {{route}}", "may_be_empty", NOTHING_WRONG),),
              unit="reqps"),
        Panel("Dead letters / s", "timeseries",
              (Query(f"sum by (service, topic) (rate(liandong_dead_letters_total[{RATE}]))",
                     "{{service}} ← {{topic}}"),),
              "Events no handler could read; kept on the dead-letter topic with the reason in headers.",
              unit="ops"),
        Panel("Records on the dead-letter topic", "stat",
              (Query('sum by (topic) (kafka_topic_partition_current_offset{topic=~".*dead-letters"})', "{{topic}}"),),
              width=8, height=5),
        Panel("Referral responses refused / s", "timeseries",
              (Query('sum(rate(liandong_dispatch_events_emitted_total{event="response_rejected"}'
                     f"[{RATE}]))", "refused", "may_be_empty", "no county team responds in a short run"),),
              "Responses dispatch refused (wrong state, wrong body, missing detail).", unit="ops", width=16,
              height=5),
    ))
    return Dashboard("liandong-operations", "liandong — operations",
                     "Is everything flowing, and where is it stuck: throughput, latency, lag, errors, health.",
                     (health, throughput, latency, lag, errors))


def enforcement() -> Dashboard:
    answers = "liandong_dispatch_referral_answers_total"
    no_responses = "no county team responds in a short run"
    overview = Row("Selected counties and teams", (
        Panel("Findings received", "stat",
              (Query(f"sum(increase(liandong_patrol_findings_accepted_total{{{TOWNSHIP_IN_COUNTY}}}[{RANGE}]))"),),
              "In the selected time range.", width=4, height=5),
        Panel("Open cases", "stat", (Query(f"sum(liandong_dispatch_open_cases{{{IN_COUNTY}}})"),),
              width=4, height=5),
        Panel("Open referrals", "stat", (Query(f"sum(liandong_dispatch_referrals_open{{{IN_TEAM}}})"),),
              width=4, height=5),
        Panel("Overdue referrals", "stat",
              (Query(f"sum(liandong_dispatch_referrals_overdue{{{IN_TEAM}}})", "", "may_be_empty",
                     "acceptance deadlines are hours away in a short run"),),
              "Neither accepted nor returned by the acceptance deadline.", width=4, height=5),
        Panel("Answered on time", "stat",
              (Query(f'sum(increase({answers}{{{IN_TEAM}, timeliness="on_time"}}[{RANGE}])) / '
                     f"sum(increase({answers}{{{IN_TEAM}}}[{RANGE}]))", "", "may_be_empty", no_responses),),
              "Share of referrals accepted or returned before their deadline, in the selected range.",
              unit="percentunit", width=4, height=5),
        Panel("Duplicates merged", "stat",
              (Query(f"sum(increase(liandong_dispatch_findings_merged_total{{{IN_COUNTY}}}[{RANGE}]))"),),
              "Repeat reports joined to an open case, in the selected range.", width=4, height=5),
    ))
    by_county = Row("By county", (
        Panel("Findings received by county", "bargauge",
              (Query("sum by (county) (label_replace(increase(liandong_patrol_findings_accepted_total"
                     f'{{{TOWNSHIP_IN_COUNTY}}}[{RANGE}]), "county", "$1", "township", "([0-9]{{6}}).*"))',
                     "{{county}}"),), width=8),
        Panel("Cases opened by county", "bargauge",
              (Query(f"sum by (county) (increase(liandong_dispatch_cases_opened_total{{{IN_COUNTY}}}[{RANGE}]))",
                     "{{county}}"),), width=8),
        Panel("Overdue referrals by county", "bargauge",
              (Query(f"sum by (county) (liandong_dispatch_referrals_overdue{{{IN_TEAM}}})", "{{county}}",
                     "may_be_empty", "acceptance deadlines are hours away in a short run"),), width=8),
    ))
    by_township = Row("By township", (
        Panel("Findings received by township (top 20)", "table",
              (Query("topk(20, sum by (township) (increase(liandong_patrol_findings_accepted_total"
                     f"{{{TOWNSHIP_IN_COUNTY}}}[{RANGE}])))"),), width=8),
        Panel("Open cases by township (top 20)", "table",
              (Query(f"topk(20, sum by (township) (liandong_dispatch_open_cases{{{IN_COUNTY}}}))"),), width=8),
        Panel("Duplicates merged by township and rule (top 20)", "table",
              (Query("topk(20, sum by (township, rule) (increase(liandong_dispatch_findings_merged_total"
                     f"{{{IN_COUNTY}}}[{RANGE}])))"),), width=8),
    ))
    by_team = Row("By team", (
        Panel("Open referrals by team and state", "table",
              (Query(f"sum by (team, state) (liandong_dispatch_referrals_open{{{IN_TEAM}}})"),), width=12),
        Panel("Overdue referrals by team", "table",
              (Query(f"sort_desc(sum by (team) (liandong_dispatch_referrals_overdue{{{IN_TEAM}}}))", "",
                     "may_be_empty", "acceptance deadlines are hours away in a short run"),), width=12),
        Panel("On-time rate by team", "table",
              (Query(f'sum by (team) (increase({answers}{{{IN_TEAM}, timeliness="on_time"}}[{RANGE}])) / '
                     f"sum by (team) (increase({answers}{{{IN_TEAM}}}[{RANGE}]))", "", "may_be_empty",
                     no_responses),), unit="percentunit", width=8),
        Panel("Returns by team", "table",
              (Query("sum by (team) (increase(liandong_dispatch_referral_transitions_total"
                     f'{{{IN_TEAM}, action="return"}}[{RANGE}]))', "", "may_be_empty", no_responses),), width=8),
        Panel("Referrals issued by team", "table",
              (Query(f"sum by (team) (increase(liandong_dispatch_referrals_issued_total{{{IN_TEAM}}}[{RANGE}]))"),),
              width=8),
        Panel("Lifecycle transitions / h by action", "timeseries",
              (Query("sum by (action) (rate(liandong_dispatch_referral_transitions_total"
                     f"{{{IN_TEAM}}}[{RATE}])) * 3600", "{{action}}", "may_be_empty", no_responses),), width=24),
    ))
    everywhere = Row("All counties (case events by type)", (
        Panel("Case events in range", "bargauge",
              (Query(f"sum by (event) (increase(liandong_dispatch_events_emitted_total[{RANGE}]))", "{{event}}"),),
              "Cases opened, findings merged, referrals issued, transitions: every county together.", width=24,
              height=6),
    ))
    reference = load_reference_data()
    counties = tuple((f"{c.name} {c.code}", c.code) for c in sorted(reference.counties.values(), key=lambda c: c.code))
    variables = (
        Variable("county", "County", ", ".join(f"{text} : {value}" for text, value in counties), "custom", counties),
        Variable("team", "Team", 'label_values(liandong_dispatch_referrals_issued_total{county=~"$county"}, team)'),
    )
    return Dashboard("liandong-enforcement", "liandong — enforcement",
                     "Per county, township and team: open cases, overdue referrals, on-time rate, returns, "
                     "duplicates merged.", (overview, by_county, by_township, by_team, everywhere), variables)


def dashboards() -> dict[str, Dashboard]:
    return {"operations.json": operations(), "enforcement.json": enforcement()}


def render(dashboard: Dashboard) -> str:
    return json.dumps(dashboard.to_json(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    for name, dashboard in dashboards().items():
        (DASHBOARDS_DIR / name).write_text(render(dashboard), encoding="utf-8")
        print(f"wrote {DASHBOARDS_DIR / name}")


if __name__ == "__main__":
    main()
