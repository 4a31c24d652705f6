"""Follow-up of alerts as measures: callback time and SLA adherence (definitions in
docs/measures.md#follow-up-of-alerts).

- Callback time: from the alert's creation to the first callback attempt, in calendar
  hours (what the citizen waits; weekends and nights count), median and p90, over the
  alerts of citizens who asked to be called back and were called.
- SLA adherence: the share of alerts handled (first change to afgehandeld) at or before
  their due date (uiterlijkOp, in working days from the alert policy). An alert that is
  not handled counts as late once its due date has passed, and is left out (undecided)
  while it is still open and not yet due.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.measures.ports import AlertRow
from pipeline.measures.stats import percentile
from pipeline.measures.suppression import MIN_ANSWERS, SUPPRESSED, share

HOUR_SECONDS = 3600.0


def callback_hours(rows: list[AlertRow]) -> list[float]:
    return [
        (r.first_attempt - r.created).total_seconds() / HOUR_SECONDS
        for r in rows
        if r.callback_wanted and r.first_attempt is not None
    ]


def callback_block(rows: list[AlertRow]) -> dict[str, Any]:
    hours = callback_hours(rows)
    if len(hours) < MIN_ANSWERS:
        return dict(SUPPRESSED)
    return {
        "n": len(hours),
        "mediaanUren": round(percentile(hours, 0.5), 2),
        "p90Uren": round(percentile(hours, 0.9), 2),
    }


def on_time(row: AlertRow, now: datetime) -> bool | None:
    """True: handled by the due date; False: handled late, or not handled and overdue;
    None: no due date, or still open and not yet due."""
    if row.due is None:
        return None
    if row.handled is not None:
        return row.handled <= row.due
    return False if now > row.due else None


def sla_block(rows: list[AlertRow], now: datetime) -> dict[str, Any]:
    decided = [v for v in (on_time(r, now) for r in rows) if v is not None]
    if len(decided) < MIN_ANSWERS:
        return dict(SUPPRESSED)
    return {"beoordeeld": len(decided), **share(sum(decided), len(decided))}
