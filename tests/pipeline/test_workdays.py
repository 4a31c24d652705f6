"""Working-day due dates around Dutch public holidays and weekends (concrete dates)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from pipeline.workdays import WorkingCalendar

CAL = WorkingCalendar()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # Weekend: Friday morning + 1 working day -> Monday 17:00 (CET = UTC+1).
        ("2026-11-27T10:00:00+01:00", 1, "2026-11-30T17:00:00+01:00"),
        # Friday after closing time counts from Monday; Saturday and Sunday too.
        ("2026-11-27T18:30:00+01:00", 0, "2026-11-30T17:00:00+01:00"),
        ("2026-11-28T09:00:00+01:00", 0, "2026-11-30T17:00:00+01:00"),
        ("2026-11-29T23:59:00+01:00", 1, "2026-12-01T17:00:00+01:00"),
        # Same working day, before closing.
        ("2026-11-25T08:00:00+01:00", 0, "2026-11-25T17:00:00+01:00"),
        # Koningsdag 2026 is Monday 27 April: Friday + 1 -> Tuesday 28 April (CEST = UTC+2).
        ("2026-04-24T10:00:00+02:00", 1, "2026-04-28T17:00:00+02:00"),
        ("2026-04-27T10:00:00+02:00", 0, "2026-04-28T17:00:00+02:00"),
        # 2025: 27 April is a Sunday, so Koningsdag is Saturday 26 April: no day lost.
        ("2025-04-25T10:00:00+02:00", 1, "2025-04-28T17:00:00+02:00"),
        # Christmas 2026: Friday 25 (Eerste kerstdag), Saturday 26, Sunday 27.
        ("2026-12-24T10:00:00+01:00", 1, "2026-12-28T17:00:00+01:00"),
        ("2026-12-24T10:00:00+01:00", 2, "2026-12-29T17:00:00+01:00"),
        # Christmas 2025: Thursday 25 and Friday 26 both off.
        ("2025-12-24T10:00:00+01:00", 1, "2025-12-29T17:00:00+01:00"),
        # New Year 2027 is a Friday.
        ("2026-12-31T10:00:00+01:00", 1, "2027-01-04T17:00:00+01:00"),
        # Easter Monday 2026 (6 April) off; Good Friday (3 April) a working day by default.
        ("2026-04-02T10:00:00+02:00", 1, "2026-04-03T17:00:00+02:00"),
        ("2026-04-03T10:00:00+02:00", 1, "2026-04-07T17:00:00+02:00"),
        # Ascension (Thursday 14 May 2026) and Whit Monday (25 May 2026).
        ("2026-05-13T10:00:00+02:00", 1, "2026-05-15T17:00:00+02:00"),
        ("2026-05-22T10:00:00+02:00", 1, "2026-05-26T17:00:00+02:00"),
        # Liberation Day: off in 2025 (lustrum, a Monday), a working day in 2026.
        ("2025-05-02T10:00:00+02:00", 1, "2025-05-06T17:00:00+02:00"),
        ("2026-05-04T10:00:00+02:00", 1, "2026-05-05T17:00:00+02:00"),
        # Across the switch to winter time (25 October 2026) and three working days.
        ("2026-10-23T16:00:00+02:00", 3, "2026-10-28T17:00:00+01:00"),
    ],
)
def test_due_dates(start: str, days: int, due: str) -> None:
    assert CAL.add_working_days(utc(start), days) == utc(due)


def test_the_library_calendar_as_we_use_it() -> None:
    assert CAL.holiday(date(2026, 4, 27)) == "Koningsdag"
    assert CAL.holiday(date(2025, 4, 26)) == "Koningsdag"  # 27 April 2025 was a Sunday
    assert CAL.holiday(date(2031, 4, 26)) == "Koningsdag"  # and so is 27 April 2031
    assert CAL.holiday(date(2031, 4, 27)) is None
    assert CAL.holiday(date(2026, 12, 25)) == "Eerste kerstdag"
    assert CAL.holiday(date(2026, 12, 26)) == "Tweede kerstdag"
    assert CAL.holiday(date(2030, 5, 5)) == "Bevrijdingsdag"
    assert CAL.holiday(date(2026, 5, 5)) is None
    assert CAL.holiday(date(2026, 4, 3)) is None  # Goede vrijdag: working day by default
    assert not CAL.is_working_day(date(2026, 11, 28))  # a Saturday
    assert CAL.is_working_day(date(2026, 11, 30))


def test_liberation_day_every_year_and_good_friday_off_when_configured() -> None:
    strict = WorkingCalendar(not_holidays=frozenset(), liberation_day="jaarlijks")
    assert strict.holiday(date(2026, 5, 5)) == "Bevrijdingsdag"
    assert strict.add_working_days(utc("2026-05-04T10:00:00+02:00"), 1) == utc(
        "2026-05-06T17:00:00+02:00"
    )
    assert strict.add_working_days(utc("2026-04-02T10:00:00+02:00"), 1) == utc(
        "2026-04-07T17:00:00+02:00"
    )


def test_end_of_day_is_configurable_and_bad_values_refused() -> None:
    early = WorkingCalendar(end_of_day=time(12, 30))
    assert early.add_working_days(utc("2026-11-25T13:00:00+01:00"), 0) == utc(
        "2026-11-26T12:30:00+01:00"
    )
    with pytest.raises(ValueError):
        WorkingCalendar(liberation_day="soms")
    with pytest.raises(ValueError):
        CAL.add_working_days(utc("2026-11-25T13:00:00+01:00"), -1)
