"""Patrol's SQL adapters on SQLite and PostgreSQL: the idempotency store and its own case view (written by its
worker, read-only for the API)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from schemas.api import FindingSubmission
from services.patrol.adapters.case_views.store import SqlCaseLookup
from services.patrol.adapters.idempotency_store import GroupCommitStore, SqlIdempotencyStore, make_store_engine
from services.patrol.domain.access import Principal
from services.patrol.domain.idempotency import KeyRecord, KeyState, StoreUnavailable
from services.patrol.domain.intake import build_finding
from services.patrol.domain.register import RegisterUnavailable, RequestQuery
from services.patrol.ports import Ack
from services.reference.loader import load_reference_data
from tests.patrol_fixtures import TOWNSHIP, CaseViews, submission

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.patrol_fixtures"]

NOW = datetime.now(UTC).replace(microsecond=0)


def key(client_report_id: str, fingerprint: str = "a" * 64, scope: str = "topic-1") -> KeyRecord:
    return KeyRecord(scope=scope, reporter="officer-1", client_report_id=client_report_id, fingerprint=fingerprint,
                     finding_id=f"f-{client_report_id}", township_code=TOWNSHIP, category_code="c", latitude=40.1,
                     longitude=124.3, state=KeyState.PENDING, claimed_at=NOW)


def test_idempotency_store_claims_accepts_and_releases(database_url: str) -> None:
    store = SqlIdempotencyStore(make_store_engine(database_url))
    assert store.claim([key("k1"), key("k2")]) == [None, None]
    [again] = store.claim([key("k1", fingerprint="b" * 64)])
    assert again is not None and again.fingerprint == "a" * 64 and again.state is KeyState.PENDING
    assert again.claimed_at == NOW  # aware UTC on both backends

    [stored] = store.accept([(key("k1"), Ack(3, 41))])
    assert (stored.state, stored.partition, stored.offset) == (KeyState.ACCEPTED, 3, 41)
    [first_wins] = store.accept([(key("k1"), Ack(3, 99))])
    assert first_wins.offset == 41
    store.release([key("k1"), key("k2", fingerprint="c" * 64)])  # accepted, and a stranger's content: both stay
    assert store.find("topic-1", "f-k1") is not None and store.find("topic-1", "f-k2") is not None
    store.release([key("k2")])
    assert store.find("topic-1", "f-k2") is None and store.claim([key("k2")]) == [None]
    # Another topic incarnation (a wiped broker, a re-created topic) knows nothing of these keys.
    assert store.claim([replace(key("k1"), scope="topic-2")]) == [None]
    assert store.find("topic-2", "f-k1") is not None and store.find("topic-1", "f-unknown") is None


def test_group_commit_answers_concurrent_calls_as_one_order_of_them(database_url: str) -> None:
    store = GroupCommitStore(SqlIdempotencyStore(make_store_engine(database_url)))

    async def claims() -> list[object]:
        # Made at once, so they are written together: the later claims see what the earlier ones claimed.
        return list(await asyncio.gather(
            store.claim([key("g1"), key("g2")]),
            store.claim([key("g1", fingerprint="b" * 64), key("g3")]),
            store.claim([key("g4"), key("g4", fingerprint="c" * 64)]),  # one key twice in a call: first wins
            return_exceptions=True))

    first, second, twice = asyncio.run(claims())
    assert first == [None, None]
    assert isinstance(second, list) and second[1] is None
    assert second[0] is not None and second[0].fingerprint == "a" * 64 and second[0].state is KeyState.PENDING
    assert isinstance(twice, list) and twice[0] is None and twice[1] is not None and twice[1].fingerprint == "a" * 64

    async def settle() -> list[object]:
        # Acknowledgements and releases go before the claims of the same group: a retry of g2 sent while g2's
        # acknowledgement is being recorded replays it instead of publishing again.
        return list(await asyncio.gather(
            store.claim([key("g2")]), store.accept([(key("g2"), Ack(1, 7)), (key("g1"), Ack(1, 8))]),
            store.release([key("g3")]), store.claim([key("g3", fingerprint="d" * 64)]), return_exceptions=True))

    retry, accepted, released, reclaimed = asyncio.run(settle())
    assert isinstance(accepted, list) and [(r.state, r.partition, r.offset) for r in accepted] == [
        (KeyState.ACCEPTED, 1, 7), (KeyState.ACCEPTED, 1, 8)]
    assert isinstance(retry, list) and retry[0] is not None and retry[0].state is KeyState.ACCEPTED
    assert released is None and reclaimed == [None]  # released first, then free for other content
    found = asyncio.run(store.find("topic-1", "f-g3"))
    assert found is not None and found.fingerprint == "d" * 64

    async def one_bad_call() -> list[object]:
        bad = replace(key("g5"), fingerprint=None)  # type: ignore[arg-type]  # refused by the database (NOT NULL)
        return list(await asyncio.gather(store.claim([key("g6")]), store.claim([bad]), store.claim([key("g7")]),
                                         return_exceptions=True))

    good, refused, also_good = asyncio.run(one_bad_call())
    assert good == [None] and also_good == [None] and isinstance(refused, StoreUnavailable)
    assert asyncio.run(store.claim([])) == [] and asyncio.run(store.accept([])) == []
    store.close()
    assert asyncio.run(store.claim([key("g8")])) == [None]  # usable again after close (an app restarted in-process)
    store.close()


def _registered_findings(case_view_url: str) -> list[str]:
    """Two findings of one violation and one elsewhere, decided by dispatch and kept by patrol's projection."""
    reference = load_reference_data()
    officer = Principal("officer-1", "patrol_officer", frozenset({TOWNSHIP}))
    unique = uuid.uuid4().hex[:8]
    register = CaseViews(case_view_url)
    ids = []
    for index, (seed, shift) in enumerate([(31, 0.0), (31, 0.00003), (57, 0.0)]):
        body = submission(f"{unique}-{index}", seed=seed, observed_at=NOW - timedelta(hours=1))
        body["location"]["latitude"] += shift
        finding, group = build_finding(FindingSubmission.model_validate(body), officer, reference,
                                       NOW + timedelta(seconds=index))
        register._apply(register.dispatcher.on_finding(finding, group))
        ids.append(finding.finding_id)
    return ids


