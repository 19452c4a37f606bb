"""The CloudEvents codec: its fast paths write and read exactly what the SDK's own path does, and refuse the same.

``sdk_encode`` and ``sdk_decode`` are the codec as it was written against the CloudEvents SDK alone; every record
either way must be byte-for-byte the same (but for ``ce_time`` when it is "now"), and every refusal the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from dateutil.parser import isoparse
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import (
    CASE_EVENT_MODELS,
    CaseOpened,
    DeadlineCheck,
    FindingReported,
    Location,
    RoutingExplanation,
    Subject,
    WireModel,
)
from services.common import envelope
from services.common.envelope import PoisonEvent, Record, decode, encode

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORMAT = JSONFormat()
AT = datetime(2026, 11, 23, 2, 0, 0, 123456, tzinfo=UTC)


def sdk_encode(model: WireModel, *, event_id: str, source: str, key: str | None, subject: str | None = None,
               time: datetime | None = None) -> Record:
    attributes: dict[str, Any] = {
        "id": event_id, "source": source, "type": model.CE_TYPE, "specversion": "1.0",
        "datacontenttype": "application/json",
        "time": (time.replace(tzinfo=UTC) if time.tzinfo is None else time) if time else datetime.now(UTC),
    }
    if subject:
        attributes["subject"] = subject
    event = CloudEvent(attributes=attributes, data=model.model_dump_json().encode())
    message = to_binary(event, FORMAT, key_mapper=lambda _event: key)
    raw_key = message.key.encode() if isinstance(message.key, str) else message.key
    return Record(raw_key, message.value, list(message.headers.items()))


def sdk_decode(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes], value: bytes | None,
               models: Iterable[type[WireModel]]) -> tuple[BaseCloudEvent, WireModel]:
    header_map = dict(headers.items() if isinstance(headers, Mapping) else headers)
    by_type = {model.CE_TYPE: model for model in models}
    ce_type = header_map.get("ce_type", b"").decode("utf-8", "replace")
    if not ce_type:
        raise PoisonEvent("missing ce_type header: not a binary-mode CloudEvent")
    if header_map.get("ce_specversion") != b"1.0":
        raise PoisonEvent(f"unsupported ce_specversion {header_map.get('ce_specversion')!r}")
    model = by_type.get(ce_type)
    if model is None:
        raise PoisonEvent(f"unexpected event type {ce_type!r} on this topic")
    if not value:
        raise PoisonEvent("empty body")
    try:
        event = from_binary(KafkaMessage(headers=header_map, key=None, value=value), FORMAT)
    except Exception as exc:
        raise PoisonEvent(f"invalid CloudEvents envelope: {exc}") from exc
    try:
        return event, model.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise PoisonEvent(f"{ce_type}: {where}: {first['msg']} ({exc.error_count()} error(s))") from exc


def outcome(call: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        result = call(*args, **kwargs)
    except Exception as exc:
        return (type(exc).__name__, str(exc))
    return ("ok", (result.key, result.value, result.headers) if isinstance(result, Record) else result)


def finding(description: str = "巡查發現違建", subjects: tuple[Subject, ...] = ()) -> FindingReported:
    return FindingReported(
        finding_id="f-1", client_report_id="c-1", source="patrol", reporter="officer-1", township_code="210624100",
        county_code="210624", category_code="illegal_construction", location=Location(latitude=40.7, longitude=124.8),
        observed_at=AT, received_at=AT, description=description, subjects=subjects,
    )


def case_opened() -> CaseOpened:
    return CaseOpened(event_id="e-1", case_id="c-1", occurred_at=AT, finding=finding(), dedup_group="construction",
                      lead_body_id="team:210624:housing", co_body_ids=("team:210624:natural_resources",),
                      routing=RoutingExplanation(rule="county_department", item_codes=("DD-1",), detail="移送"))


def valid_record(subject: str | None = "f-1") -> Record:
    return encode(finding(), event_id="f-1", source="/patrol/210624100", key="construction", subject=subject,
                  time=AT)


def without_time(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(name, value) for name, value in headers if name != "ce_time"]


# -- encode ---------------------------------------------------------------------------------------------------------

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30)),
                           timezone(timedelta(seconds=-1)), timezone(timedelta(hours=8), "Asia/Shanghai")])
TIMES = st.one_of(st.none(), st.datetimes(timezones=st.one_of(st.none(), OFFSETS)))
IDS = st.one_of(st.text(max_size=40), st.uuids().map(str))


@PROPERTY
@given(IDS, st.text(max_size=20), st.one_of(st.none(), st.text(max_size=20)),
       st.one_of(st.none(), st.text(max_size=20)), TIMES, st.text(max_size=60))
def test_encode_writes_what_the_sdk_writes(event_id: str, source: str, key: str | None, subject: str | None,
                                           time: datetime | None, description: str) -> None:
    model = finding(description=description)
    expected = outcome(sdk_encode, model, event_id=event_id, source=source, key=key, subject=subject, time=time)
    got = outcome(encode, model, event_id=event_id, source=source, key=key, subject=subject, time=time)
    if time is None and expected[0] == got[0] == "ok":  # "now" differs by the call's moment only
        expected = ("ok", (expected[1][0], expected[1][1], without_time(expected[1][2])))
        got = ("ok", (got[1][0], got[1][1], without_time(got[1][2])))
    assert got == expected


@pytest.mark.parametrize("model", [case_opened(), DeadlineCheck(referral_id="r", case_id="c", checked_at=AT)])
@pytest.mark.parametrize("time", [AT, AT.replace(microsecond=0), AT.replace(tzinfo=None),
                                  AT.astimezone(timezone(timedelta(hours=8)))])
def test_encode_of_each_kind_of_event_matches_the_sdk(model: WireModel, time: datetime) -> None:
    kwargs: dict[str, Any] = {"event_id": "e-1", "source": "/dispatch", "key": "c-1", "subject": "c-1", "time": time}
    assert encode(model, **kwargs) == sdk_encode(model, **kwargs)


def test_encode_now_writes_the_time_as_the_sdk_does() -> None:
    before = datetime.now(UTC)
    record = encode(finding(), event_id="e", source="/s", key=None)
    written = isoparse(dict(record.headers)["ce_time"].decode())
    assert before <= written <= datetime.now(UTC)
    assert dict(record.headers)["ce_time"].decode().endswith("Z")


@pytest.mark.parametrize(("event_id", "source", "subject"), [("", "/s", None), ("e", "", None), ("e", "/s", 7),
                                                             (7, "/s", None), ("e", None, None)])
def test_encode_refuses_what_the_sdk_refuses(event_id: Any, source: Any, subject: Any) -> None:
    expected = outcome(sdk_encode, finding(), event_id=event_id, source=source, key="k", subject=subject, time=AT)
    assert expected[0] != "ok"
    assert outcome(encode, finding(), event_id=event_id, source=source, key="k", subject=subject, time=AT) == expected


def test_encode_of_a_model_without_event_type_is_refused_like_the_sdk() -> None:
    model = Location(latitude=1, longitude=2)  # a WireModel with CE_TYPE ""
    expected = outcome(sdk_encode, model, event_id="e", source="/s", key=None, time=AT)
    assert expected[0] == "CloudEventValidationError"
    assert outcome(encode, model, event_id="e", source="/s", key=None, time=AT) == expected


# -- decode ---------------------------------------------------------------------------------------------------------


def decoded(decoder: Any, headers: Any, value: bytes | None, models: Iterable[type[WireModel]]) -> tuple[Any, ...]:
    """What a caller can see of a decode: the refusal, or the envelope's attributes and data and the model."""
    try:
        event, model = decoder(headers, value, models)
    except PoisonEvent as exc:
        return ("poison", exc.reason)
    attributes = dict(event.get_attributes())
    header_names = {name.lower() for name in (headers if isinstance(headers, Mapping) else dict(headers))}
    if "ce_id" not in header_names:
        attributes.pop("id")  # the SDK makes up a random uuid4
    if "ce_time" not in header_names:
        attributes.pop("time")  # ... and the time of the call
    times = {name: (repr(v), type(v.tzinfo), v.utcoffset()) for name, v in attributes.items()
             if isinstance(v, datetime)}
    return ("ok", attributes, times, event.get_data(), type(model), model.model_dump(mode="json"))


