"""JSON API: submit one finding, submit a batch (a result per item), look up a finding's status and its case, list
the categories a township can report."""


from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from starlette.responses import Response

from schemas.api import ErrorResponse, FieldError, FindingAccepted, FindingSubmission
from services.patrol.adapters.auth import AuthError
from services.patrol.domain.access import Principal, may_read
from services.patrol.domain.audit import describe_submission
from services.patrol.domain.batch import duplicate_items
from services.patrol.domain.idempotency import fingerprint
from services.patrol.domain.intake import Problem, canonical_submission, finding_id_for
from services.patrol.domain.open311 import services as category_services
from services.patrol.domain.status import FindingStatusView, finding_status
from services.patrol.entrypoints.deps import Patrol, api_key_header, bearer, client_address, patrol_of
from services.patrol.entrypoints.errors import ERROR_RESPONSES, audit_refusal, json_error, refused_json
from services.patrol.entrypoints.json_models import BatchResult, CategoryView, FindingBatch, ItemResult
from services.patrol.service import Accepted, Item, Outcome, Refused
from services.reference.model import Category

REPLAYED_HEADER = "Idempotent-Replayed"


async def caller(request: Request,
                 _token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                 api_key: Annotated[str | None, Depends(api_key_header)]) -> Principal:
    """Authenticated and within its rate limit, or the request ends here (401/403/429).

    ``async`` although it never awaits: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per
    request for a few microseconds of token checking."""
    patrol = patrol_of(request)
    principal = patrol.authenticate(request.headers.get("authorization"), api_key, client_address(request))
    if principal is None:
        raise AuthError(401, "a bearer token (Authorization: Bearer ...) or an X-API-Key is required")
    patrol.throttle(principal, client_address(request))
    return principal


Caller = Annotated[Principal, Depends(caller)]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: ERROR_RESPONSES[code] for code in codes}


def router(examples: dict[str, Any]) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["findings"])

    @api.post("/findings", status_code=202, response_model=FindingAccepted,
              responses={202: {"headers": {REPLAYED_HEADER: {
                  "description": "true when the key was already accepted: the earlier answer, nothing published",
                  "schema": {"type": "string", "enum": ["true"]}}}},
                  **_errors(400, 401, 403, 409, 413, 415, 422, 429, 503)},
              summary="Submit one finding; 202 only once the broker has acknowledged it")
    async def submit_finding(request: Request, principal: Caller,
                             submission: Annotated[FindingSubmission, Body(openapi_examples=examples)]) -> Response:
        return await file_finding(request, principal, submission)

    @api.post("/findings/batch", response_model=BatchResult,
              responses={200: {"headers": {"Retry-After": {
                  "description": "Present when some items were not confirmed (status 503): retry those",
                  "schema": {"type": "integer"}}}}, **_errors(400, 401, 403, 413, 415, 422, 429)},
              summary="Submit up to max_batch_items findings; each item gets its own result")
    async def submit_batch(request: Request, principal: Caller, batch: FindingBatch) -> Response:
        return await file_batch(request, principal, batch)

    @api.get("/categories", response_model=list[CategoryView], responses=_errors(401, 403, 404, 422, 429),
             summary="Categories to report (those on a township's list when township_code is given), each with "
                     "its dedup group and radius: what counts as the same matter and the same place")
    async def list_categories(request: Request, _principal: Caller,
                              township_code: Annotated[str | None, Query(pattern=r"^\d{9}$")] = None) -> Response:
        patrol = patrol_of(request)
        reference = patrol.service.reference
        if township_code is not None and township_code not in reference.townships:
            return json_error(404, "unknown_township", f"township {township_code} is not in this deployment")
        listed = category_services.categories_for(reference, township_code, patrol.service.clock())
        return JSONResponse([category_view(listed[code]) for code in sorted(listed)])

    @api.get("/findings/{finding_id}", response_model=FindingStatusView,
             responses=_errors(401, 403, 404, 422, 429, 503),
             summary="Status of a finding and of the case it belongs to")
    async def get_finding(request: Request, principal: Caller,
                          finding_id: Annotated[str, Path(max_length=64)]) -> Response:
        return await _status_answer(patrol_of(request), principal, finding_id)

    @api.get("/findings", response_model=FindingStatusView, responses=_errors(401, 403, 404, 422, 429, 503),
             summary="Status of the caller's own finding, by the client_report_id it was sent with")
    async def get_own_finding(request: Request, principal: Caller,
                              client_report_id: Annotated[str, Query(min_length=1, max_length=128)]) -> Response:
        return await _status_answer(patrol_of(request), principal, finding_id_for(principal.subject,
                                                                                   client_report_id))

    return api


def category_view(category: Category) -> dict[str, Any]:
    return {"category_code": category.code, "name": category.name, "item_codes": list(category.item_codes),
            "subject_kinds": [k.value for k in category.subject_kinds], "dedup_group": category.dedup_group,
            "dedup_radius_m": category.dedup_radius_m}