def test_case_lookup_reads_the_case_view(database_url: str) -> None:
    first, merged, elsewhere = _registered_findings(database_url)
    lookup = SqlCaseLookup(database_url)
    found = lookup.report(merged)
    assert found is not None
    report, case = found
    assert report.merge_rule is not None and case.opening_finding_id == first and case.report_count == 2
    assert case.routing is not None and case.routing.item_codes and case.referrals
    assert case.referrals[0].accept_by.tzinfo is not None and case.referrals[0].accept_by > NOW
    assert report.received_at == NOW + timedelta(seconds=1)
    assert lookup.report("no-such-finding") is None

    everything = lookup.search(RequestQuery(start=NOW - timedelta(days=1)))
    assert [r.finding_id for r, _c in everything] == [elsewhere, merged, first]  # newest first
    assert [r.finding_id for r, _c in lookup.search(RequestQuery(finding_ids=(first, "x")))] == [first]
    assert lookup.search(RequestQuery(statuses=frozenset({"closed"}))) == []
    assert lookup.search(RequestQuery(township_codes=frozenset({"210603009"}))) == []
    assert lookup.search(RequestQuery(end=NOW - timedelta(seconds=1))) == []
    window = lookup.search(RequestQuery(start=NOW + timedelta(seconds=1), end=NOW + timedelta(seconds=1)))
    assert [r.finding_id for r, _c in window] == [merged]


def test_case_lookup_never_writes(database_url: str) -> None:
    _registered_findings(database_url)
    engine = SqlCaseLookup(database_url)._ready_engine()  # the adapter's own connections
    with pytest.raises(Exception, match=r"(?i)read.only|readonly|attempt to write"), engine.begin() as conn:
        conn.execute(text("DELETE FROM patrol_reports"))


def test_missing_case_view_is_unavailable_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "not-yet" / "patrol-cases.db"
    with pytest.raises(RegisterUnavailable):
        SqlCaseLookup(f"sqlite:///{path}").report("x")
    assert not path.exists()