def test_decode_reads_what_encode_wrote() -> None:
    record = valid_record()
    event, model = decode(record.headers, record.value, [FindingReported])
    assert model == finding()
    assert event.get_id() == "f-1" and event.get_time() == AT and event.get_subject() == "f-1"
    assert event.get_data() == finding().model_dump(mode="json")
    assert decoded(decode, record.headers, record.value, [FindingReported]) == decoded(
        sdk_decode, record.headers, record.value, [FindingReported])


def test_decode_accepts_headers_as_a_mapping() -> None:
    record = valid_record()
    headers = dict(record.headers)
    assert decoded(decode, headers, record.value, [FindingReported]) == decoded(
        sdk_decode, headers, record.value, [FindingReported])


def replaced(headers: list[tuple[str, bytes]], name: str, value: bytes | None) -> list[tuple[str, bytes]]:
    return [(n, v) for n, v in headers if n != name] + ([(name, value)] if value is not None else [])


BASE = valid_record()
REFUSALS = {
    "no ce_ headers": ([], BASE.value, "missing ce_type header: not a binary-mode CloudEvent"),
    "no ce_specversion": (replaced(BASE.headers, "ce_specversion", None), BASE.value,
                          "unsupported ce_specversion None"),
    "ce_specversion 0.3": (replaced(BASE.headers, "ce_specversion", b"0.3"), BASE.value,
                           "unsupported ce_specversion b'0.3'"),
    "other type": (replaced(BASE.headers, "ce_type", b"cn.liandong.bogus.v1"), BASE.value,
                   "unexpected event type 'cn.liandong.bogus.v1' on this topic"),
    "empty body": (BASE.headers, b"", "empty body"),
    "no body": (BASE.headers, None, "empty body"),
    "no ce_source": (replaced(BASE.headers, "ce_source", None), BASE.value, "invalid CloudEvents envelope: "),
    "empty ce_id": (replaced(BASE.headers, "ce_id", b""), BASE.value, "invalid CloudEvents envelope: "),
    "bad ce_time": (replaced(BASE.headers, "ce_time", b"yesterday"), BASE.value, "invalid CloudEvents envelope: "),
    "naive ce_time": (replaced(BASE.headers, "ce_time", b"2026-01-01T00:00:00"), BASE.value,
                      "invalid CloudEvents envelope: "),
    "not JSON": (BASE.headers, BASE.value[:40], "cn.liandong.finding.reported.v1: body: Invalid JSON"),
    "wrong schema version": (BASE.headers, BASE.value.replace(b'"schema_version":1', b'"schema_version":9'),
                             "cn.liandong.finding.reported.v1: schema_version: Input should be 1"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_decode_refuses_bad_envelopes_with_the_sdk_reason(case: str) -> None:
    headers, value, reason = REFUSALS[case]
    with pytest.raises(PoisonEvent) as refused:
        decode(headers, value, [FindingReported])
    assert refused.value.reason.startswith(reason)
    assert decoded(decode, headers, value, [FindingReported]) == decoded(sdk_decode, headers, value, [FindingReported])


HEADER_NAMES = st.sampled_from(["ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject",
                                "ce_dataschema", "content-type", "CE_ID", "Ce_Time", "CE_SPECVERSION", "Content-Type",
                                "ce_", "ce_data", "ce_foo-bar", "ce_extra1", "ce_Extra", "other", "dlq_reason"])
HEADER_VALUES = st.one_of(
    st.sampled_from([b"", b"\xff", b"1.0", b"0.3", b"x", b"application/json", b"text/plain", b"/s", b"e-1",
                     b"2026-01-01T00:00:00Z", b"2026-01-01T08:00:00.5+08:00", b"2026-01-01T00:00:00",
                     b"2026-13-01T00:00:00Z", b"2026-01-01T24:00:00Z", b"20260101T000000Z", b"2026-01-01 00:00:00Z",
                     b"2026-01-01T00:00:00-00:00", b"2026-01-01T00:00:00+24:00", b"2026-01-01T00:00:00+05:60",
                     b"2026-01-01T00:00:00.1234567Z", b"2026-01-01T00:00:00,5Z", b"2026-01-01T00:00:00+0530",
                     FindingReported.CE_TYPE.encode(), CaseOpened.CE_TYPE.encode()]),
    st.binary(max_size=8))


@PROPERTY
@given(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=6), st.booleans())
def test_decode_of_mangled_headers_matches_the_sdk(changes: list[tuple[str, bytes]], keep_base: bool) -> None:
    headers = list(BASE.headers) if keep_base else [("ce_type", FindingReported.CE_TYPE.encode()),
                                                    ("ce_specversion", b"1.0")]
    for name, value in changes:
        headers = replaced(headers, name, value)
    models = [FindingReported, *CASE_EVENT_MODELS]
    assert decoded(decode, headers, BASE.value, models) == decoded(sdk_decode, headers, BASE.value, models)


@PROPERTY
@given(st.binary(max_size=40) | st.sampled_from([b"{}", b"[]", b"null", b" ", b'{"x": 1}']))
def test_decode_of_bad_bodies_matches_the_sdk(value: bytes) -> None:
    assert decoded(decode, BASE.headers, value, [FindingReported]) == decoded(
        sdk_decode, BASE.headers, value, [FindingReported])


def test_decoded_event_reads_its_data_only_when_asked() -> None:
    record = encode(case_opened(), event_id="e-1", source="/dispatch", key="c-1", subject="c-1", time=AT)
    event, _model = decode(record.headers, record.value, CASE_EVENT_MODELS)
    sdk_event, _ = sdk_decode(record.headers, record.value, CASE_EVENT_MODELS)
    assert isinstance(event, CloudEvent)
    assert event.get_data() == sdk_event.get_data() and event.get_data() is event.get_data()
    assert event.get_attributes() == sdk_event.get_attributes()


# -- ce_time ----------------------------------------------------------------------------------------------------------


def parsed(parse: Any, text: str) -> tuple[Any, ...]:
    try:
        at = parse(text)
    except Exception as exc:
        return (type(exc).__name__, str(exc))
    return (repr(at), type(at.tzinfo), at.utcoffset(), at)


RFC3339 = st.from_regex(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|z|[+-][0-9]{2}:?[0-9]{2})?\Z")


@PROPERTY
@given(st.one_of(RFC3339, st.text(max_size=30),
                 st.datetimes(timezones=st.one_of(st.none(), OFFSETS)).map(lambda at: at.isoformat()),
                 st.datetimes(timezones=OFFSETS).map(lambda at: at.isoformat().replace("+00:00", "Z"))))
def test_time_header_is_parsed_as_dateutil_parses_it(text: str) -> None:
    assume("\x00" not in text)
    assert parsed(envelope._parse_time, text) == parsed(isoparse, text)
