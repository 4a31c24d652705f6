"""Working days in the Netherlands: weekends and public holidays, for alert due dates.

The holidays come from the `holidays` library (NL public calendar, Dutch names), not from a
hand-written table. What the library counts, and what we change by default:

- Nieuwjaarsdag, Tweede paasdag, Koningsdag (27 April; 26 April when the 27th is a Sunday),
  Hemelvaartsdag, Tweede pinksterdag, Eerste en Tweede kerstdag: days off.
- Bevrijdingsdag (5 May): the library counts it once every five years (2025, 2030, ...),
  as most collective agreements (also the municipal one) do; `liberation_day="jaarlijks"`
  counts it every year, as the Algemene termijnenwet does.
- Goede vrijdag: the library counts it, but it is not in the Algemene termijnenwet and most
  municipal desks are open, so by default it is a working day (`not_holidays`).

Plain domain code: no transport, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

LIBERATION_DAY = "Bevrijdingsdag"


@lru_cache(maxsize=64)
def _public_holidays(year: int) -> dict[date, str]:
    calendar = holidays.country_holidays("NL", years=year, language="nl")
    return dict(calendar.items())


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days count as working days, and when a working day ends (local time)."""

    not_holidays: frozenset[str] = frozenset({"Goede vrijdag"})
    liberation_day: str = "lustrum"  # "lustrum" (library default) or "jaarlijks"
    end_of_day: time = time(17, 0)
    zone: str = "Europe/Amsterdam"
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.liberation_day not in ("lustrum", "jaarlijks"):
            raise ValueError("bevrijdingsdag must be 'lustrum' or 'jaarlijks'")
        object.__setattr__(self, "_tz", ZoneInfo(self.zone))

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday on `day` that we count, or None."""
        if self.liberation_day == "jaarlijks" and (day.month, day.day) == (5, 5):
            return LIBERATION_DAY
        name = _public_holidays(day.year).get(day)
        if name is None or name in self.not_holidays:
            return None
        return name

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday(day) is None

    def next_working_day(self, day: date) -> date:
        """`day` itself when it is a working day, else the first one after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end of the working day `days` working days after `start` (UTC).

        The day of `start` counts as day 0 when it is a working day and `start` is before
        the end of that day; otherwise day 0 is the next working day. So 0 means "today
        before closing, or the next working day", 1 means "the working day after that".
        """
        if days < 0:
            raise ValueError("days must be zero or more")
        local = start.astimezone(self._tz)
        day = local.date()
        if local.time() >= self.end_of_day:
            day += timedelta(days=1)
        day = self.next_working_day(day)
        for _ in range(days):
            day = self.next_working_day(day + timedelta(days=1))
        return datetime.combine(day, self.end_of_day, tzinfo=self._tz).astimezone(UTC)


__all__ = ["WorkingCalendar"]
