"""CloudEvents 1.0 in Kafka binary mode: the pydantic model is the body, the envelope travels as ``ce_`` headers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import ValidationError

from schemas.events import WireModel

_FORMAT = JSONFormat()
CONTENT_TYPE = "application/json"


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
    attributes = {
        "id": event_id,
        "source": source,
        "type": model.CE_TYPE,
        "specversion": "1.0",
        "datacontenttype": CONTENT_TYPE,
        # Some databases hand back naive UTC datetimes; CloudEvents needs an offset.
        "time": (time.replace(tzinfo=UTC) if time.tzinfo is None else time) if time else datetime.now(UTC),
    }
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
        event = from_binary(KafkaMessage(headers=header_map, key=None, value=value), _FORMAT)
    except Exception as exc:  # the SDK raises several types for bad envelopes
        raise PoisonEvent(f"invalid CloudEvents envelope: {exc}") from exc
    try:
        return event, model.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise PoisonEvent(f"{ce_type}: {where}: {first['msg']} ({exc.error_count()} error(s))") from exc
