"""HTTP load on the patrol service over keep-alive connections: closed loop (ingest) and open loop (latency)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import uvloop

from bench.machine import cpu_seconds
from scripts.sample_day import PlannedSubmission
from services.patrol.adapters.auth import issue_token
from services.patrol.settings import PatrolSettings
from services.reference.loader import load_reference_data

TRANSPORT_ERROR = 0  # pseudo status: the connection failed (reset, refused)
GIVEN_UP = -1  # pseudo status: still unanswered when the open-loop run ended


def tokens(jwt_secret: str, plan: Sequence[PlannedSubmission]) -> dict[str, str]:
    """Bearer tokens as the demo mints them: one per township officer, hotline and video file for every township."""
    settings = PatrolSettings(jwt_secret=jwt_secret)  # type: ignore[arg-type]
    every_township = sorted(load_reference_data().townships)
    out = {}
    for principal in {p.principal for p in plan}:
        if principal.startswith("officer:"):
            township = principal.split(":", 1)[1]
            out[principal] = issue_token(settings, f"officer-{township}", [township])
        else:
            out[principal] = issue_token(settings, f"system-{principal}", every_township, role="system")
    return out


@dataclass
class LoadResult:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    item_outcomes: Counter[str] = field(default_factory=Counter)  # batches: outcome (and error) of every item
    accepted_items: int = 0
    elapsed_seconds: float = 0.0
    response_seconds: list[float] = field(default_factory=list)  # from the scheduled send time to the answer
    client_cpu_seconds: float = 0.0
    last_send_lag_seconds: float = 0.0  # open loop: how far behind schedule the last request left
    last_answer: float = 0.0  # open loop: perf_counter() of the last answer

    @property
    def accepted_per_s(self) -> float:
        return self.accepted_items / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def summary(self) -> dict[str, object]:
        return {"sent": self.sent, "statuses": dict(self.statuses), "items": dict(self.item_outcomes),
                "accepted": self.accepted_items,
                "elapsed_s": round(self.elapsed_seconds, 2), "client_cpu_s": round(self.client_cpu_seconds, 2)}


async def _closed_loop(base_url: str, path: str, bodies: Sequence[tuple[str, object]],
                       connections: int) -> LoadResult:
    # Plain HTTP/1.1 over asyncio streams, requests encoded before the clock starts. The generator shares the two
    # CPUs with the service and the broker, so what it spends is taken from them: httpx cost ~3 ms of CPU per
    # request (httpcore scans its whole pool per request), aiohttp ~0.4-0.5 ms — near a third of the service's own
    # cost per single finding, and half a CPU at 1,000 requests a second. Sending prepared bytes and reading the
    # answer by its Content-Length costs a few tens of µs. The requests are the bytes httpx and aiohttp sent
    # (compact UTF-8 JSON, the same headers); a connection the service closes is opened again.
    result = LoadResult()
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    prepared = [_request(host, port, path, token, body) for token, body in bodies]
    queue = iter(prepared)

    async def worker() -> None:
        connection: _Connection | None = None
        for request in queue:
            try:
                connection = connection or await _Connection.open(host, port)
                status, payload, keep_alive = await asyncio.wait_for(connection.exchange(request), 60)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
                result.statuses[TRANSPORT_ERROR] += 1  # counted, not retried: it shows in the summary
                if connection is not None:
                    connection.close()
                connection = None
                continue
            if not keep_alive:
                connection.close()
                connection = None
            result.statuses[status] += 1
            if status == 202:
                result.accepted_items += 1
            elif status == 200:  # a batch: count the items the broker acknowledged
                answer = json.loads(payload)
                result.accepted_items += int(answer["accepted"])
                for item in answer["results"]:
                    error = item.get("error") or {}
                    result.item_outcomes[f"{item['outcome']}:{error.get('error', '')}".rstrip(":")] += 1
        if connection is not None:
            connection.close()

    cpu = cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.elapsed_seconds = time.perf_counter() - started
    result.client_cpu_seconds = cpu_seconds() - cpu
    result.sent = sum(len(body["items"]) if isinstance(body, dict) and "items" in body else 1
                      for _token, body in bodies)
    return result


def _request(host: str, port: int, path: str, token: str, body: object) -> bytes:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    return head.encode("latin-1") + data


class _Connection:
    """One keep-alive HTTP/1.1 connection: a request out, its answer read by Content-Length (or chunks)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """(status, body, whether the connection stays open)."""
        self._writer.write(request)
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *header_lines = head[:-4].split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            payload = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            payload = await self._chunked()
        else:
            raise ValueError(f"answer without a length: {status_line}")
        return int(status_line.split(" ", 2)[1]), payload, headers.get("connection", "").lower() != "close"

    async def _chunked(self) -> bytes:
        chunks = []
        while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)
        await self._reader.readuntil(b"\r\n")  # no trailers are sent to this client
        return b"".join(chunks)

    def close(self) -> None:
        self._writer.close()


