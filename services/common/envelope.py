"""CloudEvents 1.0 in Kafka binary mode: the pydantic model is the body, the envelope travels as ``ce_`` headers.

Every service encodes and decodes every event here, so both directions skip the SDK's costly steps where the result
is known to be the same: see ``encode`` and ``_read_envelope``. The SDK stays the authority on the attributes: each
decoded envelope is still validated by its ``CloudEvent`` class, and anything unusual takes the SDK's own path.

Kept because it earns it: encoding then decoding a FindingReported event (body included) runs 2.75× as many events
a second as the SDK's ``to_binary`` / ``from_binary`` (``envelope_codec_gain``: median of 5 runs, 2.63–2.86×;
``make bench``, section ``fast_paths``, 2026-12-03; docs/benchmarks.md, "Fast paths").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import OPTIONAL_ATTRIBUTES, REQUIRED_ATTRIBUTES, CloudEvent
from dateutil import tz
from dateutil.parser import isoparse
from pydantic import BaseModel, ValidationError

from schemas.events import WireModel

_FORMAT = JSONFormat()
CONTENT_TYPE = "application/json"
_CONTENT_TYPE_HEADER = CONTENT_TYPE.encode()
_SPECVERSION = "1.0"
_CE_PREFIX = "ce_"


class PoisonEvent(ValueError):
    """An event no handler can read; goes to the dead-letter topic with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Record:
    """What a Kafka producer needs: key, value and headers as bytes."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def encode(model: WireModel, *, event_id: str, source: str, key: str | None,
           subject: str | None = None, time: datetime | None = None) -> Record:
    # Some databases hand back naive UTC datetimes; CloudEvents needs an offset.
    at = (time.replace(tzinfo=UTC) if time.tzinfo is None else time) if time else datetime.now(UTC)
    if not _valid_plain_attributes(model.CE_TYPE, event_id, source, subject):
        return _encode_with_sdk(model, event_id, source, key, subject, at)
    # The SDK's CloudEvent object and to_binary cost more than serialising the body. For these attributes (non-empty
    # strings, an aware time) its validation passes, so the headers are written here in its order and format.
    headers = [("ce_id", event_id.encode()), ("ce_source", source.encode()), ("ce_type", model.CE_TYPE.encode()),
               ("ce_specversion", b"1.0"), ("content-type", _CONTENT_TYPE_HEADER), ("ce_time", _header_time(at))]
    if subject:
        headers.append(("ce_subject", subject.encode()))
    return Record(key.encode() if isinstance(key, str) else key, _json_body(model), headers)


def _json_body(model: WireModel) -> bytes:
    """``model.model_dump_json().encode()``: pydantic writes UTF-8 bytes, which model_dump_json decodes to a str."""
    if type(model).model_dump_json is BaseModel.model_dump_json:
        return model.__pydantic_serializer__.to_json(model)
    return model.model_dump_json().encode()


def _valid_plain_attributes(ce_type: object, event_id: object, source: object, subject: object) -> bool:
    return (type(ce_type) is str and bool(ce_type) and type(event_id) is str and bool(event_id)
            and type(source) is str and bool(source) and (not subject or type(subject) is str))


def _header_time(at: datetime) -> bytes:
    text = at.isoformat()
    return (text[:-6] + "Z" if text.endswith("+00:00") else text).encode()


def _encode_with_sdk(model: WireModel, event_id: str, source: str, key: str | None, subject: str | None,
                     at: datetime) -> Record:
    """The SDK's own path, for attributes it may refuse: it raises its validation error."""
    attributes: dict[str, Any] = {"id": event_id, "source": source, "type": model.CE_TYPE,
                                  "specversion": _SPECVERSION, "datacontenttype": CONTENT_TYPE, "time": at}
    if subject:
        attributes["subject"] = subject
    event = CloudEvent(attributes=attributes, data=model.model_dump_json().encode())
    message = to_binary(event, _FORMAT, key_mapper=lambda _event: key)
    raw_key = message.key.encode() if isinstance(message.key, str) else message.key
    return Record(raw_key, message.value, list(message.headers.items()))


def decode(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes], value: bytes | None,
           models: Iterable[type[WireModel]]) -> tuple[BaseCloudEvent, WireModel]:
    """Parse a binary-mode CloudEvent into the model its ``ce_type`` names; PoisonEvent says why it cannot."""
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
        event = _read_envelope(header_map, value)
    except Exception as exc:  # the SDK raises several types for bad envelopes
        raise PoisonEvent(f"invalid CloudEvents envelope: {exc}") from exc
    try:
        return event, model.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise PoisonEvent(f"{ce_type}: {where}: {first['msg']} ({exc.error_count()} error(s))") from exc


