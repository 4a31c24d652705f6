"""Counting each observation once in its cell, however long the replay (at-least-once).

A monitor-feed that crashes replays its input from its last commit and makes the same
observations again, with the same ids. The cell keeps the ids of its last `SEEN_IDS`
observations; that alone lets a replay of more than `SEEN_IDS` observations of one cell
count the older ones twice. So an observation also says where it came from (`bronpositie`:
the input log, e.g. ``contact-events/3`` or the embedded ``log``, the input record's offset
in it and the observation's index among that record's observations), and the cell keeps,
PER LOG, a window: the `LOG_WINDOW` highest positions of that log it counted, and a mark,
the highest position of that log that left its window:

    duplicate  <=>  id in the ids  or  position in its log's window  or  <= its log's mark

Every counted observation is caught: its position is still in its log's window, or it
left that window and is at most the mark. The mark is not the highest position counted,
on purpose: the Kafka worker does process a log out of order now and then (it seeks back
to records faust dropped on their way to the agent, after it processed later ones:
docs/kafka.md, Offsets fixes 2 and 5), and those first-time observations are below the
highest position counted; they still count as long as fewer than `LOG_WINDOW` later
positions of THEIR log were counted in their cell. Only a log's own observations move its
mark: other logs feeding the cell (other partitions, other topics) never push a log's
positions out. (One window of 100 shared by all logs did: a busy log could raise a quiet
log's mark above a record faust dropped, and that record was thrown away when it came.)

The ids still catch what a position cannot: observations without one (records written
before this field, or by an older worker) and an observation made again at another
position (a signal the join emitted again after a crash lands at a new offset).

State, small per write: the cell keeps ``seen`` (the ids); each log's window lives under
a key of its own beside the cell (`window_key`: ``<cell>|b|<log>``, as the response
chart's queues do), so an observation rewrites the cell and ONE window, however many logs
feed the cell. A window is one flat list of integers ``[mark offset, mark item, d1, i1,
d2, i2, ...]``: the mark (``-1, 0`` while nothing left the window), then the window's
positions in ascending order, each offset as its distance from the one before (the first
from the mark's, or from 0 without a mark) and its item. Cells of the previous layout
(``seen_at`` beside the ids, ``logs``, ``marks`` in the cell) are rewritten into this one
(`upgrade`). Plain Python: no transport here.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Protocol

from schemas.fastinit import fast_init

SEEN_IDS = 100  # observation ids kept to ignore a replayed observation (at-least-once)
SEEN_CHARS = 16  # of each id: 64 bits of a UUIDv5 are plenty, and keep the state small
# Positions kept per log: an observation first seen after later ones of its log still
# counts while fewer than this many later ones of its log were counted in its cell (the
# shared window before held 100 of all logs together).
LOG_WINDOW = 100
NO_MARK = -1  # the mark's offset while nothing of the log left its window


class Store(Protocol):
    """The stage state port (pipeline.stages.base.State), as far as windows need it."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...


@fast_init  # one __dict__ update, not a setattr per field
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


def window_key(cell_key: str, log: str) -> str:
    """Where a log's window of a cell is kept, beside the cell."""
    return f"{cell_key}|b|{log}"


def load_window(store: Store, cell_key: str, at: Position | None) -> list[int]:
    """The window of the observation's log in its cell: empty when it has none yet (or
    the observation no position)."""
    if at is None:
        return []
    value = store.get(window_key(cell_key, at.log))
    return [] if value is None else value["w"]


def save_window(store: Store, cell_key: str, at: Position, window: list[int]) -> None:
    store.put(window_key(cell_key, at.log), {"w": window})


def already_seen(
    cell: dict[str, Any],
    observation_id: str,
    at: Position | None = None,
    window: list[int] | None = None,
) -> bool:
    """Whether the observation was counted: its id is among the cell's, or its position
    (`at`) is in its log's `window` (`load_window`) or at or below that window's mark."""
    if observation_id[:SEEN_CHARS] in cell["seen"]:
        return True
    if at is None or not window:
        return False
    return _holds(window, at.offset, at.item)


