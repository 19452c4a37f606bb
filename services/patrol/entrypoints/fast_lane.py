"""The JSON API's two write routes without the framework's per-request machinery, for requests that need none of it.

Through FastAPI a single finding costs about as much CPU in routing, dependency solving, body handling and its
middleware layers as in filing it. A request that is authenticated, within its caller's rate limit and carries a
valid body needs none of that: this middleware parses and validates the body exactly as the route does
(``json.loads``, then the route's own pydantic model in Python mode), charges the caller one request and calls the
route's own filing code (``json_api.file_finding`` / ``file_batch``). Everything else — no or a refused credential,
an address out of failed authentications, a caller over its rate, a body that does not parse or validate, another
content type — is handed to the route as it came, with nothing counted or charged, so every refusal is still the
route's own answer, audit entry and metric.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from services.patrol.domain.access import Principal
from services.patrol.entrypoints.deps import Patrol
from services.patrol.entrypoints.guards import replay


@dataclass(frozen=True)
class Lane:
    route: BaseRoute  # the route the request would have taken: it names the request in the metrics
    validate: Callable[[Any], Any]  # the route's body model, validated as FastAPI validates it
    file: Callable[[Request, Principal, Any], Awaitable[Response]]


class FastLane:
    def __init__(self, app: ASGIApp, patrol: Patrol, lanes: dict[str, Lane]) -> None:
        self.app = app
        self.patrol = patrol
        self.lanes = lanes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.lanes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if lane is None:
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            return  # the client left before its body was in: nobody to answer
        if not await self._file(lane, scope, receive, send, body):
            await self.app(scope, replay(body, receive), send)

    async def _file(self, lane: Lane, scope: Scope, receive: Receive, send: Send, body: bytes) -> bool:
        """Answer the request if it needs nothing but filing; False, having done nothing, otherwise."""
        headers = Headers(scope=scope)
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return False
        try:
            payload = lane.validate(json.loads(body))
        except Exception:  # not JSON, not valid, too deep...: whatever it is, the route says it
            return False
        client = scope.get("client")
        principal = self.patrol.admit(headers.get("authorization"), headers.get("x-api-key"),
                                      client[0] if client else "")
        if principal is None:
            return False
        scope["route"] = lane.route
        response = await lane.file(Request(scope, receive), principal, payload)
        await response(scope, receive, send)
        return True


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
