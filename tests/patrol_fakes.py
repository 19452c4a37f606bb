"""Fakes for patrol's ports: a broker that acknowledges in memory (or is down, or never acknowledges) and an
idempotency store with the SQL store's contract, in a dict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from services.common.envelope import Record
from services.patrol.domain.idempotency import KeyRecord, KeyState
from services.patrol.ports import Ack, BrokerUnavailable


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[Record] = []
        self.down = False
        self.unacknowledged = False  # handed over, then no acknowledgement

    async def scope(self) -> str:
        if self.down:
            raise BrokerUnavailable("connection refused", sent=False)
        return "topic-incarnation-1"

    async def publish_many(self, records: Sequence[Record]) -> list[Ack | BrokerUnavailable]:
        if self.unacknowledged:
            return [BrokerUnavailable("timed out", sent=True) for _ in records]
        self.sent += records
        return [Ack(0, len(self.sent) - len(records) + i) for i in range(len(records))]


class FakeStore:
    """Same contract as the SQL store, in a dict."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], KeyRecord] = {}

    @staticmethod
    def _key(r: KeyRecord) -> tuple[str, str, str]:
        return r.scope, r.reporter, r.client_report_id

    async def claim(self, records: Sequence[KeyRecord]) -> list[KeyRecord | None]:
        found: list[KeyRecord | None] = []
        for r in records:
            found.append(self.rows.get(self._key(r)))
            self.rows.setdefault(self._key(r), r)
        return found

    async def accept(self, accepted: Sequence[tuple[KeyRecord, Ack]]) -> list[KeyRecord]:
        for r, ack in accepted:
            stored = self.rows[self._key(r)]
            if stored.state is KeyState.PENDING and stored.fingerprint == r.fingerprint:
                self.rows[self._key(r)] = replace(stored, state=KeyState.ACCEPTED, partition=ack.partition,
                                                  offset=ack.offset)
        return [self.rows[self._key(r)] for r, _ in accepted]

    async def release(self, records: Sequence[KeyRecord]) -> None:
        for r in records:
            stored = self.rows.get(self._key(r))
            if stored and stored.state is KeyState.PENDING and stored.fingerprint == r.fingerprint:
                del self.rows[self._key(r)]

    async def find(self, scope: str, finding_id: str) -> KeyRecord | None:
        return next((r for r in self.rows.values() if r.scope == scope and r.finding_id == finding_id), None)
