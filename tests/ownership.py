"""Which group owns each test file: one service, ``shared`` or ``cross-service`` (``make test-alone``).

Every ``tests/**/test_*.py`` must match exactly one group's patterns (``fnmatch`` globs, relative to the repository
root); ``python -m tests.by_service`` refuses to run otherwise, so a new test file has to be placed here.

- a service's group: the tests of that service, which must pass with every other service unimportable
  (tests/blocker.py), in the test process and in every process the tests start;
- ``shared``: the tests of the shared packages (services/common, services/reference, schemas, deploy/, the
  contracts), which must pass with every service unimportable;
- ``cross-service``: tests that by their nature run several services together (the stack end to end, one service
  checked against another's output, one fixture or check over several services' apps). ``make test`` runs them;
  the by-service run does not (``--only cross-service`` runs them, with nothing blocked).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

from tests.blocker import SERVICES

ROOT = Path(__file__).resolve().parent.parent
SHARED = "shared"
CROSS = "cross-service"

GROUPS: dict[str, tuple[str, ...]] = {
    "patrol": (
        "tests/unit/test_patrol_*.py",
        "tests/integration/test_patrol_fuzz.py",
        "tests/integration/test_patrol_json_api.py",
        "tests/integration/test_patrol_open311.py",
        "tests/integration/test_patrol_processes.py",
        "tests/integration/test_patrol_stores.py",
        "tests/integration/test_patrol_workers.py",
    ),
    "dispatch": (
        "tests/unit/test_dispatch_*.py",
        "tests/unit/test_dedup.py",
        "tests/unit/test_dedup_properties.py",
        "tests/unit/test_dedup_matters_properties.py",
        "tests/unit/test_routing.py",
        "tests/integration/test_dispatch_crash.py",
        "tests/integration/test_dispatch_rebalance.py",
        "tests/integration/test_dispatch_retention.py",
        "tests/integration/test_relay.py",  # dispatch's relay (services/dispatch/entrypoints/relay.py)
        "tests/integration/test_dispatch_delivery.py",
        "tests/integration/test_dispatch_disk_state.py",
    ),
    "info_share": (
        "tests/unit/test_info_share_*.py",
        "tests/unit/test_work_order_updates.py",
        "tests/integration/test_info_share_api.py",
        "tests/integration/test_info_share_register.py",
        "tests/integration/test_info_share_stack.py",
        "tests/integration/test_info_share_live.py",
        "tests/integration/test_harness_postgres.py",  # the PostgreSQL fixture, checked with info-share's register
    ),
    "workbench": (
        "tests/unit/test_workbench.py",
    ),
    "teams": (
        "tests/integration/test_teams_alone.py",
    ),
    "monitor": (
        "tests/unit/test_monitoring_lag.py",  # the consumer-lag exporter (services/monitor)
    ),
    SHARED: (
        "tests/contract/test_*.py",
        "tests/unit/test_deadlines.py",
        "tests/unit/test_kafka_delivery.py",  # services/common/delivery.py
        "tests/unit/test_envelope.py",
        "tests/unit/test_identifiers_fast_paths.py",
        "tests/unit/test_jwt_claims.py",
        "tests/unit/test_lifecycle.py",
        "tests/unit/test_privacy_corpus.py",
        "tests/unit/test_privacy_masking.py",
        "tests/unit/test_reference_data.py",
        "tests/unit/test_local_stack_env.py",  # deploy/local_stack.py
        "tests/unit/test_monitoring_compose.py",  # deploy/docker-compose.yml
        "tests/unit/test_monitoring_dashboards.py",  # deploy/grafana
        "tests/unit/test_monitoring_rules.py",  # deploy/prometheus
        "tests/integration/test_broker_acl.py",  # deploy/kafka's SASL/ACL broker
        "tests/integration/test_local_kafka_cluster.py",
        "tests/integration/test_local_kafka_storage.py",
        "tests/integration/test_outbox.py",  # services/common/outbox.py
    ),
    CROSS: (
        "tests/e2e/test_*.py",  # the whole stack over HTTP and the broker
        "tests/unit/test_handler_tables.py",  # patrol's and info-share's projections of the case events, side by side
        "tests/integration/test_http_no_server_error.py",  # every app: patrol, info-share
        "tests/integration/test_http_5xx_counted.py",  # patrol's and info-share's apps
        "tests/integration/test_http_abuse.py",  # patrol and info-share servers
        "tests/integration/test_http_credentials.py",  # patrol and info-share servers
        "tests/integration/test_patrol_case_views.py",  # patrol's case view against info-share's register
        "tests/integration/test_dedup_matters.py",  # the whole stack (start_all) through patrol
        "tests/integration/test_monitoring_prometheus.py",  # the whole stack with Prometheus
        "tests/integration/test_open311_clients.py",  # the whole stack (start_all)
        "tests/integration/test_teams_client.py",  # the teams client and CLI against dispatch and the relay
        "tests/integration/test_info_share_db_kill.py",  # info-share fed with dispatch's decisions on sample findings
    ),
}
assert set(GROUPS) == {*SERVICES, SHARED, CROSS}


def test_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py"))


def groups_of(path: str) -> list[str]:
    return [group for group, patterns in GROUPS.items() if any(fnmatchcase(path, p) for p in patterns)]


def problems() -> list[str]:
    """Every test file in no group or in several, and every pattern that matches no file."""
    files = test_files()
    out = []
    for path in files:
        owners = groups_of(path)
        if not owners:
            out.append(f"{path}: in no group (place it in tests/ownership.py)")
        elif len(owners) > 1:
            out.append(f"{path}: in {len(owners)} groups ({', '.join(owners)}); it must be in exactly one")
    for group, patterns in GROUPS.items():
        for pattern in patterns:
            if not any(fnmatchcase(path, pattern) for path in files):
                out.append(f"{group}: pattern {pattern!r} matches no test file")
    for node in CROSS_TESTS:
        path = node.split("::")[0]
        if path not in files or len(groups_of(path)) != 1 or groups_of(path) == [CROSS]:
            out.append(f"CROSS_TESTS: {node} is not a test of a file in one service's or the shared group")
        elif f"def {node.split('::')[-1].split('[')[0]}(" not in (ROOT / path).read_text():
            out.append(f"CROSS_TESTS: {node}: no such test in {path}")
    return out


def files_of(group: str) -> list[str]:
    return [path for path in test_files() if groups_of(path) == [group]]


# Single tests inside a service's file that also run another service's code: owned by cross-service (``make test``
# runs them), deselected from their file's group in the by-service run. node id → which other service and how.
_CASE_VIEW = "patrol's case view filled by dispatch's own logic (tests/patrol_fixtures.py CaseViews.dispatcher)"
CROSS_TESTS: dict[str, str] = {
    "tests/integration/test_patrol_json_api.py::test_status_lookup_follows_the_finding_into_its_case": _CASE_VIEW,
    "tests/integration/test_patrol_open311.py::test_tokens_and_requests_before_and_after_registration": _CASE_VIEW,
    "tests/integration/test_patrol_open311.py::test_get_requests_with_filters": _CASE_VIEW,
    "tests/integration/test_patrol_stores.py::test_case_lookup_reads_the_case_view": _CASE_VIEW,
    "tests/integration/test_patrol_stores.py::test_case_lookup_never_writes": _CASE_VIEW,
    "tests/integration/test_patrol_processes.py::test_open311_request_followed_to_its_case_through_the_stack":
        "the whole stack (start_all): dispatch, info-share, the workbench",
}


def deselected_from(group: str) -> list[str]:
    return [node for node in CROSS_TESTS if groups_of(node.split("::")[0]) == [group]]
