"""Poison records for each input topic: each variant must fail decoding, land on the dead-letter topic with a reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from kafka import KafkaProducer

from schemas.events import CASE_EVENT_MODELS, RESPONSE_TOPIC_MODELS, FindingReported, ReferralResponded, WireModel
from services.common.envelope import PoisonEvent, decode
from tests.topic_reader import read_records

MARK = "faults_poison"
Headers = list[tuple[str, bytes]]
Mutation = Callable[[Headers, bytes], tuple[Headers, bytes]]


def _set_header(headers: Headers, name: str, value: bytes) -> Headers:
    return [(k, v) for k, v in headers if k != name] + [(name, value)]


def _body(mutate: Callable[[dict], None]) -> Mutation:
    def apply(headers: Headers, value: bytes) -> tuple[Headers, bytes]:
        body = json.loads(value)
        mutate(body)
        return headers, json.dumps(body, ensure_ascii=False).encode()
    return apply


def variants(huge_path: tuple[str, ...], missing: str, version_path: tuple[str, ...]) -> dict[str, Mutation]:
    def put(path: tuple[str, ...], value: object) -> Callable[[dict], None]:
        def mutate(body: dict) -> None:
            target = body
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
        return mutate

    return {
        "bad_json": lambda h, v: (h, v[: len(v) // 2]),
        "missing_ce_headers": lambda h, v: ([], v),
        "wrong_ce_type": lambda h, v: (_set_header(h, "ce_type", b"cn.liandong.bogus.v1"), v),
        "wrong_ce_specversion": lambda h, v: (_set_header(h, "ce_specversion", b"0.3"), v),
        "wrong_schema_version": _body(put(version_path, 99)),
        "missing_field": _body(lambda body: body.pop(missing)),
        "huge_value": _body(put(huge_path, "巡" * 300_000)),
    }


def build(topic: str, key: bytes | None, headers: Headers, value: bytes, models: tuple[type[WireModel], ...],
          table: dict[str, Mutation]) -> tuple[list[tuple[str, bytes | None, Headers, bytes]], list[str]]:
    """(records to send, notes): every variant checked locally to be unreadable before it is sent."""
    out, notes = [], []
    for name, mutate in table.items():
        new_headers, new_value = mutate(list(headers), value)
        try:
            decode(new_headers, new_value, models)
            notes.append(f"{topic}: variant {name} still decodes; not sent")
            continue
        except PoisonEvent:
            pass
        mark = f"{topic}:{name}"
        out.append((topic, key, [*new_headers, (MARK, mark.encode())], new_value))
    return out, notes


def finding_poison(topic: str, key: str, headers: Headers, value: bytes) -> tuple[list, list[str]]:
    return build(topic, key.encode(), headers, value, (FindingReported,),
                 variants(("description",), "received_at", ("schema_version",)))


def case_event_poison(topic: str, key: bytes | None, headers: Headers, value: bytes) -> tuple[list, list[str]]:
    return build(topic, key, headers, value, tuple(CASE_EVENT_MODELS),
                 variants(("finding", "description"), "case_id", ("finding", "schema_version")))


def response_poison(topic: str, key: str, headers: Headers, value: bytes) -> tuple[list, list[str]]:
    return build(topic, key.encode(), headers, value, tuple(RESPONSE_TOPIC_MODELS),
                 variants(("reason",), "referral_id", ("schema_version",)))


def accept(referral: object, now: datetime | None = None) -> ReferralResponded:
    return ReferralResponded(response_id=f"faults-accept-{referral.referral_id}",  # type: ignore[attr-defined]
                             referral_id=referral.referral_id, case_id=referral.case_id,  # type: ignore[attr-defined]
                             body_id=referral.body_id, action="accept",  # type: ignore[attr-defined]
                             responded_at=now or datetime.now(UTC))


def send(bootstrap: str, records: list[tuple[str, bytes | None, Headers, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=4_000_000)
    for topic, key, headers, value in records:
        producer.send(topic, value, key=key, headers=headers)
    producer.flush()
    producer.close()


def dead_lettered(bootstrap: str, topic: str) -> dict[str, str]:
    """poison mark → dlq_reason for every marked record on the dead-letter topic."""
    found = {}
    for _key, _value, headers in read_records(bootstrap, topic):
        if MARK in headers:
            found[headers[MARK].decode()] = headers.get("dlq_reason", b"").decode("utf-8", "replace")
    return found
