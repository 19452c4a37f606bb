"""Operations: the liveness probe, Prometheus metrics, and the per-route timing of every request."""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.info_share import metrics

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", include_in_schema=False)
def prometheus() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def time_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """HTTP middleware: each request's time, by route template and status class."""
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    metrics.QUERY_SECONDS.labels(getattr(route, "path", "unmatched"),
                                 f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
    return response
