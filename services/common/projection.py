"""What the projections of the case events (info-share's register, patrol's case view) share."""

from __future__ import annotations


class NotApplicable(Exception):
    """An event a projection cannot apply (its case unknown, or contradicting what it holds): dead-lettered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
