"""The parts that make patrol cheaper per request give the same answers as the plain ways they replace.

The verified-token cache still refuses an expired token; the shared rate-limit table decides as the in-process
buckets do and is one budget for every process that maps it; the fingerprint is byte for byte the stored one; the
memoised partitioner picks aiokafka's (and the Java client's) partition.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import random
import time
from pathlib import Path

import jwt
import pytest
from aiokafka.partitioner import DefaultPartitioner

from services.common.jwt_auth import ALGORITHM, AuthError, VerifiedTokens
from services.common.rate_limit import AuthFailureLimit, TokenBuckets, TooManyAuthFailures
from services.patrol.adapters.auth import Authenticator
from services.patrol.adapters.publisher import KeyHashMemo
from services.patrol.adapters.shared_buckets import SharedTokenBuckets
from services.patrol.domain.idempotency import fingerprint
from services.patrol.settings import PatrolSettings

SECRET = "patrol-unit-secret-0123456789-abcdef"
SETTINGS = PatrolSettings(jwt_secret=SECRET)  # type: ignore[arg-type]


def token(exp: float, **claims: object) -> str:
    body = {"sub": "officer-1", "role": "patrol_officer", "townships": ["210603008"], "iss": SETTINGS.jwt_issuer,
            "aud": SETTINGS.jwt_audience, "exp": int(exp), **claims}
    return jwt.encode(body, SECRET, algorithm=ALGORITHM)


# -- verified tokens ------------------------------------------------------------------------------------------------

def test_a_cached_token_is_still_refused_once_it_expires() -> None:
    authenticator = Authenticator(SETTINGS)
    short = token(time.time() + 1)
    assert authenticator.from_token(short).subject == "officer-1"
    assert authenticator.from_token(short).subject == "officer-1"  # from the cache
    time.sleep(max(0.0, jwt.decode(short, options={"verify_signature": False})["exp"] - time.time()) + 0.05)
    with pytest.raises(AuthError, match="token expired"):
        authenticator.from_token(short)


def test_the_cache_applies_pyjwt_time_rules_on_every_use() -> None:
    now = [1_000.0]
    cache: VerifiedTokens[str] = VerifiedTokens(clock=lambda: now[0])
    cache.put("t", {"exp": 1_010, "nbf": 1_000, "iat": 999}, "principal")
    assert cache.get("t") == "principal"
    now[0] = 1_009.999
    assert cache.get("t") == "principal"
    now[0] = 1_010.0  # PyJWT: expired when exp <= now
    assert cache.get("t") is None
    cache.put("clock-went-back", {"exp": 2_000, "nbf": 1_050}, "principal")
    assert cache.get("clock-went-back") is None  # not yet valid by nbf: verified in full again


def test_refused_tokens_are_never_cached() -> None:
    authenticator = Authenticator(SETTINGS)
    forged = jwt.encode({"sub": "officer-1", "iss": SETTINGS.jwt_issuer, "aud": SETTINGS.jwt_audience,
                         "exp": int(time.time()) + 600}, "another-secret-0123456789-abcdef", algorithm=ALGORITHM)
    for _ in range(2):
        with pytest.raises(AuthError, match="invalid token"):
            authenticator.from_token(forged)
    assert authenticator._verified.get(forged) is None


def test_the_cache_stays_bounded() -> None:
    cache: VerifiedTokens[int] = VerifiedTokens(max_tokens=3, clock=lambda: 0.0)
    for i in range(10):
        cache.put(f"t{i}", {"exp": 100}, i)
    assert [cache.get(f"t{i}") for i in range(10)] == [None] * 7 + [7, 8, 9]


# -- rate limits shared between processes ---------------------------------------------------------------------------

def test_shared_buckets_decide_as_the_in_process_buckets(tmp_path: Path) -> None:
    rng = random.Random(7)
    shared = SharedTokenBuckets(tmp_path / "buckets", per_minute=30, burst=4)
    plain = TokenBuckets(per_minute=30, burst=4)
    now = 100.0
    for _ in range(2_000):
        now += rng.choice([0.0, 0.01, 0.5, 2.0, 9.0])
        key = f"principal:{rng.randrange(5)}"
        if rng.random() < 0.2:
            assert shared.peek(key, now) == plain.peek(key, now)
        else:
            assert shared.take(key, now) == plain.take(key, now)
    shared.close()


def _take_all(path: Path, count: int, now: float) -> None:
    buckets = SharedTokenBuckets(path, per_minute=1, burst=5)
    for _ in range(count):
        buckets.take("principal:officer-1", now)
    buckets.close()


def test_two_processes_share_one_budget(tmp_path: Path) -> None:
    path = tmp_path / "buckets"
    now = time.monotonic()
    child = multiprocessing.get_context("spawn").Process(target=_take_all, args=(path, 3, now))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    here = SharedTokenBuckets(path, per_minute=1, burst=5)
    assert [here.take("principal:officer-1", now).allowed for _ in range(3)] == [True, True, False]
    assert here.take("principal:someone-else", now).allowed
    here.close()


def test_a_full_table_reuses_refilled_then_stalest_slots(tmp_path: Path) -> None:
    buckets = SharedTokenBuckets(tmp_path / "buckets", per_minute=60, burst=1, slots=4)
    for i in range(4):
        assert buckets.take(f"k{i}", 10.0 + i).allowed
    assert not buckets.take("k3", 13.0).allowed
    # Five keys in four slots: the newcomer takes the slot untouched longest (k0's), the others keep their buckets.
    assert buckets.take("k4", 13.5).allowed
    assert not buckets.take("k3", 13.5).allowed
    buckets.close()


def test_auth_failures_can_use_shared_buckets(tmp_path: Path) -> None:
    guard = AuthFailureLimit(10, 2, SharedTokenBuckets(tmp_path / "failures", per_minute=10, burst=2))

    def refuse() -> None:
        raise AuthError(401, "bad")

    for _ in range(2):
        with pytest.raises(AuthError):
            guard.authenticate("127.0.0.9", 5.0, refuse)
    with pytest.raises(TooManyAuthFailures):
        guard.authenticate("127.0.0.9", 5.0, lambda: "checked")
    assert guard.authenticate("127.0.0.8", 5.0, lambda: "checked") == "checked"


# -- the same bytes and partitions as before ------------------------------------------------------------------------

def test_fingerprint_is_unchanged() -> None:
    content = {"b": [1, 2.5, None], "a": "巡查 é", "when": time.gmtime(0)[:3], "nested": {"z": 1, "y": True}}
    expected = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    assert fingerprint(content) == hashlib.sha256(expected.encode()).hexdigest()


def test_memoised_partitioner_picks_the_default_partition() -> None:
    memo, default = KeyHashMemo(max_keys=16), DefaultPartitioner()
    rng = random.Random(3)
    for _ in range(2_000):
        key = f"dedup-group-{rng.randrange(40)}".encode()
        partitions = list(range(rng.choice([1, 3, 12, 50])))
        assert memo(key, partitions, partitions) == default(key, partitions, partitions)
