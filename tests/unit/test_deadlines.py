"""Referral deadlines in working days of the official calendar, including 調休 weekends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.deadlines import (
    CHINA_TZ,
    CalendarNotCovered,
    DeadlinePolicy,
    is_overdue,
    is_working_day,
    nth_working_day_after,
)

POLICY = DeadlinePolicy()


def beijing(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA_TZ)


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 23, 59, 59, tzinfo=CHINA_TZ)


def test_ordinary_week_counts_three_working_days_after_the_issue_day() -> None:
    # Mon 2025-06-09 -> Tue, Wed, Thu.
    assert POLICY.accept_by(beijing(2025, 6, 9), major=False) == end_of(2025, 6, 12)


def test_weekend_is_skipped() -> None:
    # Thu 2025-06-12 -> Fri 13, Mon 16, Tue 17.
    assert POLICY.accept_by(beijing(2025, 6, 12), major=False) == end_of(2025, 6, 17)


def test_issued_on_a_saturday_starts_counting_on_monday() -> None:
    assert POLICY.accept_by(beijing(2025, 6, 14), major=False) == end_of(2025, 6, 18)


def test_national_day_2025_with_adjusted_working_weekend_days() -> None:
    # Holidays Oct 1-8; Sun Sep 28 and Sat Oct 11 are working days (調休).
    assert is_working_day(date(2025, 9, 28))
    assert is_working_day(date(2025, 10, 11))
    assert not any(is_working_day(date(2025, 10, d)) for d in range(1, 9))
    issued = beijing(2025, 9, 30, 16, 30)
    # Oct 9 (1), Oct 10 (2), Sat Oct 11 (3): the adjusted Saturday is the third working day.
    assert POLICY.accept_by(issued, major=False) == end_of(2025, 10, 11)
    # Extended to 5: Sun Oct 12 is a rest day again -> Mon 13 (4), Tue 14 (5).
    assert POLICY.extended_accept_by(issued) == end_of(2025, 10, 14)
    assert POLICY.dispute_decide_by(issued) == end_of(2025, 10, 14)


def test_adjusted_sunday_before_national_day_counts() -> None:
    # Fri Sep 26 -> Sun Sep 28 (1, adjusted), Mon 29 (2), Tue 30 (3).
    assert POLICY.accept_by(beijing(2025, 9, 26), major=False) == end_of(2025, 9, 30)


def test_spring_festival_2026() -> None:
    # Holidays Feb 15-23 2026; Sat Feb 14 and Sat Feb 28 are working days.
    issued = beijing(2026, 2, 13)
    # Sat Feb 14 (1), Feb 24 (2), Feb 25 (3).
    assert POLICY.accept_by(issued, major=False) == end_of(2026, 2, 25)
    assert POLICY.extended_accept_by(issued) == end_of(2026, 2, 27)
    # From Thu Feb 26: Fri 27 (1), Sat 28 adjusted (2), Mon Mar 2 (3).
    assert POLICY.accept_by(beijing(2026, 2, 26), major=False) == end_of(2026, 3, 2)


def test_issue_day_is_taken_in_beijing_time() -> None:
    # 17:30 UTC on Mon 2025-06-09 is 01:30 on Tue 06-10 in Beijing: Tuesday is the issue day.
    issued = datetime(2025, 6, 9, 17, 30, tzinfo=UTC)
    assert POLICY.accept_by(issued, major=False) == end_of(2025, 6, 13)


def test_major_matters_count_calendar_hours_through_holidays() -> None:
    issued = beijing(2025, 9, 30, 16, 30)
    assert POLICY.accept_by(issued, major=True) == beijing(2025, 10, 1, 16, 30)
    assert POLICY.accept_by(issued, major=True) - issued == timedelta(hours=24)


def test_policy_is_configurable() -> None:
    policy = DeadlinePolicy(acceptance_working_days=1, major_hours=12)
    assert policy.accept_by(beijing(2025, 6, 9), major=False) == end_of(2025, 6, 10)
    assert policy.accept_by(beijing(2025, 6, 9), major=True) == beijing(2025, 6, 9, 22)


def test_overdue_only_after_the_deadline() -> None:
    deadline = end_of(2025, 10, 11)
    assert not is_overdue(deadline, deadline)
    assert not is_overdue(deadline, deadline - timedelta(hours=5))
    assert is_overdue(deadline, deadline + timedelta(seconds=1))
    # The same instant in another zone is the same instant.
    assert not is_overdue(deadline, deadline.astimezone(UTC))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        POLICY.accept_by(datetime(2025, 6, 9, 10), major=False)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_overdue(end_of(2025, 6, 9), datetime(2025, 6, 10))


def test_calendar_coverage_is_2004_to_2026() -> None:
    # chinesecalendar 1.11 ships the State Council arrangements for 2004-2026.
    assert is_working_day(date(2004, 1, 2))
    assert not is_working_day(date(2026, 10, 1))
    for day in (date(2003, 12, 31), date(2027, 1, 4)):
        with pytest.raises(CalendarNotCovered, match=str(day.year)):
            is_working_day(day)


def test_deadline_reaching_an_uncovered_year_raises_when_strict() -> None:
    # Tue 2026-12-29: Wed 30 (1), Thu 31 (2), then 2027 is unknown (Jan 1 is surely a holiday, but the rest is not).
    strict = DeadlinePolicy(provisional_outside_calendar=False)
    with pytest.raises(CalendarNotCovered, match="2027"):
        strict.accept_by(beijing(2026, 12, 29), major=False)
    assert strict.accept_by(beijing(2026, 12, 29), major=True) == beijing(2026, 12, 30)


def test_deadline_reaching_an_uncovered_year_is_provisional_by_default() -> None:
    # Wed 30 (1), Thu 31 (2), Fri 2027-01-01 New Year's Day, weekend, Mon 2027-01-04 (3).
    assert POLICY.accept_by(beijing(2026, 12, 29), major=False) == end_of(2027, 1, 4)
    # The official calendar still wins wherever it has data: 2026 dates are never provisional.
    strict = DeadlinePolicy(provisional_outside_calendar=False)
    assert POLICY.accept_by(beijing(2026, 9, 30), major=False) == strict.accept_by(beijing(2026, 9, 30), major=False)


def test_nth_working_day_needs_a_positive_count() -> None:
    with pytest.raises(ValueError):
        nth_working_day_after(date(2025, 6, 9), 0)


def test_standing_in_working_days_and_words() -> None:
    from services.common.deadlines import standing
    deadline = datetime(2025, 10, 10, 23, 59, 59, tzinfo=CHINA_TZ)  # a Friday after National Day week
    assert standing(deadline, datetime(2025, 10, 10, 9, 0, tzinfo=CHINA_TZ)).label == "今日到期"
    soon = standing(deadline, datetime(2025, 10, 9, 9, 0, tzinfo=CHINA_TZ))
    assert (soon.flag, soon.label) == ("due_soon", "剩余1个工作日")
    # 2025-10-11 (Saturday) is an adjusted working day (調休); 10-13 is Monday.
    late = standing(deadline, datetime(2025, 10, 13, 8, 0, tzinfo=CHINA_TZ))
    assert (late.flag, late.label) == ("overdue", "超期2个工作日")
    early = standing(deadline, datetime(2025, 9, 29, 9, 0, tzinfo=CHINA_TZ))
    assert early.flag == "on_time" and early.working_days == 3  # 9-30, then the holiday week, then 10-9 and 10-10