def remember(
    cell: dict[str, Any],
    observation_id: str,
    at: Position | None = None,
    window: list[int] | None = None,
) -> None:
    """Put the observation's id among the cell's ids and its position in its log's
    `window` (`load_window`; changed in place, to be saved with `save_window`); what
    leaves that window raises the log's mark."""
    seen = cell["seen"]
    seen.append(observation_id[:SEEN_CHARS])
    if len(seen) > SEEN_IDS:
        del seen[: len(seen) - SEEN_IDS]
    if at is None or window is None:
        return
    if not window:
        window += (NO_MARK, 0, at.offset, at.item)
    else:
        _add(window, at.offset, at.item)


def _holds(window: list[int], offset: int, item: int) -> bool:
    """Whether (offset, item) is at or below the window's mark or in the window."""
    mark = window[0]
    if offset < mark or (offset == mark and item <= window[1]):
        return True
    if len(window) == 2:
        return False
    last = max(mark, 0) + sum(window[2::2])
    if offset > last or (offset == last and item > window[-1]):
        return False  # above everything counted (the usual case): new
    return (offset, item) in _positions(window)


def _add(window: list[int], offset: int, item: int) -> None:
    """Insert a new position (above the mark, not in the window) and keep LOG_WINDOW."""
    base = max(window[0], 0)
    last = base + sum(window[2::2]) if len(window) > 2 else base
    if len(window) > 2 and (offset, item) < (last, window[-1]):
        positions = _positions(window)  # out of order: below the highest, rare
        insort(positions, (offset, item))
        window[2:] = _encoded(base, positions)
    else:
        window += (offset - last, item)
    if len(window) > 2 + 2 * LOG_WINDOW:
        # The lowest leaves: it becomes the mark, and the next one's distance (from it)
        # stays as it is.
        window[0], window[1] = base + window[2], window[3]
        del window[2:4]


def _positions(window: list[int]) -> list[tuple[int, int]]:
    offsets = accumulate(window[2::2], initial=max(window[0], 0))
    next(offsets)
    return list(zip(offsets, window[3::2], strict=True))


def _encoded(base: int, positions: list[tuple[int, int]]) -> list[int]:
    out: list[int] = []
    before = base
    for offset, item in positions:
        out += (offset - before, item)
        before = offset
    return out


def upgrade(cell: dict[str, Any], store: Store, cell_key: str) -> bool:
    """Rewrite a cell of the previous layout (one window of 100 positions beside the
    ids, ``seen_at``, shared by every log, and ``logs`` with a mark each) into windows per
    log; True when it did (then the cell is to be saved too). Each mark is kept (every
    position that left that window is at most its log's mark) and each position goes into
    its log's window. The pairing of ids and positions is not needed: an older worker that
    appended ids without positions made them no longer line up (the previous check
    ``len(seen_at) != len(seen)`` could not see that once both held 100, and the
    positions whose ids had left were then caught by neither), but every position in the
    list was counted, so each is a counted position of its log, whichever id sat beside
    it, and is caught by its log's window now."""
    if "seen_at" not in cell and "marks" not in cell and "logs" not in cell:
        return False
    names = list(cell.pop("logs", None) or [])
    marks = list(cell.pop("marks", None) or [])
    where = cell.pop("seen_at", None) or []
    windows: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        window = load_window(store, cell_key, Position(name, 0, 0)) or [NO_MARK, 0]
        mark = marks[k] if k < len(marks) else None
        if mark is not None and (mark[0], mark[1]) > (window[0], window[1]):
            kept = [p for p in _positions(window) if p > (mark[0], mark[1])]
            window = [mark[0], mark[1], *_encoded(mark[0], kept)]
        windows[name] = window
    for entry in where:
        if entry is not None and 0 <= entry[0] < len(names):
            window = windows[names[entry[0]]]
            if not _holds(window, entry[1], entry[2]):
                _add(window, entry[1], entry[2])
    for name, window in windows.items():
        store.put(window_key(cell_key, name), {"w": window})
    return True
