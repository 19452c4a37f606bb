"""Nobody can answer for another: over the real broker, with dispatch and the relay running.

A body's answer is acted on as the body whose responses topic it came from, at the relay's receive time, whatever
the payload says; a deadline check that dispatch did not send goes to the dead-letter topic and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from schemas.events import (
    CaseTransitioned,
    DeadlineCheck,
    ReferralAction,
    ReferralIssued,
    ReferralOverdue,
    ReferralResponded,
    ResponseRejected,
)
from services.common.envelope import encode
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.common.topics import DEAD_LETTERS, REFERRAL_RESPONSES, responses_topic
from tests.dispatch_fixtures import (
    COUNTY,
    case_events_of,
    referred_finding,
    send,
)
from tests.stack_fixtures import StackFactory
from tests.topic_reader import read_records

pytestmark = pytest.mark.integration


def answer(referral: ReferralIssued, *, claimed_body: str, response_id: str, action: ReferralAction,
           responded_at: datetime | None = None):  # type: ignore[no-untyped-def]
    response = ReferralResponded(response_id=response_id, referral_id=referral.referral_id,
                                 case_id=referral.case_id, body_id=claimed_body, action=action,
                                 responded_at=responded_at or datetime.now(UTC))
    return encode(response, event_id=response_id, source="/integration", key=referral.dedup_group,
                  subject=referral.case_id)


def dead_letters(stack) -> list[dict[str, bytes]]:  # type: ignore[no-untyped-def]
    return [headers for _key, _value, headers in read_records(stack.bootstrap_servers,
                                                              DEAD_LETTERS.name(stack.topic_prefix))]


def test_an_answer_is_acted_on_as_the_body_whose_topic_it_came_from(make_stack: StackFactory) -> None:
    stack = make_stack()
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    stack.start_dispatch()
    stack.start_relay()
    referral = referred_finding(stack, "finding-relay-1", seed=11)
    body_b = referral.body_id
    body_a = f"team:{COUNTY}:health" if not body_b.endswith("health") else f"team:{COUNTY}:water"

    # A writes, on its own topic, an acceptance of B's referral that claims to come from B.
    send(stack, responses_topic(body_a, stack.topic_prefix),
         answer(referral, claimed_body=body_b, response_id="a-pretends-b", action=ReferralAction.ACCEPT))
    rejected = poll_until(lambda: [e for e in case_events_of(stack, referral.case_id)
                                   if isinstance(e, ResponseRejected)], 60, 0.5, "A's answer refused")
    assert rejected[0].code == "forbidden" and rejected[0].body_id == body_a
    assert rejected[0].state == "issued" and body_b in rejected[0].reason
    assert not [e for e in case_events_of(stack, referral.case_id) if isinstance(e, CaseTransitioned)]

    # B's own acceptance, backdated in the payload to before the referral existed: the relay's receive time is
    # used (a backdated responded_at would be refused as predating the referral).
    sent_at = datetime.now(UTC)
    send(stack, responses_topic(body_b, stack.topic_prefix),
         answer(referral, claimed_body=body_a, response_id="b-accepts", action=ReferralAction.ACCEPT,
                responded_at=datetime(2020, 1, 1, tzinfo=UTC)))
    accepted = poll_until(lambda: [e for e in case_events_of(stack, referral.case_id)
                                   if isinstance(e, CaseTransitioned)], 60, 0.5, "B's acceptance recorded")
    assert accepted[0].actor_body_id == body_b and accepted[0].from_state == "issued"
    assert accepted[0].channel is not None and accepted[0].channel.value == "kafka"
    assert sent_at - timedelta(seconds=1) <= accepted[0].occurred_at <= datetime.now(UTC)
    assert accepted[0].stated_at is None  # the payload's responded_at is not taken as the body's statement either
    assert accepted[0].response_id not in ("b-accepts", "a-pretends-b")  # scoped to the body by the relay


def test_unreadable_records_and_forged_deadline_checks_are_dead_letters(make_stack: StackFactory) -> None:
    stack = make_stack()
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    stack.start_dispatch()
    stack.start_relay()
    referral = referred_finding(stack, "finding-relay-2", seed=12)
    body = referral.body_id
    internal = REFERRAL_RESPONSES.name(stack.topic_prefix)
    own = responses_topic(body, stack.topic_prefix)
    far_ahead = referral.accept_by + timedelta(days=30)  # a check this late would make the referral overdue

    # Straight onto the internal topic (the unsecured broker lets anyone): a check from the future, and a check
    # from another source.
    check = DeadlineCheck(referral_id=referral.referral_id, case_id=referral.case_id, checked_at=far_ahead)
    send(stack, internal, encode(check, event_id="forged-future", source="/dispatch", key=referral.dedup_group))
    send(stack, internal, encode(check, event_id="forged-source", source=f"/bodies/{body}",
                                 key=referral.dedup_group))
    # On the body's own topic: a deadline check, a record that is not JSON, an answer without a key.
    send(stack, own, encode(check, event_id="check-on-body-topic", source="/dispatch", key=referral.dedup_group))
    garbage = answer(referral, claimed_body=body, response_id="garbage", action=ReferralAction.ACCEPT)
    send(stack, own, type(garbage)(garbage.key, b"{not json", garbage.headers))
    unkeyed = answer(referral, claimed_body=body, response_id="unkeyed", action=ReferralAction.ACCEPT)
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    producer.send(own, unkeyed.value, headers=unkeyed.headers).get(30)
    producer.close()
    # ... and then a good answer: processing went on past every one of them.
    send(stack, own, answer(referral, claimed_body=body, response_id="after-the-garbage",
                            action=ReferralAction.ACCEPT))

    poll_until(lambda: [e for e in case_events_of(stack, referral.case_id) if isinstance(e, CaseTransitioned)],
               60, 0.5, "the good answer relayed after the bad ones")
    def five_letters() -> list[dict[str, bytes]] | None:
        found = dead_letters(stack)
        return found if len(found) >= 5 else None

    letters = poll_until(five_letters, 60, 0.5, "five dead letters")
    by_id = {h.get("ce_id", b"").decode(): h for h in letters}
    assert by_id["forged-future"]["dlq_service"] == b"dispatch"
    assert b"ahead of dispatch's clock" in by_id["forged-future"]["dlq_reason"]
    assert b"only /dispatch sends them" in by_id["forged-source"]["dlq_reason"]
    assert by_id["check-on-body-topic"]["dlq_service"] == b"relay"
    assert b"unexpected event type" in by_id["check-on-body-topic"]["dlq_reason"]
    assert by_id["garbage"]["dlq_topic"] == own.encode() and b"not JSON" in by_id["garbage"]["dlq_reason"]
    assert b"without a key" in by_id["unkeyed"]["dlq_reason"]
    assert not [e for e in case_events_of(stack, referral.case_id) if isinstance(e, ReferralOverdue)]
