"""Retention of stage state: which entries are due, the same rule on both runtimes.

An entry is due when the newest moment in it (a contact's plaatsgevondenOp, an invitation's
at, a parked response's answeredAt) is older than the cut-off: the citizen has had no
activity since, and every stage only looks back a few weeks (joins 30 days, quarantine,
invitation expiry). Kept: opt-outs (an opt-out holds until the citizen is forgotten) and the
monitor's cells (counts per service and channel, no citizen in them). An entry without any
moment is kept (nothing says it is old).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pipeline.times import parse_time

KEPT_STATES = frozenset(["opted_out", "monitor_cells"])
_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")


def newest_moment(value: Any) -> datetime | None:
    """The latest ISO 8601 time anywhere in a state value."""
    newest: datetime | None = None
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and _MOMENT.match(node):
            try:
                moment = parse_time(node)
            except ValueError:
                continue
            if newest is None or moment > newest:
                newest = moment
    return newest


def state_due(state_name: str, value: Any, before: datetime) -> bool:
    if state_name in KEPT_STATES:
        return False
    newest = newest_moment(value)
    return newest is not None and newest < before
