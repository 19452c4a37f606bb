"""Kafka delivery switched on per county, over the real broker: a body of a county it does not cover has no topics
and is sent nothing on Kafka, while its referral is on case-events for the register and the lifecycle API; the
relay reads the covered bodies' responses topics only."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from kafka import KafkaAdminClient

from schemas.events import CASE_EVENT_MODELS, ReferralAction, ReferralIssued, ReferralResponded
from services.common.envelope import encode
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.common.topics import (
    CASE_EVENTS,
    REFERRAL_RESPONSES,
    RESPONSES_FAMILY,
    referrals_topic,
    responses_topic,
)
from services.reference.loader import township_office_id
from tests.dispatch_fixtures import COUNTY, REFERENCE, TOWNSHIP, publish_finding, referred_category, send
from tests.stack_fixtures import StackFactory
from tests.topic_reader import read_events, read_records

pytestmark = pytest.mark.integration
COVERED = "210602"  # 元宝区; the findings below are of 宽甸 (COUNTY), which it does not cover
assert COVERED != COUNTY


def topics(stack) -> set[str]:  # type: ignore[no-untyped-def]
    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap_servers)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def referrals_on_case_events(stack) -> list[ReferralIssued]:  # type: ignore[no-untyped-def]
    return [e for e in read_events(stack.bootstrap_servers, CASE_EVENTS.name(stack.topic_prefix), CASE_EVENT_MODELS)
            if isinstance(e, ReferralIssued)]


def answer(body_id: str, response_id: str) -> ReferralResponded:
    return ReferralResponded(response_id=response_id, referral_id=f"{response_id}-referral", case_id="no-such-case",
                             body_id=body_id, action=ReferralAction.ACCEPT, responded_at=datetime.now(UTC))


def test_a_county_kafka_delivery_does_not_cover_gets_no_topics_and_its_referrals_stay_on_case_events(
        make_stack: StackFactory) -> None:
    stack = make_stack(extra_env={"LIANDONG_KAFKA_DELIVERY_COUNTIES": COVERED})
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    stack.start_dispatch()
    publish_finding(stack, "finding-delivery-1", referred_category(datetime.now(UTC)), seed=31)
    issued = poll_until(lambda: next(iter(referrals_on_case_events(stack)), None), 90, 0.5,
                        "the referral on case-events")
    assert issued.finding.finding_id == "finding-delivery-1"
    assert issued.body_id.split(":")[1].startswith(COUNTY)

    present = topics(stack)
    prefix = stack.topic_prefix
    covered = [b.body_id for b in REFERENCE.bodies() if b.county_code == COVERED]
    others = [b.body_id for b in REFERENCE.bodies() if b.county_code != COVERED]
    assert covered and others
    # The covered county's bodies have both their topics; no other body has either, the referred one included.
    assert all(referrals_topic(b, prefix) in present and responses_topic(b, prefix) in present for b in covered)
    body_topics = {t for t in present if t.startswith(f"{prefix}.referrals.") or t.startswith(f"{prefix}.responses.")}
    assert body_topics == {referrals_topic(b, prefix) for b in covered} | {responses_topic(b, prefix) for b in covered}
    assert referrals_topic(issued.body_id, prefix) not in present
    assert referrals_topic(township_office_id(TOWNSHIP), prefix) not in present  # nor the township's copy


def test_the_relay_reads_the_covered_bodies_responses_topics_only(make_stack: StackFactory) -> None:
    stack = make_stack(extra_env={"LIANDONG_KAFKA_DELIVERY_COUNTIES": COVERED})
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    outside = next(b.body_id for b in REFERENCE.bodies() if b.county_code == COUNTY)
    inside = next(b.body_id for b in REFERENCE.bodies() if b.county_code == COVERED)
    # A responses topic for a body outside the covered counties, made by hand (as a careless operator might): the
    # relay must not act on what is written there.
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix, specs=(),
                  extra=[(responses_topic(outside, stack.topic_prefix), RESPONSES_FAMILY)])
    stack.start_relay()
    send(stack, responses_topic(outside, stack.topic_prefix),
         encode(answer(outside, "outside-1"), event_id="outside-1", source="/integration", key=b"g"))
    send(stack, responses_topic(inside, stack.topic_prefix),
         encode(answer(inside, "inside-1"), event_id="inside-1", source="/integration", key=b"g"))
    internal = REFERRAL_RESPONSES.name(stack.topic_prefix)

    def relayed() -> list[bytes]:
        return [value for _k, value, _h in read_records(stack.bootstrap_servers, internal)]
    poll_until(lambda: any(b"inside-1" in v for v in relayed()), 60, 0.5, "the covered body's answer relayed")
    time.sleep(3)  # the relay has read its topics: an answer it had taken from the other one would be there now
    values = relayed()
    assert len(values) == 1 and b"outside-1" not in values[0]
