"""The one helper for dates and times: ISO 8601 in and out, and stored times made aware.

Everything klantsignaal stores is UTC. SQLite hands datetimes back without a zone, so a
naive datetime read from a database is UTC by definition; `as_utc` says so once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

# Dutch names for dates shown to staff and BI users (index 0 = January / Monday).
MONTHS_NL = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)
WEEKDAYS_NL = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")


def parse_time(value: str) -> datetime:
    """An ISO 8601 / RFC 3339 time ('Z' allowed) as an aware datetime; naive means UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """A time as RFC 3339 in UTC to the second, e.g. '2026-11-30T09:15:00Z'."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """An aware UTC datetime; a naive one (as SQLite returns it) is taken to be UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with the full precision stored; None stays None."""
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace("+00:00", "Z")
