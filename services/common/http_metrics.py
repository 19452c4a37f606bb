"""``liandong_http_request_duration_seconds``: every HTTP service's requests by route template and status class.

One histogram for all services (label ``service``), so the dashboards' request-rate, latency and 5xx panels cover
patrol and info-share alike. ``count_request`` is what a service's outermost ASGI middleware calls; it is told of
an exception that escaped the application, because Starlette's ``ServerErrorMiddleware`` — which sits outside every
user middleware — turns it into a 500 that no inner middleware ever sees as a response.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_SECONDS = Histogram(
    "liandong_http_request_duration_seconds", "HTTP request latency", ["service", "route", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def status_class(status: int | None, raised: bool) -> str:
    """The class of what the client got: an exception before the response started becomes Starlette's 500."""
    if status is None:
        return "5xx" if raised else "unknown"
    return f"{status // 100}xx"


def count_request(service: str, scope: Scope, status: int | None, raised: bool, started: float) -> None:
    route: Any = scope.get("route")
    REQUEST_SECONDS.labels(service, getattr(route, "path", "unmatched"),
                           status_class(status, raised)).observe(time.perf_counter() - started)


class HttpMetrics:
    """Outermost ASGI middleware of a service: times every request and counts it by status class, 500s included.

    Plain ASGI rather than ``@app.middleware("http")``: BaseHTTPMiddleware costs an extra task per request, and its
    ``call_next`` re-raises an application's exception past the code that would count it.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        raised = False
        try:
            await self.app(scope, receive, remember_status)
        except Exception:
            raised = True
            raise
        finally:
            count_request(self.service, scope, status, raised, started)
