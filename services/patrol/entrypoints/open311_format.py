"""Open311 documents in both formats: JSON arrays or XML with the spec's element names; errors in spec form."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import Path
from fastapi.responses import JSONResponse
from starlette.responses import Response

Fmt = Annotated[Literal["json", "xml"], Path(description="Response format: json or xml")]
XML_MEDIA_TYPE = "text/xml; charset=utf-8"
# The element each list's items get, as in the spec's XML examples.
ITEM_TAGS = {"services": "service", "service_requests": "request", "attributes": "attribute", "values": "value",
             "errors": "error", "item_codes": "item_code", "endpoints": "endpoint", "formats": "format"}
# XML 1.0 cannot carry most control characters at all, even escaped: they are dropped from text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FORMAT_SUFFIX = re.compile(r"\.(json|xml)$")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        tag = ITEM_TAGS.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, tag), child)
    elif value is not None:
        element.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, value)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def document(fmt: str, root: str, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``value`` (a list, or a dict for single documents) as JSON, or as XML under ``root``."""
    if fmt == "xml":
        return Response(to_xml(root, value), status_code=status, media_type=XML_MEDIA_TYPE, headers=headers)
    return JSONResponse(value, status_code=status, headers=headers)


def errors(fmt: str, status: int, descriptions: Iterable[str], headers: dict[str, str] | None = None) -> Response:
    """The spec's error document: one ``{code, description}`` per problem, the HTTP status as the code."""
    listed = [{"code": status, "description": d} for d in descriptions] or [{"code": status, "description": ""}]
    return document(fmt, "errors", listed, status, headers)


def format_of_path(path: str) -> str:
    match = _FORMAT_SUFFIX.search(path)
    return match.group(1) if match else "json"
