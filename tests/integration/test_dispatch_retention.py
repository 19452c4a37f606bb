"""Retention over the real broker: a closed case's rows leave dispatch's changelogs as tombstones, so a restarted
worker does not restore them; a sweep dispatch did not send is a dead letter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas.events import (
    CaseTransitioned,
    ReferralAction,
    ReferralOutcome,
    ReferralResponded,
    ResponseRejected,
    StateSweep,
)
from services.common.envelope import encode
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.common.topics import DEAD_LETTERS, REFERRAL_RESPONSES
from services.dispatch.entrypoints.worker import changelog_topic
from services.dispatch.service import CASE_FILES_TABLE, REFERRALS_TABLE
from tests.dispatch_fixtures import (
    TOWNSHIP,
    case_events_of,
    referred_finding,
    send,
)
from tests.stack_fixtures import StackFactory
from tests.topic_reader import read_records

pytestmark = pytest.mark.integration
SECONDS = 1 / 86_400  # in days, as the settings take them


def tombstoned(stack, table: str, key: str) -> bool:  # type: ignore[no-untyped-def]
    """The last record of ``key`` on the table's changelog is a tombstone."""
    topic = changelog_topic(f"{stack.group_prefix}-dispatch", table)
    last = [value for k, value, _h in read_records(stack.bootstrap_servers, topic) if k == json.dumps(key).encode()]
    return bool(last) and last[-1] is None


def test_a_closed_case_leaves_the_changelogs_and_a_restart_does_not_bring_it_back(make_stack: StackFactory) -> None:
    stack = make_stack(extra_env={"LIANDONG_CLOSED_CASE_RETENTION_DAYS": str(5 * SECONDS),
                                  "LIANDONG_RECURRENCE_WINDOW_DAYS": str(5 * SECONDS),
                                  "LIANDONG_STATE_SWEEP_INTERVAL_SECONDS": "1"})
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    worker = stack.start_dispatch()
    referral = referred_finding(stack, "finding-retention-1", seed=21)
    body = referral.body_id
    internal = REFERRAL_RESPONSES.name(stack.topic_prefix)
    township = f"township:{TOWNSHIP}"
    steps = [(ReferralAction.ACCEPT, body, None), (ReferralAction.START_HANDLING, body, None),
             (ReferralAction.FEED_BACK, body, ReferralOutcome.RECTIFIED), (ReferralAction.VERIFY, township, None),
             (ReferralAction.CLOSE, township, None)]
    for n, (action, actor, outcome) in enumerate(steps):
        response = ReferralResponded(response_id=f"ret-{n}", referral_id=referral.referral_id,
                                     case_id=referral.case_id, body_id=actor, action=action, outcome=outcome,
                                     responded_at=datetime.now(UTC))
        send(stack, internal, encode(response, event_id=f"ret-{n}", source="/relay", key=referral.dedup_group))
    poll_until(lambda: [e for e in case_events_of(stack, referral.case_id)
                        if isinstance(e, CaseTransitioned) and e.to_state == "closed"], 60, 0.5, "the case closed")

    poll_until(lambda: tombstoned(stack, CASE_FILES_TABLE, referral.case_id)
               and tombstoned(stack, REFERRALS_TABLE, referral.referral_id), 60, 1.0,
               "the closed case's file and referral tombstoned on the changelogs")
    poll_until(lambda: tombstoned(stack, "dedup_cases", referral.case_id)
               and tombstoned(stack, "dedup_members", "finding-retention-1"), 60, 1.0,
               "the closed case and its finding's membership tombstoned")

    # A worker restored from the changelogs no longer knows the referral: an answer to it is refused as unknown.
    worker.stop()
    stack.start_dispatch()
    late = ReferralResponded(response_id="ret-late", referral_id=referral.referral_id, case_id=referral.case_id,
                             body_id=body, action=ReferralAction.START_HANDLING, responded_at=datetime.now(UTC))
    send(stack, internal, encode(late, event_id="ret-late", source="/relay", key=referral.dedup_group))
    refused = poll_until(lambda: [e for e in case_events_of(stack, referral.case_id)
                                  if isinstance(e, ResponseRejected) and e.response_id == "ret-late"], 60, 0.5,
                         "the late answer refused")
    assert refused[0].code == "not_found"

    # A sweep from anywhere but dispatch, or dated ahead of it, is a dead letter and ends no retention early.
    ahead = StateSweep(swept_at=datetime.now(UTC) + timedelta(days=3650))
    send(stack, internal, encode(ahead, event_id="sweep-ahead", source="/dispatch", key="x"))
    send(stack, internal, encode(StateSweep(swept_at=datetime.now(UTC)), event_id="sweep-elsewhere",
                                 source="/bodies/team:210624:water", key="x"))
    letters = poll_until(lambda: (found := {h.get("ce_id", b"").decode(): h for _k, _v, h in read_records(
        stack.bootstrap_servers, DEAD_LETTERS.name(stack.topic_prefix))}) and {"sweep-ahead", "sweep-elsewhere"}
        <= set(found) and found, 60, 0.5, "both forged sweeps dead-lettered")
    assert b"ahead of dispatch's clock" in letters["sweep-ahead"]["dlq_reason"]
    assert b"only /dispatch sends them" in letters["sweep-elsewhere"]["dlq_reason"]
