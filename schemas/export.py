"""Export the contracts: JSON Schema per model into schemas/json/, and the AsyncAPI 3.0 document of every topic.

Both are generated from the pydantic models and ``services.common.topics``, so they cannot drift apart;
``tests/contract`` fails when the committed files are stale. Run ``make schemas`` after changing a model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from schemas.api import ErrorResponse, FindingAccepted, FindingSubmission
from schemas.events import (
    ALL_EVENT_MODELS,
    CASE_EVENT_MODELS,
    DeadlineCheck,
    FeedEntry,
    FindingReported,
    ReferralIssued,
    ReferralResponded,
    StateSweep,
)
from services.common import topics

HERE = Path(__file__).resolve().parent
JSON_DIR = HERE / "json"
ASYNCAPI_PATH = HERE / "asyncapi.yaml"
API_MODELS: tuple[type[BaseModel], ...] = (FindingSubmission, FindingAccepted, ErrorResponse)
COMPONENT_REF = "#/components/schemas/{model}"
BODY_TOPIC_MESSAGES = ["ReferralIssued", "ReferralOverdue", "RelatedCaseOpened"]


def json_schema_files() -> dict[str, str]:
    """File name → content of every model's standalone JSON Schema."""
    files = {}
    for model in (*ALL_EVENT_MODELS, *API_MODELS):
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://liandong.example/schemas/{model.__name__}.v1.schema.json"
        files[f"{model.__name__}.v1.schema.json"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return files


def _component_schemas() -> dict[str, Any]:
    components: dict[str, Any] = {}
    for model in ALL_EVENT_MODELS:
        schema = model.model_json_schema(ref_template=COMPONENT_REF)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return components


CE_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 Kafka binary mode: envelope attributes as ce_ headers",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "Deterministic event id; consumers deduplicate on it"},
        "ce_source": {"type": "string"},
        "ce_type": {"type": "string"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string"},
        "content-type": {"type": "string", "const": "application/json"},
    },
}


def _message(model: type[BaseModel], key: str) -> dict[str, Any]:
    return {
        "name": model.__name__,
        "title": model.__name__,
        "summary": (model.__doc__ or model.__name__).strip().splitlines()[0],
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
        "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
        "bindings": {"kafka": {"key": {"type": "string", "description": key}, "bindingVersion": "0.5.0"}},
        "x-cloudevents-type": getattr(model, "CE_TYPE", ""),
    }


def _channel(spec: topics.TopicSpec, address: str, messages: list[str]) -> dict[str, Any]:
    configs: dict[str, Any] = {"retention.ms": int(spec.configs.get("retention.ms", "-1"))}
    return {
        "address": address,
        "description": spec.description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "bindings": {"kafka": {"partitions": spec.partitions, "replicas": 1, "topicConfiguration": configs,
                               "bindingVersion": "0.5.0"}},
    }


