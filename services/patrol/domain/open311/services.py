"""Open311 services: one per finding category; a jurisdiction (township) offers the categories on its list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.events import Source
from services.reference.loader import ReferenceData
from services.reference.model import Category

SUBJECT_ATTRIBUTES = {  # attribute code -> (subject kind, what the value is)
    "subject_uscc": ("uscc", "Unified social credit code (統一社會信用代碼), 18 characters; check character verified"),
    "subject_plate": ("plate", "Vehicle plate, e.g. 遼F12345; province, letter and 5 characters (6 new-energy)"),
    "subject_resident_id": ("resident_id", "Resident identity number (居民身份證號), 18 characters; mod-11 check"),
}
DEFAULT_SOURCE = Source.HOTLINE_12345  # the usual Open311 caller; attribute[source] says otherwise


def categories_for(reference: ReferenceData, township_code: str | None, at: datetime) -> dict[str, Category]:
    """Every category (no jurisdiction given) or those on the township's list at ``at``."""
    if township_code is None:
        return dict(reference.categories)
    return reference.categories_for_township(township_code, at)


def service(reference: ReferenceData, category: Category) -> dict[str, Any]:
    items = "；".join(reference.items[code].name for code in category.item_codes if code in reference.items)
    return {
        "service_code": category.code, "service_name": category.name,
        "description": f"{category.name}。權力事項：{items}" if items else category.name,
        "metadata": True, "type": "realtime", "keywords": ",".join(category.item_codes),
        # What dedup takes for "the same kind of matter" and "the same place" (docs/dedup.md), so a caller can
        # tell before posting whether a report will join a case or open one.
        "group": category.dedup_group, "dedup_radius_m": category.dedup_radius_m,
    }


def service_list(reference: ReferenceData, township_code: str | None, at: datetime) -> list[dict[str, Any]]:
    categories = categories_for(reference, township_code, at)
    return [service(reference, categories[code]) for code in sorted(categories)]


def attribute_codes(category: Category) -> list[str]:
    """Attributes a POST for this service may carry, in the order the definition lists them."""
    subjects = [code for code, (kind, _) in SUBJECT_ATTRIBUTES.items() if kind in category.subject_kinds]
    return ["client_report_id", "observed_datetime", "source", "photo_sha256", *subjects]


def service_definition(category: Category) -> dict[str, Any]:
    described = {
        "client_report_id": ("string", False, "Idempotency key chosen by the caller (max 128 characters). Without "
                             "it, an identical request on the same day (China time) counts as a retry."),
        "observed_datetime": ("datetime", False, "When the violation was seen, ISO 8601 with offset; "
                              "default: when the request is received. At most 5 minutes ahead, 30 days old."),
        "source": ("singlevaluelist", False, f"Where the report comes from; default {DEFAULT_SOURCE.value}."),
        "photo_sha256": ("string", False, "SHA-256 (64 hex digits) of the photo at media_url; required with it."),
    }
    described |= {code: ("string", False, text) for code, (_kind, text) in SUBJECT_ATTRIBUTES.items()}
    attributes = []
    for order, code in enumerate(attribute_codes(category), start=1):
        datatype, required, text = described[code]
        attribute: dict[str, Any] = {
            "variable": True, "code": code, "datatype": datatype, "required": required,
            "datatype_description": text, "order": order, "description": text,
        }
        if code == "source":
            attribute["values"] = [{"key": s.value, "name": s.value} for s in Source]
        attributes.append(attribute)
    return {"service_code": category.code, "attributes": attributes, "dedup_group": category.dedup_group,
            "dedup_radius_m": category.dedup_radius_m}
