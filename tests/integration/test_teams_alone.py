"""The teams client and CLI on their own, over the real broker: the test writes the referrals dispatch would write on
a body's referrals topic, the body reads them and answers, and each answer lands on the body's own responses topic
as the relay (dispatch's) will read it. No dispatch runs here, so the internal referral-responses topic stays empty:
the client never writes it itself."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from schemas.events import (
    FindingReported,
    Location,
    ReferralAction,
    ReferralIssued,
    ReferralResponded,
    ReturnReason,
    RoutingExplanation,
)
from services.common.envelope import decode, encode
from services.common.kafka_admin import body_topics, ensure_topics
from services.common.topics import REFERRAL_RESPONSES, referrals_topic, responses_topic
from services.reference.geography import random_point_in_county
from services.reference.loader import load_reference_data
from services.teams.client import ReferralClient, idempotency_key
from tests.topic_reader import read_records

pytestmark = pytest.mark.integration

REFERENCE = load_reference_data()
TOWNSHIP = "210624100"  # a township of 宽甸满族自治县
COUNTY = "210624"
BODY = f"team:{COUNTY}:natural_resources"
OTHER = f"team:{COUNTY}:water"


def referral(n: int, body_id: str = BODY) -> ReferralIssued:
    """A referral as dispatch issues it: a finding of TOWNSHIP referred to ``body_id``."""
    now = datetime.now(UTC).replace(microsecond=0)
    category = sorted(REFERENCE.categories_for_township(TOWNSHIP, now))[n % 5]
    lat, lon = random_point_in_county(COUNTY, random.Random(n))
    finding = FindingReported(
        finding_id=f"finding-{n}", client_report_id=f"report-{n}", source="patrol", reporter="officer-1",
        township_code=TOWNSHIP, county_code=COUNTY, category_code=category,
        location=Location(latitude=lat, longitude=lon), observed_at=now, received_at=now, description="巡查發現")
    return ReferralIssued(
        event_id=f"referral-issued-{n}", case_id=f"case-{n}", occurred_at=now, referral_id=f"referral-{n}",
        body_id=body_id, township_code=TOWNSHIP, category_code=category,
        routing=RoutingExplanation(rule="county_department", detail="test"), accept_by=now + timedelta(days=3),
        finding=finding, dedup_group=f"group-{n}")


def issue(bootstrap_servers: str, prefix: str, referrals: list[ReferralIssued]) -> None:
    """Each referral on its body's referrals topic, encoded as dispatch's worker encodes it."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    try:
        for model in referrals:
            record = encode(model, event_id=model.event_id, source="/dispatch", key=model.case_id,
                            subject=model.case_id)
            producer.send(referrals_topic(model.body_id, prefix), record.value, key=record.key,
                          headers=record.headers).get(30)
    finally:
        producer.close()


def answers(bootstrap_servers: str, topic: str) -> list[tuple[bytes | None, dict[str, bytes], ReferralResponded]]:
    """Every answer on ``topic``: (key, headers, the response)."""
    out = []
    for key, value, headers in read_records(bootstrap_servers, topic):
        _ce, model = decode(headers, value, (ReferralResponded,))
        assert isinstance(model, ReferralResponded)
        out.append((key, headers, model))
    return out


@pytest.fixture
def body_topics_ready(kafka_bootstrap: str, topic_prefix: str) -> str:
    """The two bodies' referrals and responses topics (dispatch's deployment creates them); yields the prefix."""
    ensure_topics(kafka_bootstrap, topic_prefix, specs=(), extra=body_topics([BODY, OTHER], topic_prefix))
    return topic_prefix


