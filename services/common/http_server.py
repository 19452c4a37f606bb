"""How every HTTP service is served: which proxies' forwarding headers are believed, how large request headers may be.

uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default: any caller on the host could name any address and so
guess credentials without limit (the brute-force guard is per address) or lock out an address it names. Here the
headers are believed only from the proxies a deployment names (``LIANDONG_TRUSTED_PROXIES``, default none).
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


def server_options(trusted_proxies: str) -> dict[str, Any]:
    """uvicorn options: forwarding headers only from ``trusted_proxies`` (comma-separated addresses or networks)."""
    proxies = ",".join(p.strip() for p in trusted_proxies.split(",") if p.strip())
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or ""}


class HeaderLimit:
    """Refuses a request whose header lines together exceed ``max_bytes`` with 431, before the application runs.

    The HTTP parser (httptools) has no limit of its own: an 8 MB header was read and handed on.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and sum(
                len(name) + len(value) + 4 for name, value in scope.get("headers", ())) > self.max_bytes:
            body = b'{"error":"headers_too_large","detail":"request headers over the limit"}'
            await send({"type": "http.response.start", "status": 431,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
