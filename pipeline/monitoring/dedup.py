"""Counting each observation once in its cell, however long the replay (at-least-once).

A monitor-feed that crashes replays its input from its last commit and makes the same
observations again, with the same ids. The cell keeps the ids of its last `SEEN_IDS`
observations; that alone lets a replay of more than `SEEN_IDS` observations of one cell
count the older ones twice. So an observation also says where it came from (`bronpositie`:
the input log, e.g. ``contact-events/3`` or the embedded ``log``, the input record's offset
in it and the observation's index among that record's observations), and the cell keeps,
per log, the highest position among the observations that have left its window of ids:

    duplicate  <=>  id in the window  or  position <= that log's mark

Every counted observation is caught: it is still in the window, or it left the window and
its position is at most the mark of its log. The mark is not the highest position
counted, on purpose: the Kafka worker does process a log out of order now and then (it
seeks back to records faust dropped on their way to the agent, after it processed later
ones: docs/kafka.md, Offsets fixes 2 and 5), and those first-time observations are below
the highest position counted; they are still counted as long as fewer than `SEEN_IDS`
observations of their cell came between. Observations without a position (written before
this field, or by an older worker) are checked against the ids only, as before.

State in the cell, small: ``seen`` (the ids), ``seen_at`` (beside each id its position as
``[log index, offset, item]``, or None), ``logs`` (log names) and ``marks`` (per log
``[offset, item]`` or None). Plain Python: no transport here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SEEN_IDS = 100  # observation ids kept to ignore a replayed observation (at-least-once)
SEEN_CHARS = 16  # of each id: 64 bits of a UUIDv5 are plenty, and keep the state small


@dataclass(frozen=True)
class Position:
    """Where an observation came from: the input log, the input record's offset in it and
    the observation's index among that record's observations (a contact makes its own and
    its invitation's)."""

    log: str
    offset: int
    item: int

    def to_dict(self) -> dict[str, Any]:
        return {"log": self.log, "offset": self.offset, "item": self.item}


def position_of(raw: Mapping[str, Any] | None) -> Position | None:
    """The `bronpositie` of an observation (wire form), or None (an older record)."""
    if type(raw) is not dict and not isinstance(raw, Mapping):  # a dict: no ABC check
        return None
    log, offset, item = raw.get("log"), raw.get("offset"), raw.get("item")
    if not isinstance(log, str) or not isinstance(offset, int) or not isinstance(item, int):
        return None
    return Position(log, offset, item)


def already_seen(cell: dict[str, Any], observation_id: str, at: Position | None = None) -> bool:
    if observation_id[:SEEN_CHARS] in cell["seen"]:
        return True
    if at is None:
        return False
    logs = cell.get("logs") or []
    if at.log not in logs:
        return False
    mark = (cell.get("marks") or [])[logs.index(at.log)]
    return mark is not None and (at.offset, at.item) <= (mark[0], mark[1])


def remember(cell: dict[str, Any], observation_id: str, at: Position | None = None) -> None:
    """Put the observation in the cell's window; what leaves the window raises its log's
    mark. The cell's old layout (ids only) is read as ids without positions."""
    seen = cell["seen"]
    if "seen_at" not in cell and at is None:  # no position seen yet: the old layout
        cell["seen"] = [*seen, observation_id[:SEEN_CHARS]][-SEEN_IDS:]
        return
    where = cell.get("seen_at") or []  # beside each id in `seen`
    if len(where) != len(seen):  # ids an older worker added without positions: ids only
        where = [None] * len(seen)
    logs, marks = list(cell.get("logs") or []), list(cell.get("marks") or [])
    if at is not None and at.log not in logs:
        logs.append(at.log)
        marks.append(None)
    seen = [*seen, observation_id[:SEEN_CHARS]]
    where = [*where, _entry(at, logs)]
    for gone in where[: max(0, len(seen) - SEEN_IDS)]:
        if gone is not None:
            k, offset, item = gone
            mark = marks[k]
            if mark is None or (offset, item) > (mark[0], mark[1]):
                marks[k] = [offset, item]
    cell["seen"], cell["seen_at"] = seen[-SEEN_IDS:], where[-SEEN_IDS:]
    cell["logs"], cell["marks"] = logs, marks


def _entry(at: Position | None, logs: list[str]) -> list[int] | None:
    return None if at is None else [logs.index(at.log), at.offset, at.item]
