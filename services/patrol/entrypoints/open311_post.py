"""Open311 ``POST requests.{fmt}``: a form from an API-key holder becomes a finding, answered only after the ack."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.responses import Response

from services.common.privacy import mask_phone
from services.patrol.adapters.auth import AuthError
from services.patrol.domain.access import EVERY_TOWNSHIP
from services.patrol.domain.audit import describe_submission
from services.patrol.domain.intake import Problem, Rejected
from services.patrol.domain.open311 import form, requests
from services.patrol.entrypoints import open311_format
from services.patrol.entrypoints.deps import Patrol, bearer, client_address, patrol_of
from services.patrol.entrypoints.errors import audit_refusal, refused_open311
from services.patrol.entrypoints.open311_format import Fmt
from services.patrol.entrypoints.open311_models import Open311PostAnswer, responses
from services.patrol.service import Item, Refused

FORM_FIELDS = {
    "api_key": "Key of the calling system (or send Authorization: Bearer)", "jurisdiction_id": "Township code",
    "service_code": "Category code", "lat": "WGS-84 latitude", "long": "WGS-84 longitude",
    "address_string": "Address text (kept with lat/long; not geocoded)", "description": "What was seen",
    "media_url": "Photo URL (needs attribute[photo_sha256])", "email": "Dropped", "first_name": "Dropped",
    "last_name": "Dropped", "phone": "Dropped (audited masked)", "device_id": "Dropped", "account_id": "Dropped",
}
FORM_SCHEMA = {
    "type": "object", "required": ["service_code"],
    "properties": {name: {"type": "string", "description": text} for name, text in FORM_FIELDS.items()},
    "additionalProperties": {"type": "string", "description": "attribute[code] per the service definition"},
}
# A point in 振兴区 for 花园街道: places do not go stale, and the observed time defaults to the receive time.
FORM_EXAMPLE = {"api_key": "your-api-key", "jurisdiction_id": "210603008", "service_code": "illegal_construction",
                "lat": "39.991337", "long": "124.280941", "description": "來電反映：綠地內有人搭建板房",
                "attribute[source]": "hotline_12345"}
POST_BODY = {"requestBody": {"required": True, "content": {
    media_type: {"schema": FORM_SCHEMA, "example": FORM_EXAMPLE}
    for media_type in ("application/x-www-form-urlencoded", "multipart/form-data")
}}}


def add_route(api: APIRouter) -> None:
    @api.post("/requests.{fmt}", openapi_extra=POST_BODY,
              description="Authenticated by the form's api_key (or a bearer token); 200 only once the broker "
                          "acknowledged the finding.",
              responses=responses(list[Open311PostAnswer], 400, 401, 403, 409, 413, 415, 429, 503))
    async def post_request(request: Request, fmt: Fmt,
                           _token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Response:
        return await _post(patrol_of(request), request, fmt)


async def _post(patrol: Patrol, request: Request, fmt: str) -> Response:
    try:
        submitted = await request.form()
    except Exception as exc:  # python-multipart raises several types for broken bodies
        return _bad_form(request, fmt, f"malformed form data ({type(exc).__name__})")
    if any(not isinstance(v, str) for _k, v in submitted.multi_items()):
        return _bad_form(request, fmt, "file uploads are not accepted: send media_url and attribute[photo_sha256]")
    pairs = [(k, str(v)) for k, v in submitted.multi_items()]
    api_key = next((v for k, v in pairs if k == "api_key"), None)
    principal = patrol.authenticate(request.headers.get("authorization"), api_key, client_address(request))
    if principal is None:
        raise AuthError(403, "api_key is required")
    patrol.throttle(principal, client_address(request))
    ctx = patrol.context(request, "open311", "open311_post_request", principal)
    own = principal.township_codes - {EVERY_TOWNSHIP}
    default_township = next(iter(own)) if len(own) == 1 and EVERY_TOWNSHIP not in principal.township_codes else None
    phone = next((v for k, v in pairs if k == "phone" and v), None)
    contact = {"contact_phone": mask_phone(phone)} if phone else {}
    try:
        post = form.parse_post(pairs, default_township=default_township, reference=patrol.service.reference,
                               received_at=patrol.service.clock())
    except Rejected as exc:
        refused = Refused(exc.status, exc.reason, tuple(exc.problems))
        patrol.service.record(ctx, refused, {"service_code": dict(pairs).get("service_code", "")[:64], **contact})
        return refused_open311(fmt, refused)
    raw = post.submission.model_dump(mode="json")
    item = Item(post.submission, post.fingerprint, {**describe_submission(raw), **contact})
    [outcome] = await patrol.service.file([item], ctx)
    if isinstance(outcome, Refused):
        renamed = tuple(Problem(form.open311_field(p.field, raw) if p.field else "", p.message)
                        for p in outcome.problems)
        return refused_open311(fmt, Refused(outcome.status, outcome.reason, renamed, outcome.retry_after_seconds))
    return open311_format.document(fmt, "service_requests", [requests.post_answer(outcome.finding_id)],
                                   headers={"Idempotent-Replayed": "true"} if outcome.replayed else None)


def _bad_form(request: Request, fmt: str, message: str) -> Response:
    refused = Refused(400, "malformed_form", (Problem("body", message),))
    audit_refusal(request, refused)
    return refused_open311(fmt, refused)
