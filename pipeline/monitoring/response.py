"""Response rate as a stream of outcomes: pending invitations per cell.

An invitation is decided when its response window has passed: answered within it (good)
or not (bad: "niet beantwoord"). Both are decided at the deadline, not the answer at the
moment it comes: otherwise answers (hours) and misses (days) would reach the chart at
different delays, and Thursday's misses landing on a quiet Sunday would look like a
collapse every week. The chart therefore sees invitations in the order they were made,
one window late.

The cell keeps its open invitations as {key: [deadline (epoch s), answered 0/1]} in
insertion order; the cell's own event time (the time of each observation it sees) moves
the deadlines, so a replay decides exactly the same way. Keys are a short hash of the
contactId (no identifier in the state). Invitations and answers come from different
topics, so on Kafka an answer may overtake its invitation on the way to the cell; such an
answer is kept as "early" for one window and marks the invitation when it arrives.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pipeline.times import parse_time

KEY_CHARS = 16
MAX_PENDING = 20_000  # a cell never holds more open invitations; the oldest are decided
MAX_EARLY = 1_000  # answers waiting for their invitation


def pending_key(contact_id: str) -> str:
    return hashlib.sha256(contact_id.encode()).hexdigest()[:KEY_CHARS]


def _expire(entries: dict[str, Any], now: int, limit: int) -> list[Any]:
    """Remove and return (in order) the entries whose deadline has passed."""
    gone = []
    for key, value in list(entries.items()):
        deadline = value[0] if isinstance(value, list) else value
        if deadline > now and len(entries) <= limit:
            break  # insertion order: the rest is (nearly always) later still
        gone.append(entries.pop(key))
    return gone


def response_outcomes(
    cell: dict[str, Any],
    at: str,
    window_days: float,
    invited: str | None = None,
    answered: str | None = None,
) -> list[bool]:
    """The response outcomes (True = not answered) decided by this observation, in order.

    `invited`: a new invitation (its contactId) created at `at`; `answered`: an answer to
    the invitation of that contactId."""
    pending: dict[str, list[int]] = cell.setdefault("pending", {})
    early: dict[str, int] = cell.setdefault("early", {})
    now = int(parse_time(at).timestamp())
    window = round(window_days * 86_400)
    decided = [not was_answered for _, was_answered in _expire(pending, now, MAX_PENDING)]
    _expire(early, now, MAX_EARLY)
    if answered is not None:
        key = pending_key(answered)
        if key in pending:
            pending[key][1] = 1
        else:
            early.setdefault(key, now + window)
    if invited is not None:
        key = pending_key(invited)
        if key not in pending:
            pending[key] = [now + window, 1 if early.pop(key, None) is not None else 0]
    return decided