async def file_finding(request: Request, principal: Principal, submission: FindingSubmission) -> Response:
    """POST /v1/findings once the caller is authenticated and within its rate limit and the body is valid."""
    patrol = patrol_of(request)
    item = Item(submission, fingerprint(canonical_submission(submission)),
                describe_submission(submission.model_dump(mode="json")))
    [outcome] = await patrol.service.file([item], patrol.context(request, "json", "submit_finding", principal))
    if isinstance(outcome, Refused):
        return refused_json(outcome)
    accepted = FindingAccepted(finding_id=outcome.finding_id, client_report_id=outcome.client_report_id,
                               partition=outcome.partition, offset=outcome.offset)
    return JSONResponse(accepted.model_dump(), status_code=202,
                        headers={REPLAYED_HEADER: "true"} if outcome.replayed else None)


async def file_batch(request: Request, principal: Principal, batch: FindingBatch) -> Response:
    """POST /v1/findings/batch once the caller is authenticated and within its rate limit and the body is valid."""
    patrol = patrol_of(request)
    limit = patrol.settings.max_batch_items
    if len(batch.items) > limit:
        # Too many items breaks the documented maxItems: a schema violation like any other (422).
        refused = Refused(422, "batch_too_large", (Problem("items", f"at most {limit} items per batch, got "
                                                                    f"{len(batch.items)}"),))
        audit_refusal(request, refused, principal)
        return refused_json(refused)
    items = _batch_items(batch.items)
    outcomes = await patrol.service.file(items, patrol.context(request, "json", "submit_batch", principal))
    results = [_item_result(i, raw, o) for i, (raw, o) in enumerate(zip(batch.items, outcomes, strict=True))]
    body = BatchResult(accepted=sum(r.outcome in ("accepted", "replayed") for r in results),
                       rejected=sum(r.status < 500 and r.error is not None for r in results),
                       failed=sum(r.status >= 500 for r in results), results=results)
    retry = {"Retry-After": str(patrol.settings.retry_after_seconds)} if body.failed else None
    return JSONResponse(body.model_dump(), status_code=200, headers=retry)


def _batch_items(raw_items: list[dict[str, Any]]) -> list[Item]:
    duplicates = duplicate_items(raw_items)
    items: list[Item] = []
    for index, raw in enumerate(raw_items):
        what = describe_submission(raw, index)
        if index in duplicates:
            items.append(Item(None, "", what, Refused(422, "duplicate_in_batch", (duplicates[index],))))
            continue
        try:
            submission = FindingSubmission.model_validate(raw)
        except ValidationError as exc:
            problems = tuple(Problem(_path(e["loc"]), e["msg"]) for e in exc.errors())
            items.append(Item(None, "", what, Refused(422, "invalid_request", problems)))
            continue
        items.append(Item(submission, fingerprint(canonical_submission(submission)), what))
    return items


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _item_result(index: int, raw: dict[str, Any], outcome: Outcome) -> ItemResult:
    key = _echoable(raw.get("client_report_id"))
    if isinstance(outcome, Accepted):
        return ItemResult(index=index, client_report_id=outcome.client_report_id, status=202,
                          outcome="replayed" if outcome.replayed else "accepted", finding_id=outcome.finding_id,
                          partition=outcome.partition, offset=outcome.offset)
    prefix = f"items[{index}]"
    fields = [FieldError(field=p.field if p.field.startswith("items[") else
                         (f"{prefix}.{p.field}" if p.field else prefix), message=p.message)
              for p in outcome.problems]
    kind: Literal["forbidden", "conflict", "unavailable", "rejected"] = (
        "forbidden" if outcome.status == 403 else "conflict" if outcome.status == 409
        else "unavailable" if outcome.status >= 500 else "rejected")
    return ItemResult(index=index, client_report_id=key, status=outcome.status, outcome=kind,
                      error=ErrorResponse(error=outcome.reason, detail=outcome.detail, field_errors=fields))


def _echoable(value: Any) -> str | None:
    """An item's key as sent, if it can be sent back (a lone surrogate cannot be encoded as UTF-8)."""
    if not isinstance(value, str) or len(value) > 128:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


async def _status_answer(patrol: Patrol, principal: Principal, finding_id: str) -> Response:
    registered, record = await patrol.find(finding_id)
    view = finding_status(finding_id, registered, record, patrol.service.reference)
    reporter = registered[0].reporter if registered else (record.reporter if record else "")
    # Unknown and not-yours look the same, so ids cannot be probed.
    if view is None or not may_read(principal, view.township_code, reporter, patrol.adjoining):
        return json_error(404, "not_found", f"no finding {finding_id} visible to {principal.subject}")
    return JSONResponse(view.model_dump(mode="json"))
