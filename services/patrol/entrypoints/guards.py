"""ASGI guard for write routes: content type and body size are checked before anything parses the body."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class WriteRule:
    path: re.Pattern[str]
    max_bytes: int
    content_types: tuple[str, ...]
    # (status, reason, message, scope) -> the error response in the route's own format
    render: Callable[[int, str, str, Scope], Response]


# Called for every refused write so it is audited and counted like the refusals handlers make.
OnRefused = Callable[[Scope, int, str, str], None]


class WriteGuard:
    def __init__(self, app: ASGIApp, rules: list[WriteRule], on_refused: OnRefused) -> None:
        self.app = app
        self.rules = rules
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self._rule_for(scope)
        if rule is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in rule.content_types and not (
                "application/json" in rule.content_types and media_type.endswith("+json")):
            await self._refuse(rule, scope, receive, send, 415, "unsupported_media_type",
                               f"Content-Type must be {' or '.join(rule.content_types)}, not {media_type or 'absent'}")
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > rule.max_bytes:
            await self._refuse(rule, scope, receive, send, 413, "body_too_large",
                               f"body of {declared} bytes exceeds the limit of {rule.max_bytes} bytes")
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > rule.max_bytes:
                await self._refuse(rule, scope, receive, send, 413, "body_too_large",
                                   f"body exceeds the limit of {rule.max_bytes} bytes")
                return
        await self.app(scope, replay(bytes(body), receive), send)

    def _rule_for(self, scope: Scope) -> WriteRule | None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        return next((r for r in self.rules if r.path.fullmatch(scope["path"])), None)

    async def _refuse(self, rule: WriteRule, scope: Scope, receive: Receive, send: Send, status: int, reason: str,
                      message: str) -> None:
        self.on_refused(scope, status, reason, message)
        await rule.render(status, reason, message, scope)(scope, receive, send)


def replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` with ``body`` delivered again first (it was read already, to look at it)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would report it

    return replayed