def test_a_team_reads_its_referrals_and_its_answers_land_on_its_responses_topic(kafka_bootstrap: str,
                                                                               body_topics_ready: str) -> None:
    prefix = body_topics_ready
    first, second, elsewhere = referral(1), referral(2), referral(3, body_id=OTHER)
    issue(kafka_bootstrap, prefix, [first, second, elsewhere])

    client = ReferralClient(kafka_bootstrap, BODY, prefix, group_id=f"{prefix}-team")
    try:
        assert list(client.watch(idle_timeout_ms=3000)) == [first, second]  # its own topic only, in order
        assert list(client.watch(idle_timeout_ms=3000)) == []  # each was committed once handled

        accepted = client.accept(first)
        returned = client.return_referral(second, reason="不屬本部門職責", reason_code=ReturnReason.NOT_OUR_DUTY)
        again = client.accept(first)  # the same command again: the same action, under the same id
    finally:
        client.close()

    on_topic = answers(kafka_bootstrap, responses_topic(BODY, prefix))
    assert [model for _k, _h, model in on_topic] == [accepted, returned, again]
    assert again.response_id == accepted.response_id and again.action is ReferralAction.ACCEPT
    (key, headers, accept), (return_key, return_headers, back) = on_topic[0], on_topic[1]
    assert (accept.action, accept.referral_id, accept.case_id, accept.body_id) == (
        ReferralAction.ACCEPT, first.referral_id, first.case_id, BODY)
    assert accept.response_id == idempotency_key(first.referral_id, ReferralAction.ACCEPT, None, {
        "reason": None, "outcome": None, "reason_code": None, "designated_body_id": None, "due_by": None,
        "evidence": []})
    assert (back.action, back.referral_id, back.case_id, back.reason_code, back.reason) == (
        ReferralAction.RETURN, second.referral_id, second.case_id, ReturnReason.NOT_OUR_DUTY, "不屬本部門職責")
    assert back.response_id != accept.response_id
    # Keyed by the case's dedup group (dispatch's partition of the case), from the body, about the case.
    assert (key, return_key) == (first.dedup_group.encode(), second.dedup_group.encode())
    assert headers["ce_source"] == f"/bodies/{BODY}".encode() and headers["ce_subject"] == first.case_id.encode()
    assert headers["ce_id"] == accept.response_id.encode()
    assert return_headers["ce_subject"] == second.case_id.encode()

    assert read_records(kafka_bootstrap, responses_topic(OTHER, prefix)) == []
    assert read_records(kafka_bootstrap, REFERRAL_RESPONSES.name(prefix)) == []  # the relay's, not the client's


def run_cli(kafka_bootstrap: str, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIANDONG_BOOTSTRAP_SERVERS": kafka_bootstrap, "LIANDONG_TOPIC_PREFIX": prefix}
    return subprocess.run([sys.executable, "-m", "services.teams", *args], env=env, capture_output=True, text=True,
                          timeout=90)


def test_the_cli_watches_accepts_and_returns(kafka_bootstrap: str, body_topics_ready: str) -> None:
    prefix = body_topics_ready
    first, second = referral(11), referral(12)
    issue(kafka_bootstrap, prefix, [first, second])

    watched = run_cli(kafka_bootstrap, prefix, "--body", BODY, "watch", "--idle-timeout-seconds", "3")
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [first.referral_id, second.referral_id], watched.stdout
    assert f"case {first.case_id}" in lines[0] and f"dedup group {first.dedup_group}" in lines[0]
    assert "COPY" not in watched.stdout  # both were sent to this body

    done = run_cli(kafka_bootstrap, prefix, "--body", BODY, "accept", first.referral_id)
    assert done.returncode == 0, done.stderr
    assert f"sent accept for {first.referral_id}" in done.stdout and responses_topic(BODY, prefix) in done.stdout
    done = run_cli(kafka_bootstrap, prefix, "--body", BODY, "return", second.referral_id, "--reason-code",
                   "wrong_place", "--reason", "不在本轄區")
    assert done.returncode == 0, done.stderr
    # A referral that is not on this body's topic cannot be answered: nothing is sent.
    missing = run_cli(kafka_bootstrap, prefix, "--body", BODY, "accept", "referral-nobody-sent")
    assert missing.returncode == 2 and "no referral referral-nobody-sent" in missing.stderr

    on_topic = [model for _k, _h, model in answers(kafka_bootstrap, responses_topic(BODY, prefix))]
    assert [(m.action, m.referral_id, m.case_id, m.body_id) for m in on_topic] == [
        (ReferralAction.ACCEPT, first.referral_id, first.case_id, BODY),
        (ReferralAction.RETURN, second.referral_id, second.case_id, BODY)]
    assert (on_topic[1].reason_code, on_topic[1].reason) == (ReturnReason.WRONG_PLACE, "不在本轄區")
    assert read_records(kafka_bootstrap, REFERRAL_RESPONSES.name(prefix)) == []