def closed_loop(base_url: str, path: str, bodies: Sequence[tuple[str, object]],
                connections: int = 32) -> LoadResult:
    """Every connection sends its next request as soon as the previous answer is in: the service's capacity."""
    # uvloop, as the service itself runs: the generator's own event loop costs less of the shared CPUs.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_closed_loop(base_url, path, bodies, connections))


async def _open_loop(base_url: str, bodies: Sequence[tuple[str, object]], rate_per_s: float,
                     connections: int, grace_seconds: float) -> LoadResult:
    result = LoadResult()
    # The schedule puts each request in a FIFO when it is due, whatever the answers (open loop); ``connections``
    # senders take them from there. Nothing else waits in bulk: httpcore's pool rescans every queued request on each
    # change, and asyncio.Semaphore.acquire scans all its waiters, so tens of thousands queued in either stall the
    # generator itself. The time spent in the FIFO counts in the client-side answer time.
    # aiohttp, as in the closed loop: with httpx this generator used a whole CPU by ~45 requests a second.
    due_queue: asyncio.Queue[tuple[str, object, float] | None] = asyncio.Queue()
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    async with aiohttp.ClientSession(base_url, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def sender() -> None:
            while (item := await due_queue.get()) is not None:
                token, body, due = item
                data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                try:
                    async with session.post("/v1/findings", data=data, headers=headers) as response:
                        status = response.status
                        await response.read()
                except (aiohttp.ClientError, TimeoutError):
                    result.statuses[TRANSPORT_ERROR] += 1
                    continue
                answered = time.perf_counter()
                result.response_seconds.append(answered - due)
                result.last_answer = max(result.last_answer, answered)
                result.statuses[status] += 1
                if status == 202:
                    result.accepted_items += 1

        senders = [asyncio.create_task(sender()) for _ in range(connections)]
        cpu = cpu_seconds()
        started = time.perf_counter()
        for index, (token, body) in enumerate(bodies):
            due = started + index / rate_per_s
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            due_queue.put_nowait((token, body, due))
        result.last_send_lag_seconds = max(0.0, time.perf_counter() - (started + (len(bodies) - 1) / rate_per_s))
        for _ in senders:
            due_queue.put_nowait(None)
        # A service slower than the offered rate leaves a queue behind: what is not answered by then is given up.
        _done, pending = await asyncio.wait(senders, timeout=grace_seconds)
        result.elapsed_seconds = max(result.last_answer - started, len(bodies) / rate_per_s)
        result.statuses[GIVEN_UP] += sum(1 for item in _drain(due_queue) if item is not None)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        result.statuses[GIVEN_UP] += len(pending)  # requests in flight when the run ended
        result.client_cpu_seconds = cpu_seconds() - cpu
    result.sent = len(bodies)
    return result


def _drain(queue: asyncio.Queue[tuple[str, object, float] | None]) -> list[tuple[str, object, float] | None]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def open_loop(base_url: str, bodies: Sequence[tuple[str, object]], rate_per_s: float,
              connections: int = 256, grace_seconds: float = 10.0) -> LoadResult:
    """Single findings sent at a fixed rate on a schedule, independent of the answers; requests still unanswered
    ``grace_seconds`` after the last was due are given up (the accepted rate then shows what was sustained)."""
    return asyncio.run(_open_loop(base_url, bodies, rate_per_s, connections, grace_seconds))
