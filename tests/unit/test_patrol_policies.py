"""Small patrol policies: idempotency verdicts, rate limits, duplicate items in a batch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.rate_limit import TokenBuckets
from services.patrol.domain.batch import duplicate_items
from services.patrol.domain.idempotency import KeyRecord, KeyState, Verdict, decide, fingerprint


def record(fp: str, state: KeyState) -> KeyRecord:
    return KeyRecord(scope="topic-1", reporter="officer-1", client_report_id="k", fingerprint=fp, finding_id="f",
                     township_code="210603008", category_code="c", latitude=40.1, longitude=124.3, state=state,
                     claimed_at=datetime(2026, 1, 1, tzinfo=UTC), partition=3, offset=7)


@pytest.mark.parametrize(("existing", "verdict"), [
    (None, Verdict.PUBLISH),
    (record("same", KeyState.ACCEPTED), Verdict.REPLAY),
    (record("same", KeyState.PENDING), Verdict.PUBLISH),  # unconfirmed: send again, consumers drop by finding id
    (record("other", KeyState.ACCEPTED), Verdict.CONFLICT),
    (record("other", KeyState.PENDING), Verdict.CONFLICT),  # the unconfirmed one may still land with this id
])
def test_idempotency_verdicts(existing: KeyRecord | None, verdict: Verdict) -> None:
    assert decide(existing, "same") is verdict


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert len(fingerprint({})) == 64


def test_token_bucket_allows_burst_then_refills() -> None:
    buckets = TokenBuckets(per_minute=60, burst=3)
    assert [buckets.take("a", 0.0).allowed for _ in range(3)] == [True, True, True]
    refused = buckets.take("a", 0.0)
    assert not refused.allowed and refused.retry_after_seconds == 1
    assert buckets.take("b", 0.0).allowed  # callers are limited separately
    assert buckets.take("a", 1.0).allowed  # one token back after a second at 60/min
    assert not buckets.take("a", 1.0).allowed


def test_token_bucket_retry_after_reflects_the_rate() -> None:
    buckets = TokenBuckets(per_minute=6, burst=1)
    assert buckets.take("a", 0.0).allowed
    assert buckets.take("a", 0.0).retry_after_seconds == 10


def test_token_bucket_memory_is_bounded() -> None:
    buckets = TokenBuckets(per_minute=600, burst=1, max_keys=10)
    for index in range(100):
        buckets.take(f"caller-{index}", float(index))  # each bucket full again a tenth of a second later
    assert len(buckets._buckets) <= 11


def test_token_bucket_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        TokenBuckets(per_minute=0, burst=1)


def test_duplicate_items_in_a_batch_point_at_the_first() -> None:
    items = [{"client_report_id": "a"}, {"client_report_id": "b"}, {"client_report_id": "a"}, "junk",
             {"client_report_id": 5}, {"client_report_id": "a"}]
    problems = duplicate_items(items)
    assert sorted(problems) == [2, 5]
    assert problems[2].field == "items[2].client_report_id"
    assert problems[5].message == "duplicate of items[0] in the same batch"