def asyncapi_document() -> dict[str, Any]:
    case_messages = [m.__name__ for m in CASE_EVENT_MODELS]
    channels = {
        "findings": _channel(topics.FINDINGS, "liandong.findings", ["FindingReported"]),
        "caseEvents": _channel(topics.CASE_EVENTS, "liandong.case-events", case_messages),
        "referrals": {
            **_channel(topics.REFERRALS_FAMILY, "liandong.referrals.{bodyId}", BODY_TOPIC_MESSAGES),
            "parameters": {"bodyId": {"description": "Receiving body id with ':' written as '.', e.g. "
                                                     "team.210624.natural_resources"}},
        },
        "bodyResponses": {
            **_channel(topics.RESPONSES_FAMILY, "liandong.responses.{bodyId}", ["ReferralResponded"]),
            "parameters": {"bodyId": {"description": "Acting body id with ':' written as '.'; only that body may "
                                                     "write it. body_id and responded_at are replaced by the relay"}},
        },
        "referralResponses": _channel(topics.REFERRAL_RESPONSES, "liandong.referral-responses",
                                      ["ReferralResponded", "DeadlineCheck", "StateSweep"]),
        "feed": _channel(topics.FEED, "liandong.feed", ["FeedEntry"]),
        "deadLetters": {
            "address": "liandong.dead-letters",
            "description": topics.DEAD_LETTERS.description + " (headers dlq_reason, dlq_topic, dlq_partition, "
                                                             "dlq_offset, dlq_service; body as received)",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        },
    }

    def op(action: str, channel: str, messages: list[str], summary: str) -> dict[str, Any]:
        return {"action": action, "channel": {"$ref": f"#/channels/{channel}"}, "summary": summary,
                "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages]}

    keys = {
        FindingReported: "dedup group of the finding's category",
        ReferralIssued: "case_id",
        ReferralResponded: "dedup group of the case (ReferralIssued.dedup_group)",
        DeadlineCheck: "dedup group of the case",
        StateSweep: "none: sent to one partition",
        FeedEntry: "case_id",
    }
    messages = {m.__name__: _message(m, keys.get(m, "case_id")) for m in ALL_EVENT_MODELS}
    messages["DeadLetter"] = {
        "name": "DeadLetter", "title": "DeadLetter", "summary": "An unreadable event, kept as received",
        "payload": {"type": "string", "description": "The original bytes"},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "liandong event streams",
            "version": "1.0.0",
            "description": "Topics of the coordinated township–county enforcement system. Every event is a "
                           "CloudEvent 1.0 in Kafka binary mode. Topic names carry a deployment prefix "
                           "(default 'liandong').",
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka",
                              "description": "The broker started by deploy/kafka/local_kafka.py"}},
        "channels": channels,
        "operations": {
            "publishFinding": op("send", "findings", ["FindingReported"], "patrol publishes accepted findings"),
            "consumeFindings": op("receive", "findings", ["FindingReported"], "dispatch dedups and routes"),
            "publishCaseEvents": op("send", "caseEvents", case_messages, "dispatch records case lifecycle"),
            "consumeCaseEvents": op("receive", "caseEvents", case_messages,
                                    "info_share projects the register; patrol keeps its case view"),
            "publishReferral": op("send", "referrals", BODY_TOPIC_MESSAGES,
                                  "dispatch refers a case to one body; warns it when overdue; tells it of another "
                                  "matter opened as its own case at the same place"),
            "consumeReferrals": op("receive", "referrals", BODY_TOPIC_MESSAGES, "a receiving body's client"),
            "respondToReferral": op("send", "referralResponses", ["ReferralResponded"],
                                    "a receiving body accepts, returns or feeds back"),
            "consumeResponses": op("receive", "referralResponses", ["ReferralResponded", "DeadlineCheck", "StateSweep"],
                                   "dispatch validates responses, checks deadlines and applies retention"),
            "checkDeadlines": op("send", "referralResponses", ["DeadlineCheck"],
                                 "a dispatch worker's timer asks for a deadline check, in order with responses"),
            "sweepState": op("send", "referralResponses", ["StateSweep"],
                             "a dispatch worker's timer asks each partition it owns to apply retention"),
            "publishFeed": op("send", "feed", ["FeedEntry"], "info_share publishes the masked feed"),
            "subscribeFeed": op("receive", "feed", ["FeedEntry"], "any subscribing system"),
            "deadLetter": op("send", "deadLetters", ["DeadLetter"], "any consumer that cannot read an event"),
        },
        "components": {
            "schemas": {"CloudEventHeaders": CE_HEADERS, **_component_schemas()},
            "messages": messages,
        },
    }


def asyncapi_yaml() -> str:
    header = "# Generated by `make schemas` (schemas/export.py) from the models and topic declarations.\n"
    return header + yaml.safe_dump(asyncapi_document(), sort_keys=False, allow_unicode=True, width=120)


def main() -> None:
    JSON_DIR.mkdir(exist_ok=True)
    wanted = json_schema_files()
    for stale in set(p.name for p in JSON_DIR.glob("*.json")) - set(wanted):
        (JSON_DIR / stale).unlink()
    for name, content in wanted.items():
        (JSON_DIR / name).write_text(content, encoding="utf-8")
    ASYNCAPI_PATH.write_text(asyncapi_yaml(), encoding="utf-8")
    print(f"wrote {len(wanted)} JSON Schema files to {JSON_DIR} and {ASYNCAPI_PATH}")


if __name__ == "__main__":
    main()
