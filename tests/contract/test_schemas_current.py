"""The committed JSON Schema files and AsyncAPI document are exactly what the models generate now."""

from __future__ import annotations

import json

import jsonschema

from schemas import export


def test_json_schema_files_are_current() -> None:
    wanted = export.json_schema_files()
    committed = {p.name: p.read_text(encoding="utf-8") for p in export.JSON_DIR.glob("*.json")}
    stale = sorted(name for name in wanted if committed.get(name) != wanted[name])
    extra = sorted(set(committed) - set(wanted))
    assert not stale and not extra, f"run `make schemas`: stale {stale}, not generated {extra}"


def test_json_schema_files_are_valid_draft_2020_12() -> None:
    for content in export.json_schema_files().values():
        jsonschema.Draft202012Validator.check_schema(json.loads(content))


def test_asyncapi_document_is_current() -> None:
    assert export.ASYNCAPI_PATH.read_text(encoding="utf-8") == export.asyncapi_yaml(), "run `make schemas`"


def test_asyncapi_names_every_declared_topic() -> None:
    from services.common import topics

    addresses = {channel["address"] for channel in export.asyncapi_document()["channels"].values()}
    for spec in (*topics.CORE_TOPICS, topics.REFERRALS_FAMILY):
        assert any(address.startswith(spec.name()) for address in addresses), spec.name()
