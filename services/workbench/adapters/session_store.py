"""Sessions kept in this process's memory: one workbench process per deployment (a shared store for several)."""

from __future__ import annotations

import threading

from services.workbench.domain.sessions import Session


class MemorySessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def add(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.session_id] = session

    def get(self, session_id: str, now: float) -> Session | None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and not session.alive(now):
                del self._sessions[session_id]  # an ended session is gone, not merely refused
                return None
            return session

    def remove(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