def _read_envelope(header_map: dict[str, bytes], body: bytes) -> BaseCloudEvent:
    """The SDK's ``from_binary`` (same attributes, same errors in the same order), minus its two costly steps.

    It parses ``ce_time`` with dateutil's general ISO 8601 parser, and the whole JSON body into a dict nobody reads:
    the pydantic model is the body's reader. Here a time in the RFC 3339 form producers write is parsed by the
    standard library (any other form still goes to dateutil), and the body is parsed only if ``get_data`` is called.
    """
    attributes: dict[str, Any] = {}
    for name, raw in header_map.items():
        text = raw.decode("utf-8")  # every header, as the SDK does: a non-UTF-8 one makes the envelope invalid
        attribute = _ATTRIBUTE_OF_HEADER.get(name)
        if attribute is None:
            attribute = _attribute_of_header(name)
        if attribute == "time":
            attributes[attribute] = _parse_time(text)
        elif attribute is not None:
            attributes[attribute] = text
    if attributes.get("specversion", _SPECVERSION) != _SPECVERSION:  # e.g. a second CE_SPECVERSION header
        return from_binary(KafkaMessage(headers=header_map, key=None, value=body), _FORMAT)
    return _BodyOnDemandEvent(attributes, body)


# Attributes the SDK fills in when missing (id, time) or requires: with all of them present, it adds nothing.
_PRESENT_IN_PLAIN_EVENTS = frozenset({"id", "source", "type", "specversion", "time"})
_V1_ATTRIBUTES = frozenset(REQUIRED_ATTRIBUTES) | frozenset(OPTIONAL_ATTRIBUTES)


def _attribute_of_header(name: str) -> str | None:
    """The attribute a header carries for the SDK: ``ce_<name>`` in any case (even ``ce_`` alone), content-type."""
    lowered = name.lower()
    if lowered.startswith(_CE_PREFIX):
        return lowered[len(_CE_PREFIX):]
    return "datacontenttype" if lowered == "content-type" else None


_ATTRIBUTE_OF_HEADER = {name: _attribute_of_header(name) for name in (
    "ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject", "ce_dataschema", "content-type")}


class _BodyOnDemandEvent(CloudEvent):
    """A v1.0 CloudEvent whose data is read from the Kafka value when first asked for."""

    def __init__(self, attributes: dict[str, Any], body: bytes) -> None:
        if _plain_v1_attributes(attributes):
            # Exactly what the SDK's constructor keeps once its checks pass (they cost as much as the rest of
            # decoding the envelope): the attributes as given, unchanged.
            self._attributes = attributes
            self._data = None
        else:
            super().__init__(attributes, None)  # may add defaults, or raise the SDK's validation error
        self._body = body
        self._body_read = False

    def get_data(self) -> dict[str, Any] | str | bytes | None:
        if not self._body_read:
            self._data = _FORMAT.read_data(self._body, self.get_datacontenttype())
            self._body_read = True
        return self._data


def _plain_v1_attributes(attributes: dict[str, Any]) -> bool:
    """Attributes the SDK's CloudEvent accepts and keeps unchanged: the required ones, an id and a time, only
    attributes the spec names (no extension), none empty, specversion 1.0 and an aware time.

    Header values are non-None strings and ``time`` a datetime, as ``_read_envelope`` makes them.
    """
    return (attributes.keys() <= _V1_ATTRIBUTES and attributes.keys() >= _PRESENT_IN_PLAIN_EVENTS
            and all(attributes.values()) and attributes["specversion"] == _SPECVERSION
            and bool(attributes["time"].tzinfo))


# What encode writes (and RFC 3339 allows): date, time to the second, up to 6 decimals, "Z" or a +hh:mm offset.
_RFC3339_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?)"
                           r"(Z|[+-][0-9]{2}:[0-9]{2})")


def _parse_time(text: str) -> datetime:
    """``dateutil.parser.isoparse(text)``: the same datetime and tzinfo types, the standard library's speed."""
    match = _RFC3339_TIME.fullmatch(text)
    if match is None:
        return isoparse(text)
    local, offset = match.groups()
    try:
        naive = datetime.fromisoformat(local)
    except ValueError:  # dateutil decides: 24:00:00 is next midnight to it, and its errors have their own words
        return isoparse(text)
    if offset == "Z":
        return naive.replace(tzinfo=tz.UTC)
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 23 or minutes > 59:
        return isoparse(text)  # raises with dateutil's message
    seconds = (hours * 60 + minutes) * 60
    if seconds == 0:
        return naive.replace(tzinfo=tz.UTC)  # dateutil reads +00:00 and -00:00 as UTC
    return naive.replace(tzinfo=tz.tzoffset(None, seconds if offset[0] == "+" else -seconds))
