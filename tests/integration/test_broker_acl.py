"""On the real broker with SASL/SCRAM and ACLs: a body reads only its own referrals and writes only its own
responses topic (never the internal referral-responses); patrol cannot read referrals; the relay reads every body's
responses topic and writes the internal one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from deploy.kafka import security
from deploy.kafka.local_kafka import LocalKafka, free_port
from schemas.events import DeadlineCheck, ReferralAction, ReferralResponded
from services.common.envelope import encode
from services.common.kafka_admin import body_topics, ensure_topics
from services.common.topics import FINDINGS, REFERRAL_RESPONSES, referrals_topic, responses_topic

pytestmark = pytest.mark.integration
PREFIX = "secure"
TEAM_A, TEAM_B = "team:210624:natural_resources", "team:210624:water"
GROUP_A, GROUP_B = "secure-body-a", "secure-body-b"


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(Path(tmp_path_factory.mktemp("secure-kafka")), port=free_port(), controller_port=free_port(),
                        admin_password="admin-test-secret")
    broker.start()
    try:
        admin_options = broker.client_options()
        ensure_topics(broker.bootstrap_servers, PREFIX, extra=body_topics((TEAM_A, TEAM_B), PREFIX),
                      security=admin_options)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers, **admin_options)
        for user in ("team-a", "team-b", "patrol", "relay"):
            security.add_user(admin, user, f"{user}-password")
        security.grant(admin, security.body_acls("team-a", TEAM_A, PREFIX, GROUP_A)
                       + security.body_acls("team-b", TEAM_B, PREFIX, GROUP_B)
                       + security.patrol_acls("patrol", PREFIX)
                       + security.relay_acls("relay", PREFIX, PREFIX))
        admin.close()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all", **admin_options)
        for body in (TEAM_A, TEAM_B):
            producer.send(referrals_topic(body, PREFIX), f"referral for {body}".encode()).get(30)
        producer.close()
        yield broker
    finally:
        broker.stop()


def _read(broker: LocalKafka, user: str, topic: str, group: str | None) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=5000,
                             **broker.client_options(user, f"{user}-password"))
    try:
        if group is None:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            # kafka-python only logs a refused fetch; asking where the topic ends raises the broker's refusal.
            consumer.end_offsets([partition])
        else:
            consumer.subscribe([topic])
        return [record.value for record in consumer]
    finally:
        consumer.close()


def test_body_reads_its_own_referrals_with_its_own_group(secure_broker: LocalKafka) -> None:
    assert _read(secure_broker, "team-a", referrals_topic(TEAM_A, PREFIX), GROUP_A) == [
        f"referral for {TEAM_A}".encode()]


def test_body_cannot_read_another_bodys_topic(secure_broker: LocalKafka) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        _read(secure_broker, "team-a", referrals_topic(TEAM_B, PREFIX), None)


def test_body_cannot_use_another_bodys_group(secure_broker: LocalKafka) -> None:
    with pytest.raises(GroupAuthorizationFailedError):
        _read(secure_broker, "team-a", referrals_topic(TEAM_A, PREFIX), GROUP_B)


def test_patrol_credential_cannot_read_referrals_but_can_write_findings(secure_broker: LocalKafka) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        _read(secure_broker, "patrol", referrals_topic(TEAM_A, PREFIX), None)
    producer = KafkaProducer(bootstrap_servers=secure_broker.bootstrap_servers, acks="all",
                             **secure_broker.client_options("patrol", "patrol-password"))
    try:
        assert producer.send(FINDINGS.name(PREFIX), b"finding").get(30).offset == 0
    finally:
        producer.close()


def test_wrong_password_is_refused(secure_broker: LocalKafka) -> None:
    options = secure_broker.client_options("team-a", "not-the-password")
    with pytest.raises(KafkaError):
        consumer = KafkaConsumer(bootstrap_servers=secure_broker.bootstrap_servers, request_timeout_ms=10_000,
                                 api_version_auto_timeout_ms=10_000, **options)
        try:
            consumer.topics()
        finally:
            consumer.close()


def _write(broker: LocalKafka, user: str, topic: str, value: bytes, headers: list[tuple[str, bytes]] | None = None
           ) -> int:
    """Offset of the record once the broker has it; the broker's refusal is raised."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all", max_block_ms=10_000,
                             **broker.client_options(user, f"{user}-password"))
    try:
        return int(producer.send(topic, value, key=b"group", headers=headers or []).get(30).offset)
    finally:
        producer.close()


def _answer(body_id: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    response = ReferralResponded(response_id="r-1", referral_id="ref-1", case_id="case-1", body_id=body_id,
                                 action=ReferralAction.ACCEPT, responded_at=datetime.now(UTC))
    record = encode(response, event_id="r-1", source="/test", key="group")
    return record.value, record.headers


def test_body_writes_its_own_responses_topic(secure_broker: LocalKafka) -> None:
    value, headers = _answer(TEAM_A)
    assert _write(secure_broker, "team-a", responses_topic(TEAM_A, PREFIX), value, headers) >= 0


def test_body_cannot_write_another_bodys_responses_topic(secure_broker: LocalKafka) -> None:
    value, headers = _answer(TEAM_B)
    with pytest.raises(TopicAuthorizationFailedError):
        _write(secure_broker, "team-a", responses_topic(TEAM_B, PREFIX), value, headers)


def test_body_cannot_write_the_internal_responses_topic(secure_broker: LocalKafka) -> None:
    # Neither another body's answer nor a deadline check can reach dispatch from a body's credentials.
    value, headers = _answer(TEAM_B)
    with pytest.raises(TopicAuthorizationFailedError):
        _write(secure_broker, "team-a", REFERRAL_RESPONSES.name(PREFIX), value, headers)
    check = encode(DeadlineCheck(referral_id="ref-1", case_id="case-1", checked_at=datetime.now(UTC)),
                   event_id="forged-check", source="/dispatch", key="group")
    with pytest.raises(TopicAuthorizationFailedError):
        _write(secure_broker, "team-a", REFERRAL_RESPONSES.name(PREFIX), check.value, check.headers)


def test_relay_reads_every_bodys_responses_and_writes_the_internal_topic(secure_broker: LocalKafka) -> None:
    value, headers = _answer(TEAM_B)
    _write(secure_broker, "team-b", responses_topic(TEAM_B, PREFIX), value, headers)
    assert value in _read(secure_broker, "relay", responses_topic(TEAM_B, PREFIX), f"{PREFIX}-relay")
    assert _write(secure_broker, "relay", REFERRAL_RESPONSES.name(PREFIX), value, headers) >= 0
    with pytest.raises(TopicAuthorizationFailedError):  # the relay writes no body's topic
        _write(secure_broker, "relay", referrals_topic(TEAM_A, PREFIX), value, headers)


def test_patrol_writes_actions_for_open311_updates(secure_broker: LocalKafka) -> None:
    value, headers = _answer(TEAM_A)
    assert _write(secure_broker, "patrol", REFERRAL_RESPONSES.name(PREFIX), value, headers) >= 0
