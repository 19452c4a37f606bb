"""Findings driven continuously through the patrol HTTP API; every 202 is recorded, 503s are retried."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
from stdnum.cn import ric

from faults.history import Ack, History
from scripts.sample_day import PlannedSubmission, sample_day
from services.reference.loader import ReferenceData

RETRY_FOR_SECONDS = 120.0


@dataclass(frozen=True)
class Planned:
    item: PlannedSubmission
    violation: str
    copies: int = 1


def resident_id(rng: random.Random) -> str:
    body = f"210602{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + ric.calc_check_digit(body)


def plan_day(reference: ReferenceData, day: date, seed: int, short: bool, pii_share: float = 0.15) -> list[Planned]:
    """A sample day (repeat reports and app re-sends included); some descriptions carry a phone and a resident id."""
    per_township = (1, 1) if short else (1, 3)
    rng = random.Random(seed)
    out = []
    for item in sample_day(reference, day, seed=seed, violations_per_township=per_township):
        if rng.random() < pii_share and not item.resend:
            body = dict(item.body, description=item.body["description"]
                        + f"當事人電話139{rng.randint(10_000_000, 99_999_999)}，身份證號{resident_id(rng)}。")
            item = PlannedSubmission(item.principal, body, item.violation, item.resend)
        out.append(Planned(item, f"{day}:{item.violation}"))
    # A re-send must carry exactly what the first send carried.
    firsts = {p.item.body["client_report_id"]: p.item.body for p in out if not p.item.resend}
    return [Planned(PlannedSubmission(p.item.principal, firsts[p.item.body["client_report_id"]], p.item.violation,
                                      True), p.violation) if p.item.resend else p for p in out]


def skew(plan: Iterable[Planned], rng: random.Random) -> list[Planned]:
    """Device clocks hours slow: observed_at moved 2–10 h into the past, by a different amount per device."""
    out = []
    shift: dict[str, timedelta] = {}
    for p in plan:
        cid = p.item.body["client_report_id"]
        shift.setdefault(cid, timedelta(hours=rng.uniform(2, 10)))
        observed = datetime.fromisoformat(p.item.body["observed_at"]) - shift[cid]
        body = dict(p.item.body, observed_at=observed.isoformat())
        out.append(Planned(PlannedSubmission(p.item.principal, body, p.item.violation, p.item.resend), p.violation))
    return out


class Driver:
    """Posts a plan in a background thread, spread over ``duration`` seconds, into ``history``."""

    def __init__(self, base_url: str, tokens: dict[str, str], history: History) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self.history = history
        self.lock = threading.Lock()
        self.refused: list[tuple[str, int, str]] = []

    def start(self, scenario: str, plan: list[Planned], duration: float) -> threading.Thread:
        thread = threading.Thread(target=lambda: asyncio.run(self._run(scenario, plan, duration)), daemon=True)
        thread.start()
        return thread

    def run(self, scenario: str, plan: list[Planned], duration: float) -> None:
        self.start(scenario, plan, duration).join()

    async def _run(self, scenario: str, plan: list[Planned], duration: float) -> None:
        limits = asyncio.Semaphore(16)
        gap = duration / max(1, len(plan))
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            async def send(index: int, planned: Planned) -> None:
                await asyncio.sleep(index * gap)
                async with limits:
                    await asyncio.gather(*(self._send(client, scenario, planned) for _ in range(planned.copies)))
            await asyncio.gather(*(send(i, p) for i, p in enumerate(plan)))

    async def _send(self, client: httpx.AsyncClient, scenario: str, planned: Planned) -> None:
        item = planned.item
        headers = {"Authorization": f"Bearer {self.tokens[item.principal]}"}
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        status, detail = 0, ""
        while time.monotonic() < deadline:
            try:
                response = await client.post("/v1/findings", json=item.body, headers=headers)
                status, detail = response.status_code, response.text[:300]
            except httpx.HTTPError as exc:  # patrol itself unreachable for a moment
                status, detail = 599, repr(exc)
            with self.lock:
                self.history.statuses[scenario][status] += 1
            if status == 202:
                with self.lock:
                    self.history.acks.append(Ack(scenario, response.json()["finding_id"], planned.violation,
                                                 item.body["client_report_id"]))
                return
            if status not in (503, 599):
                break
            await asyncio.sleep(0.5)
        with self.lock:
            self.refused.append((item.body["client_report_id"], status, detail))


def days_ago(n: int) -> date:
    return (datetime.now(UTC) - timedelta(days=n)).date()
