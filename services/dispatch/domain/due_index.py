"""Unanswered referrals ordered by their acceptance deadline, so finding the overdue ones reads only those.

The deadline timer used to visit every referral of the worker on each tick; with a national register that is
millions of rows a minute on the event loop. The index holds one entry per referral that could still become
overdue (issued and not yet warned about) and answers "which deadlines have passed" from the front of the order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sortedcontainers import SortedList


class DueIndex:
    def __init__(self) -> None:
        self._deadline_of: dict[str, datetime] = {}
        self._by_deadline: SortedList = SortedList()  # (deadline, referral_id)

    def __len__(self) -> int:
        return len(self._deadline_of)

    def track(self, referral_id: str, deadline: datetime | None) -> None:
        """Watch ``referral_id`` until ``deadline``, or stop watching it (``None``: answered, warned, closed)."""
        previous = self._deadline_of.pop(referral_id, None)
        if previous is not None:
            self._by_deadline.remove((previous, referral_id))
        if deadline is not None:
            self._deadline_of[referral_id] = deadline
            self._by_deadline.add((deadline, referral_id))

    def passed(self, now: datetime) -> Iterator[str]:
        """Referrals whose deadline is strictly before ``now`` (the deadline second itself is still on time),
        earliest first. Aware datetimes compare as instants, so the calendar's zone does not matter here."""
        for deadline, referral_id in self._by_deadline:
            if deadline >= now:
                return
            yield referral_id

    def clear(self) -> None:
        self._deadline_of.clear()
        self._by_deadline.clear()
