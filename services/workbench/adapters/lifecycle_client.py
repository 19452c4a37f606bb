"""info-share's lifecycle API, called with the signed-in person's own bearer token: the workbench's only source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    text: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class LifecycleClient:
    def __init__(self, base_url: str, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds)

    async def get(self, token: str, path: str, params: dict[str, Any] | None = None) -> Answer:
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        return await self._call("GET", path, token, params=clean)

    async def get_text(self, token: str, path: str) -> Answer:
        return await self._call("GET", path, token, as_text=True)

    async def act(self, token: str, referral_id: str, segment: str, body: dict[str, Any],
                  idempotency_key: str) -> Answer:
        # The key comes from the form: a double submit, or a retry after a timeout, is the same action.
        return await self._call("POST", f"/v1/referrals/{referral_id}/{segment}", token, json=body,
                                headers={"Idempotency-Key": idempotency_key})

    async def _call(self, method: str, path: str, token: str, *, as_text: bool = False,
                    headers: dict[str, str] | None = None, **kwargs: Any) -> Answer:
        try:
            response = await self._client.request(method, path, headers={"Authorization": f"Bearer {token}",
                                                                         **(headers or {})}, **kwargs)
        except httpx.HTTPError as exc:  # info-share down or slow: a page that says so, never a 500
            return Answer(503, {"detail": f"info-share unreachable: {type(exc).__name__}"})
        if as_text:
            return Answer(response.status_code, {}, response.text)
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:500]}
        return Answer(response.status_code, body if isinstance(body, dict) else {"items": body})

    async def aclose(self) -> None:
        await self._client.aclose()
