"""Ports of the patrol service layer: the publisher (and its answers), the idempotency store, the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.common.audit import AuditLog as AuditLog  # the shared port, re-exported for the service layer
from services.common.envelope import Record
from services.patrol.domain.idempotency import KeyRecord


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time: the caller must be told to retry, nothing was confirmed.

    ``sent`` says whether the record was handed to the producer: then it may still reach the topic later.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass(frozen=True)
class Ack:
    partition: int
    offset: int


class Publisher(Protocol):
    async def scope(self) -> str: ...

    async def publish_many(self, records: Sequence[Record]) -> list[Ack | BrokerUnavailable]: ...


class IdempotencyStore(Protocol):
    """Each write returns once it is committed (the adapter decides how: its own threads, group commit)."""

    async def claim(self, records: Sequence[KeyRecord]) -> list[KeyRecord | None]: ...

    async def accept(self, accepted: Sequence[tuple[KeyRecord, Ack]]) -> list[KeyRecord]: ...

    async def release(self, records: Sequence[KeyRecord]) -> None: ...

    async def find(self, scope: str, finding_id: str) -> KeyRecord | None: ...
