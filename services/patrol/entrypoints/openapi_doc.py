"""The OpenAPI document as served: a valid example as of start-up, settings written in, Open311's own errors."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.patrol.entrypoints.errors import OPEN311_PREFIX
from services.reference.geography import random_point_in_county
from services.reference.loader import ReferenceData


def submission_examples(reference: ReferenceData, now: datetime) -> dict[str, Any]:
    """A valid example as of the start of the service, for /docs and the fuzzer's explicit-examples phase."""
    township = reference.townships["210603008"] if "210603008" in reference.townships else next(
        iter(reference.townships.values()))
    category = sorted(reference.categories_for_township(township.code, now))[0]
    latitude, longitude = random_point_in_county(township.county_code, random.Random(1))
    observed = (now - timedelta(hours=1)).replace(microsecond=0)
    return {"patrol": {"summary": f"A patrol finding in {township.name}", "value": {
        "client_report_id": "app-7f3c-000123", "township_code": township.code, "category_code": category,
        "location": {"latitude": latitude, "longitude": longitude, "datum": "WGS-84", "address": "示例路 1 號"},
        "observed_at": observed.isoformat(), "description": "巡查發現疑似違法行為（示例）", "source": "patrol",
    }}}


def document(app: FastAPI, max_batch_items: int) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        # The batch limit is a setting, so it is written into the document here rather than in the model.
        components = schema.get("components", {}).get("schemas", {})
        batch = components.get("FindingBatch", {})
        if "items" in batch.get("properties", {}):
            batch["properties"]["items"]["maxItems"] = max_batch_items
        # Open311 answers bad parameters with the spec's 400, never with FastAPI's default 422 document.
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                if path.startswith(OPEN311_PREFIX):
                    operation.get("responses", {}).pop("422", None)
                    if operation.get("security"):
                        # Reads work without credentials (a public view); a POST may authenticate with the form's
                        # api_key instead, which OpenAPI cannot name as a security scheme.
                        operation["security"].insert(0, {})
        if "HTTPValidationError" not in json.dumps(schema.get("paths", {})):
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
        app.openapi_schema = schema
    return app.openapi_schema
