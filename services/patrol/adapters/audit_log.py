"""Audit log as JSON lines: appended to a file (flushed per entry) or written to standard error."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TextIO

from services.patrol.domain.audit import AuditEntry


class JsonLinesAuditLog:
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
        line = json.dumps({"audit": entry.to_dict()}, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._stream.write(line + "\n")
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
