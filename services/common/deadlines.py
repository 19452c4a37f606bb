"""Referral time limits in working days of the official Chinese holiday calendar (including 調休 weekends)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

import chinese_calendar

# China has kept UTC+8 without daylight saving since 1991; a fixed offset spares us the host's tz database.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)


class CalendarNotCovered(LookupError):
    """The holiday calendar has no data for a year a deadline falls in: we refuse to guess."""

    def __init__(self, day: date) -> None:
        self.day = day
        super().__init__(
            f"the official holiday calendar (chinese_calendar) has no data for {day.year} (needed for {day}); "
            "upgrade chinesecalendar once the State Council publishes that year's arrangement"
        )


@lru_cache(maxsize=8192)  # a deadline walks up to 5 days ahead per referral; the calendar is fixed per day
def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        raise CalendarNotCovered(day) from None


# Holidays fixed by date in the national holiday regulation (全国年节及纪念日放假办法): New Year's Day, Labour Day,
# National Day. The lunar holidays and the adjusted weekends of a year are only known from its official arrangement.
FIXED_DATE_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


def provisional_is_working_day(day: date) -> bool:
    """For a year the official calendar does not cover yet: Monday–Friday except the fixed-date holidays.

    A deadline computed this way is provisional — it can be off around lunar holidays and adjusted weekends — but
    a referral issued in late December must still get a deadline rather than stop the dispatcher.
    """
    return day.weekday() < 5 and (day.month, day.day) not in FIXED_DATE_HOLIDAYS


def nth_working_day_after(day: date, n: int, provisional_outside_calendar: bool = False) -> date:
    """The ``n``-th working day strictly after ``day`` (the issue day itself never counts)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    current, counted = day, 0
    while counted < n:
        current += timedelta(days=1)
        try:
            working = is_working_day(current)
        except CalendarNotCovered:
            if not provisional_outside_calendar:
                raise
            working = provisional_is_working_day(current)
        if working:
            counted += 1
    return current


@lru_cache(maxsize=4096)  # every referral issued on the same day gets the same deadline
def _end_of_nth_working_day_after(day: date, n: int, provisional_outside_calendar: bool) -> datetime:
    return datetime.combine(nth_working_day_after(day, n, provisional_outside_calendar), END_OF_DAY, tzinfo=CHINA_TZ)


def _local(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"deadlines need timezone-aware datetimes, got naive {at.isoformat()}")
    return at.astimezone(CHINA_TZ)


@dataclass(frozen=True)
class DeadlinePolicy:
    """Time limits published by the district governments; the defaults are those limits.

    Convention: "N working days after issue" ends at 23:59:59 Beijing time on the N-th working day after the day of
    issue. The issue day never counts, whatever the hour, and a referral issued on a holiday starts counting on the
    next working day. Major matters count calendar hours from the moment of issue.
    """

    acceptance_working_days: int = 3
    extended_acceptance_working_days: int = 5  # the total after the one allowed extension, not 3 + 5
    major_hours: float = 24  # major work-safety, food, drug and environmental matters
    dispute_working_days: int = 5  # county coordination decides a jurisdiction dispute
    rework_working_days: int = 5  # to feed back again after the township sent a result back (驳回重办), by default
    # Past the years the official calendar covers, count provisionally (see provisional_is_working_day) rather
    # than refuse: False makes such a deadline raise CalendarNotCovered instead.
    provisional_outside_calendar: bool = True

    def working_days_after(self, issued_at: datetime, n: int) -> datetime:
        return _end_of_nth_working_day_after(_local(issued_at).date(), n, self.provisional_outside_calendar)

    def accept_by(self, issued_at: datetime, major: bool) -> datetime:
        if major:
            return _local(issued_at) + timedelta(hours=self.major_hours)
        return self.working_days_after(issued_at, self.acceptance_working_days)

    def extended_accept_by(self, issued_at: datetime) -> datetime:
        return self.working_days_after(issued_at, self.extended_acceptance_working_days)

    def dispute_decide_by(self, issued_at: datetime) -> datetime:
        return self.working_days_after(issued_at, self.dispute_working_days)

    def rework_due_by(self, sent_back_at: datetime) -> datetime:
        return self.working_days_after(sent_back_at, self.rework_working_days)


def extended_accept_by(issued_at: datetime, known: datetime) -> datetime:
    """The deadline after an extension, by the default policy: for the extension events of older versions, which
    did not carry it. ``known`` (the deadline so far) where the calendar does not cover the year."""
    try:
        return DeadlinePolicy().extended_accept_by(issued_at)
    except LookupError:
        return known


def is_overdue(deadline: datetime, now: datetime) -> bool:
    """Overdue only after the deadline: the deadline second itself is still on time."""
    return _local(now) > _local(deadline)


def _working_days_in(after: date, through: date, provisional_outside_calendar: bool = True) -> int:
    """Working days ``d`` with ``after < d <= through``."""
    counted, current = 0, after
    while current < through:
        current += timedelta(days=1)
        try:
            counted += is_working_day(current)
        except CalendarNotCovered:
            if not provisional_outside_calendar:
                raise
            counted += provisional_is_working_day(current)
    return counted


@dataclass(frozen=True)
class Standing:
    """Where a referral stands against its deadline, as a 12345 work-order card shows it (黄牌临期, 红牌超期)."""

    overdue: bool
    working_days: int  # left after today when not overdue; past the deadline's day when overdue

    @property
    def flag(self) -> str:
        if self.overdue:
            return "overdue"
        return "due_soon" if self.working_days <= 1 else "on_time"

    @property
    def label(self) -> str:
        """In words, never colour alone."""
        if self.overdue:
            return f"超期{self.working_days}个工作日" if self.working_days else "已超期"
        return "今日到期" if self.working_days == 0 else f"剩余{self.working_days}个工作日"


def standing(deadline: datetime, now: datetime) -> Standing:
    """Due soon when the deadline is today or the next working day; overdue once it has passed."""
    local_deadline, local_now = _local(deadline), _local(now)
    if local_now > local_deadline:
        return Standing(True, _working_days_in(local_deadline.date(), local_now.date()))
    return Standing(False, _working_days_in(local_now.date(), local_deadline.date()))
