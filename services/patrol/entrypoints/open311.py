"""Open311 GeoReport v2 at /open311/v2: services, service definitions, requests (POST, GET), tokens; JSON and XML."""


import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.responses import Response

from services.patrol.domain.access import Principal, may_read
from services.patrol.domain.intake import Rejected
from services.patrol.domain.open311 import query, requests, services
from services.patrol.entrypoints import open311_format, open311_post
from services.patrol.entrypoints.deps import Patrol, bearer, client_address, patrol_of
from services.patrol.entrypoints.errors import refused_open311
from services.patrol.entrypoints.open311_format import Fmt
from services.patrol.entrypoints.open311_models import (
    Open311Discovery,
    Open311Request,
    Open311Service,
    Open311ServiceDefinition,
    Open311Token,
    responses,
)
from services.patrol.service import Refused

Jurisdiction = Annotated[str | None, Query(pattern=r"^\d{9}$", description="9-digit code of the township")]
SPEC = "http://wiki.open311.org/GeoReport_v2"
def reader(request: Request, _token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
           api_key: Annotated[str | None, Query(max_length=256, description="Optional on reads")] = None,
           ) -> Principal | None:
    """Reads work without credentials (a public view); a valid key or token shows its townships in full."""
    patrol = patrol_of(request)
    principal = patrol.authenticate(request.headers.get("authorization"), api_key or request.headers.get("x-api-key"),
                                    client_address(request))
    patrol.throttle(principal, client_address(request))
    return principal


Reader = Annotated[Principal | None, Depends(reader)]


def _full(patrol: Patrol, principal: Principal | None, township_code: str, reporter: str) -> bool:
    return principal is not None and may_read(principal, township_code, reporter, patrol.adjoining)


def _not_found(fmt: str, what: str) -> Response:
    return open311_format.errors(fmt, 404, [what])


def router() -> APIRouter:
    api = APIRouter(prefix="/open311/v2", tags=["open311"])

    @api.get("/discovery.{fmt}", responses=responses(Open311Discovery, 400, 401, 403, 429))
    async def discovery(request: Request, fmt: Fmt, _caller: Reader) -> Response:
        # Public, but a credential sent is checked: an invalid one is refused, never silently ignored.
        url = str(request.base_url).rstrip("/") + "/open311/v2"
        return open311_format.document(fmt, "discovery", {
            "changeset": "2026-01-01T00:00:00+08:00", "contact": "丹東市鄉鎮綜合行政執法 liandong",
            "key_service": "API keys are issued per system or device by the operators (LIANDONG_API_KEYS)",
            "endpoints": [{"specification": SPEC, "url": url, "changeset": "2026-01-01T00:00:00+08:00",
                           "type": "production", "formats": ["application/json", "text/xml"]}]})

    @api.get("/services.{fmt}", responses=responses(list[Open311Service], 400, 401, 403, 404, 429))
    async def service_list(request: Request, fmt: Fmt, _caller: Reader,
                           jurisdiction_id: Jurisdiction = None) -> Response:
        patrol = patrol_of(request)
        if jurisdiction_id is not None and jurisdiction_id not in patrol.service.reference.townships:
            return _not_found(fmt, f"jurisdiction_id {jurisdiction_id} not found")
        listed = services.service_list(patrol.service.reference, jurisdiction_id, patrol.service.clock())
        return open311_format.document(fmt, "services", listed)

    @api.get("/services/{service_code}.{fmt}", responses=responses(Open311ServiceDefinition, 400, 401, 403, 404, 429))
    async def service_definition(request: Request, fmt: Fmt, _caller: Reader,
                                 service_code: Annotated[str, Path(max_length=64)],
                                 jurisdiction_id: Jurisdiction = None) -> Response:
        patrol = patrol_of(request)
        reference = patrol.service.reference
        if jurisdiction_id is not None and jurisdiction_id not in reference.townships:
            return _not_found(fmt, f"jurisdiction_id {jurisdiction_id} not found")
        category = services.categories_for(reference, jurisdiction_id, patrol.service.clock()).get(service_code)
        if category is None:
            return _not_found(fmt, f"service_code {service_code} not found" +
                              (f" for jurisdiction {jurisdiction_id}" if jurisdiction_id else ""))
        return open311_format.document(fmt, "service_definition", services.service_definition(category))

    open311_post.add_route(api)

    @api.get("/tokens/{token}.{fmt}", responses=responses(list[Open311Token], 400, 401, 403, 404, 429, 503))
    async def token(request: Request, fmt: Fmt, _caller: Reader,
                    token: Annotated[str, Path(max_length=64)]) -> Response:
        patrol = patrol_of(request)
        registered, record = await patrol.find(token)
        if registered is None and record is None:
            return _not_found(fmt, f"token {token} not found")
        return open311_format.document(fmt, "service_requests", [{"service_request_id": token, "token": token}])

    @api.get("/requests.{fmt}", responses=responses(list[Open311Request], 400, 401, 403, 404, 429, 503))
    async def request_list(request: Request, fmt: Fmt, caller: Reader, jurisdiction_id: Jurisdiction = None,
                           service_request_id: Annotated[str | None, Query(max_length=10_000)] = None,
                           service_code: Annotated[str | None, Query(max_length=2000)] = None,
                           status: Annotated[str | None, Query(max_length=20, description="open, closed")] = None,
                           start_date: Annotated[str | None, Query(max_length=40)] = None,
                           end_date: Annotated[str | None, Query(max_length=40)] = None,
                           extensions: bool = False) -> Response:
        patrol = patrol_of(request)
        if jurisdiction_id is not None and jurisdiction_id not in patrol.service.reference.townships:
            return _not_found(fmt, f"jurisdiction_id {jurisdiction_id} not found")
        try:
            wanted = query.parse_query(
                now=patrol.service.clock(), service_request_id=service_request_id, service_code=service_code,
                status=status, start_date=start_date, end_date=end_date,
                township_codes=frozenset({jurisdiction_id}) if jurisdiction_id else None)
        except Rejected as exc:
            return refused_open311(fmt, Refused(400, exc.reason, tuple(exc.problems)))
        found = await asyncio.to_thread(patrol.lookup.search, wanted)
        views = [requests.request_view(report, case, patrol.service.reference, extensions=extensions,
                                       full=_full(patrol, caller, report.township_code, report.reporter))
                 for report, case in found]
        return open311_format.document(fmt, "service_requests", views)

    @api.get("/requests/{service_request_id}.{fmt}",
             responses=responses(list[Open311Request], 400, 401, 403, 404, 429, 503))
    async def request_one(request: Request, fmt: Fmt, caller: Reader,
                          service_request_id: Annotated[str, Path(max_length=64)],
                          extensions: bool = False) -> Response:
        patrol = patrol_of(request)
        registered, record = await patrol.find(service_request_id)
        reference = patrol.service.reference
        if registered is not None:
            report, case = registered
            view = requests.request_view(report, case, reference, extensions=extensions,
                                         full=_full(patrol, caller, report.township_code, report.reporter))
        elif record is not None:
            view = requests.pending_view(record, reference, extensions=extensions,
                                         full=_full(patrol, caller, record.township_code, record.reporter))
        else:
            return _not_found(fmt, f"service_request_id {service_request_id} not found")
        return open311_format.document(fmt, "service_requests", [view])

    return api

