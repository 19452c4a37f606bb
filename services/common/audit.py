"""Audit entries — who, what, when, outcome — and where they go: JSON lines in a file, standard error, or memory.

Shared by patrol (every write, and refused authentication on reads) and info-share (every refused request). What an
entry may say about the request is the caller's allow-list (``what``); tokens and keys are never in it.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO


class Credentialed(Protocol):
    """An authenticated caller, as far as the audit log cares."""

    @property
    def subject(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def method(self) -> str: ...


@dataclass(frozen=True)
class Who:
    subject: str = "anonymous"
    role: str = ""
    method: str = ""  # "jwt", "api_key", or "" when no credential was accepted
    client_address: str = ""

    @classmethod
    def of(cls, principal: Credentialed | None, client_address: str) -> Who:
        if principal is None:
            return cls(client_address=client_address)
        return cls(principal.subject, principal.role, principal.method, client_address)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    request_id: str
    api: str  # "json" or "open311" (patrol), "info_share"
    action: str  # e.g. "submit_finding", "submit_batch", "read"
    who: Who
    outcome: str  # accepted, replayed, rejected, conflict, unavailable, rate_limited, unauthenticated, forbidden
    status: int
    reason: str = ""
    what: dict[str, Any] = field(default_factory=dict)
    problems: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(), "request_id": self.request_id, "api": self.api, "action": self.action,
            "who": {"subject": self.who.subject, "role": self.who.role, "method": self.who.method,
                    "client_address": self.who.client_address},
            "what": self.what, "outcome": self.outcome, "status": self.status, "reason": self.reason,
            "problems": [{"field": f, "message": m} for f, m in self.problems],
        }


# Built once: json.dumps with any option builds a new encoder on every call.
_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class AuditLog(Protocol):
    def record(self, entry: AuditEntry) -> None: ...

    def record_many(self, entries: Sequence[AuditEntry]) -> None:
        """Every entry of one request (a batch has one per item), in order."""
        ...


class JsonLinesAuditLog:
    """One ``{"audit": {...}}`` line per entry, appended to ``path`` (flushed per entry) or written to stderr."""

    def __init__(self, path: str = "") -> None:
        self._lock = threading.Lock()
        self._stream: TextIO
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # backslashreplace: a stray lone surrogate in a refused input must not make the audit write fail.
            self._stream = open(path, "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115 - process-long
            self._owned = True
        else:
            self._stream = sys.stderr
            self._owned = False

    def record(self, entry: AuditEntry) -> None:
        self.record_many((entry,))

    def record_many(self, entries: Sequence[AuditEntry]) -> None:
        """Every entry is out of the process (written and flushed) before this returns.

        To a file, all of them in one write (a batch's 500 entries were 500 writes and flushes): an append is not
        interleaved with other processes' appends. To standard error, one write per line, as a pipe keeps only
        writes up to its buffer size (4 KiB) whole when several processes write to it.
        """
        lines = [_LINE.encode({"audit": entry.to_dict()}) + "\n" for entry in entries]
        with self._lock:
            if self._owned:
                self._stream.write("".join(lines))
                self._stream.flush()
                return
            for line in lines:
                self._stream.write(line)
                self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()


class MemoryAuditLog:
    """Keeps entries in a list: for tests and for embedding the app."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    def record_many(self, entries: Sequence[AuditEntry]) -> None:
        self.entries.extend(entries)
