"""An app served for real, as the services' ``__main__`` serves it (uvicorn over TCP, lifespan included), and
clients that connect from chosen loopback addresses. Imports no service: each service's server fixture
(tests/patrol_served.py, tests/info_share_served.py) and a service's own tests build on it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from deploy.kafka.local_kafka import free_port
from services.common.http_server import server_options
from services.common.polling import poll_until

ATTACKER = "127.0.0.2"  # where a PatrolServer's harness client connects from
JWT_SECRET = "patrol-tests-secret-0123456789-abcdef"  # patrol's and info-share's test servers: one token fits both


@contextmanager
def serving(app: FastAPI, trusted_proxies: str = "") -> Iterator[str]:
    """``app`` behind uvicorn on a free loopback port (lifespan included), served as the services' ``__main__``
    serves them (``server_options``); yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           **server_options(trusted_proxies)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        poll_until(lambda: _healthy(base), 30, 0.05, f"{app.title} up")
        yield base
    finally:
        server.should_exit = True
        thread.join(15)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def client_from(base: str, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.0.0.x is this machine)."""
    return httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=address), timeout=30)
