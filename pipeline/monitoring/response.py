"""Response rate as a stream of outcomes: pending invitations per cell.

An invitation is decided when its response window has passed: answered within it (good)
or not (bad: "niet beantwoord"). Both are decided at the deadline, not the answer at the
moment it comes: otherwise answers (hours) and misses (days) would reach the chart at
different delays, and Thursday's misses landing on a quiet Sunday would look like a
collapse every week. The chart therefore sees invitations in the order they were made,
one window late.

Open invitations are kept in a queue under state keys of their own
(pipeline/monitoring/pending.py), not in the cell's value, so an observation costs a
bounded number of state keys however many invitations are open; the cell holds only the
queue's counters. The cell's own event time (the time of each observation it sees) moves
the deadlines, so a replay decides exactly the same way. Entry keys are a short hash of
the contactId (no identifier in the state). Invitations and answers come from different
topics, so on Kafka an answer may overtake its invitation on the way to the cell; such an
answer waits as "early" (a second queue) for one window and marks the invitation when it
arrives.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pipeline.monitoring.pending import Queue, Store, new_meta
from pipeline.times import parse_time

KEY_CHARS = 16
MAX_PENDING = 20_000  # a cell never holds more open invitations; the oldest are decided
MAX_EARLY = 1_000  # answers waiting for their invitation
DECIDE_BUDGET = 64  # invitations decided per observation at most (the rest at the next)
EARLY_BUDGET = 16  # early answers expired per observation at most


def pending_key(contact_id: str) -> str:
    return hashlib.sha256(contact_id.encode()).hexdigest()[:KEY_CHARS]


def response_outcomes(
    cell: dict[str, Any],
    store: Store,
    prefix: str,
    at: str,
    window_days: float,
    invited: str | None = None,
    answered: str | None = None,
) -> list[bool]:
    """The response outcomes (True = not answered) decided by this observation, in order.

    `store`/`prefix`: where the queues keep their keys (the cell's own key as prefix);
    `invited`: a new invitation (its contactId) created at `at`; `answered`: an answer to
    the invitation of that contactId."""
    meta = cell.get("response")
    if meta is None:  # (not setdefault: its default would be built for every observation)
        meta = cell["response"] = {"pending": new_meta(), "early": new_meta()}
    now = int(parse_time(at).timestamp())
    window = round(window_days * 86_400)
    idle = invited is None and answered is None
    if idle and _nothing_due(meta["pending"], now, MAX_PENDING, meta["early"], MAX_EARLY):
        return []  # what the queues below would do: decide nothing, change nothing
    pending = Queue(store, f"{prefix}|p", meta["pending"])
    early = Queue(store, f"{prefix}|e", meta["early"])
    decided = [not flag for _, (_, flag) in pending.expire(now, MAX_PENDING, DECIDE_BUDGET)]
    for _ in early.expire(now, MAX_EARLY, EARLY_BUDGET):
        pass
    if answered is not None:
        key = pending_key(answered)
        if not pending.mark(key, 1) and key not in early:
            early.push(key, now + window)
    if invited is not None:
        key = pending_key(invited)
        if key not in pending:
            pending.push(key, now + window, 0 if early.remove(key) is None else 1)
    pending.flush()
    early.flush()
    return decided


def _nothing_due(
    pending: dict[str, Any], now: int, pending_limit: int, early: dict[str, Any], early_limit: int
) -> bool:
    """Whether `Queue.expire(now, limit, ...)` on both queues would return at once, having
    neither decided nor changed anything (most observations of a cell: no queue work)."""
    return _idle_queue(pending, now, pending_limit) and _idle_queue(early, now, early_limit)


def _idle_queue(meta: dict[str, Any], now: int, limit: int) -> bool:
    """Empty, or its head's known deadline still ahead and no more than `limit` queued."""
    n = meta["n"]
    if n <= 0:
        return True
    due = meta["next"]
    return due is not None and due > now and n <= limit


def has_open(cell: dict[str, Any]) -> bool:
    """Whether the cell has open invitations or waiting answers (work for the deadline)."""
    meta = cell.get("response")
    return bool(meta and (meta["pending"]["n"] or meta["early"]["n"]))
