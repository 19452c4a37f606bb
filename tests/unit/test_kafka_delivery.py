"""Which bodies are sent their referrals on Kafka topics of their own (services/common/delivery.py)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from services.common.delivery import KafkaDelivery, UnknownBodyId, county_of_body
from services.common.settings import KafkaSettings
from services.common.topics import referrals_topic, responses_topic
from services.reference.loader import load_reference_data

BODIES = [body for body in load_reference_data().bodies()]


def test_every_body_id_of_the_reference_data_names_its_own_county() -> None:
    assert {county_of_body(body.body_id) for body in BODIES} == {body.county_code for body in BODIES}
    for body in BODIES:
        assert county_of_body(body.body_id) == body.county_code, body.body_id


@pytest.mark.parametrize("body_id", ["", "team", "team:21060", "township:2106020011", "team:abcdef:market", "x:"])
def test_a_body_id_without_a_county_or_township_code_is_refused(body_id: str) -> None:
    with pytest.raises(UnknownBodyId):
        county_of_body(body_id)


def test_star_covers_every_body_and_empty_covers_none() -> None:
    every, none = KafkaDelivery.parse("*"), KafkaDelivery.parse("")
    assert every.everywhere and all(every.covers(b.body_id) for b in BODIES)
    assert not none.everywhere and not any(none.covers(b.body_id) for b in BODIES)


def test_a_list_of_counties_covers_exactly_their_bodies() -> None:
    delivery = KafkaDelivery.parse(" 210602, 210624 ")
    covered = set(delivery.bodies(b.body_id for b in BODIES))
    assert covered == {b.body_id for b in BODIES if b.county_code in {"210602", "210624"}}
    assert covered and len(covered) < len(BODIES)
    assert not delivery.covers("not-a-body")


@pytest.mark.parametrize("text", ["21060", "2106020", "abc", "210602;210624", "*,210602"])
def test_a_county_list_with_a_wrong_code_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="six-digit county code"):
        KafkaDelivery.parse(text)
    with pytest.raises(ValidationError, match="LIANDONG_KAFKA_DELIVERY_COUNTIES"):
        KafkaSettings(kafka_delivery_counties=text)


@pytest.mark.parametrize("text", ["*", "", "210602", "210602,210681"])
def test_the_relays_pattern_matches_the_covered_bodies_responses_topics_and_nothing_else(text: str) -> None:
    delivery = KafkaDelivery.parse(text)
    pattern = re.compile(delivery.responses_pattern("liandong"))
    for body in BODIES:
        assert bool(pattern.match(responses_topic(body.body_id))) == delivery.covers(body.body_id), body.body_id
        assert not pattern.match(referrals_topic(body.body_id))
    assert not pattern.match("liandong.referral-responses")
    assert not pattern.match("other.responses.team.210602.market")
