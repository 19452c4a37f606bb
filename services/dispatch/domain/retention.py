"""How long dispatch keeps what a closed case leaves in its state; the register keeps the history for good."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Retention:
    # The case file, the referrals and the overdue notices of a closed case: after this, an answer naming one of
    # its referrals is refused as unknown (the case is closed; nothing may follow).
    closed_files: timedelta = timedelta(days=90)
    # The closed case in the dedup index, where a repeat report at its place names it as the case it recurs
    # (previous_case_id). After this a repeat report opens a case without that link. It must be at least patrol's
    # oldest acceptable finding (LIANDONG_MAX_AGE_DAYS, 30): a re-sent finding is then never decided afresh.
    recurrence_window: timedelta = timedelta(days=365)

    def __post_init__(self) -> None:
        if self.closed_files <= timedelta(0) or self.recurrence_window < self.closed_files:
            raise ValueError("retention: the recurrence window must be at least the closed files' retention, and "
                             "both positive")
