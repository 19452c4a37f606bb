"""Schemathesis fuzzing of the in-process app on the real broker: no 5xx, documented answers, no bad acceptance."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import ValidationError
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance

from schemas.api import FindingSubmission
from services.common.audit import MemoryAuditLog
from services.patrol.adapters.auth import issue_token
from services.patrol.wiring import create_app
from services.reference.geography import county_of
from services.reference.loader import load_reference_data
from tests.patrol_fixtures import HOTLINE_KEY, TOWNSHIP, CaseViews, patrol_settings

pytestmark = pytest.mark.integration

EXAMPLES = 60  # per operation and generation mode (positive, negative), plus the documented examples
BUDGET_SECONDS = 110.0


def refusal_reason(item: Any, now: datetime) -> str | None:
    """Why ``item`` must not be accepted, judged from the rules directly rather than through patrol's code."""
    try:
        sub = FindingSubmission.model_validate(item)
    except ValidationError as exc:
        return f"schema-invalid: {exc.errors()[0]['msg']}"
    reference = load_reference_data()
    township = reference.townships.get(sub.township_code)
    if township is None or sub.township_code != TOWNSHIP:
        return "a township the caller does not serve"
    if sub.category_code not in reference.categories_for_township(sub.township_code, now):
        return "category not on the township's list"
    if county_of(sub.location.latitude, sub.location.longitude) != township.county_code:
        return "point outside the township's county"
    if not now - timedelta(days=30, minutes=5) <= sub.observed_at <= now + timedelta(minutes=10):
        return "observed time out of range"
    return None


def accepts_only_valid_findings(ctx: Any, response: Any, case: Any) -> bool | None:
    now = datetime.now(UTC)
    if case.method != "POST" or response.status_code >= 300:
        return None
    if case.path == "/v1/findings":
        problem = refusal_reason(case.body, now)
        assert problem is None, f"accepted an invalid finding ({problem}): {case.body!r}"
    elif case.path == "/v1/findings/batch":
        for result in response.json()["results"]:
            if result["status"] == 202:
                problem = refusal_reason(case.body["items"][result["index"]], now)
                assert problem is None, f"batch item {result['index']} accepted although {problem}"
    return True


def test_fuzz_finds_no_server_error_and_no_invalid_acceptance(kafka_bootstrap: str, topic_prefix: str,
                                                              tmp_path: Path) -> None:
    # Limits off: the fuzzer sends far more requests, and (check ST401) bad credentials, than any one client may.
    config = patrol_settings(kafka_bootstrap, topic_prefix, tmp_path, rate_limit_burst=1_000_000,
                             rate_limit_per_minute=60_000_000.0, auth_failure_burst=1_000_000,
                             auth_failures_per_minute=60_000_000.0)
    CaseViews(config.case_view_url)  # an empty case view, as patrol's worker creates it on start
    app = create_app(config, audit=MemoryAuditLog())
    headers = {"Authorization": f"Bearer {issue_token(config, 'officer-fuzz', [TOWNSHIP])}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tally: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()

    def exercise(case: Any) -> None:
        if case.method == "POST" and case.path.startswith("/open311/") and isinstance(case.body, dict):
            case.body["api_key"] = HOTLINE_KEY  # get past authentication to the form checks
        response = case.call(headers=headers)
        tally[f"{case.method} {case.path} {response.status_code // 100}xx"] += 1
        try:
            assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
            # Schema-valid input may still break the township's list or the map: a 4xx is right for it.
            case.validate_response(response, headers=headers, excluded_checks=[positive_data_acceptance],
                                   additional_checks=[accepts_only_valid_findings])
        except (AssertionError, BaseExceptionGroup) as exc:  # collect all: one failure must not hide another
            failures.append(f"{case.method} {case.formatted_path}: {str(exc)[:1500]}")

    def run(strategy: Any, examples: int) -> None:
        configured = settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        # An operation with nothing to negate (no parameters, no body) has no negative cases.
        with contextlib.suppress(Unsatisfiable):
            configured(given(case=strategy)(exercise))()

    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in schemathesis.GenerationMode:
                run(operation.as_strategy(generation_mode=mode), EXAMPLES)
            for documented in schema.get_strategies_from_examples(operation):
                run(documented, 3)  # the documented examples (accepted, then replayed)
    finally:
        shutdown_lifespans()
    elapsed = time.monotonic() - started
    total = sum(tally.values())
    by_class = Counter(key.rsplit(" ", 1)[1] for key in tally.elements())
    print(f"\nfuzz: {total} requests in {elapsed:.0f} s, {dict(sorted(by_class.items()))}, {len(failures)} failures")
    for operation in sorted({key.rsplit(" ", 1)[0] for key in tally}):
        print(f"  {operation}: " + ", ".join(f"{key.rsplit(' ', 1)[1]} {count}" for key, count in sorted(
            tally.items()) if key.rsplit(" ", 1)[0] == operation))
    assert not failures, "\n".join(failures[:20])
    assert by_class["2xx"] > 0 and by_class["4xx"] > 0 and total > 500
    # The documented examples are accepted: the happy paths are exercised too.
    assert tally["POST /v1/findings 2xx"] > 0 and tally["POST /open311/v2/requests.{fmt} 2xx"] > 0
    assert elapsed < BUDGET_SECONDS
