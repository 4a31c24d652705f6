"""Period keys of the measures ("2026-W46", "2026-11"): their bounds and Dutch names."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from pipeline.times import MONTHS_NL

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def bounds(key: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a week or month key; ValueError for anything else."""
    if m := _WEEK.match(key):
        start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        end = start + timedelta(days=7)
    elif m := _MONTH.match(key):
        year, month = int(m[1]), int(m[2])
        start = date(year, month, 1)
        end = date(year + month // 12, month % 12 + 1, 1)
    else:
        raise ValueError(f"not a period key: {key!r}")
    return _utc(start), _utc(end)


def key_of(day: date, per: str) -> str:
    """The period key ("week" or "month") that holds this day."""
    if per == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def periods_through(first: str, last: str) -> list[str]:
    """Every period key from `first` to `last` inclusive (same kind), empty ones too."""
    per = "week" if _WEEK.match(first) else "month"
    keys = [first]
    while keys[-1] < last:
        keys.append(key_of(bounds(keys[-1])[1].date(), per))
    return keys


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def name_nl(key: str) -> str:
    if m := _WEEK.match(key):
        return f"week {int(m[2])} van {m[1]}"
    if m := _MONTH.match(key):
        return f"{MONTHS_NL[int(m[2]) - 1]} {m[1]}"
    return key
