"""A first-in-first-out queue of deadlines kept under state keys of its own.

The response-rate chart keeps thousands of open invitations per cell. Kept inside the
cell's state value, every observation rewrote all of them (on Kafka a changelog record
each time): O(open invitations) per record. Here they live in **chunks** of at most
`CHUNK` entries under their own keys, with one **index** key per entry pointing to its
chunk, and the queue's few counters (`QueueMeta`) inside the cell:

    "<prefix>|q|<n>"   chunk n: {entry key: [deadline (epoch s), flag]} in insertion order
    "<prefix>|i|<key>" {"q": n}: the chunk holding that entry

Pushing writes the tail chunk and one index key; finding or removing an entry reads its
index and its chunk; deciding pops entries from the head chunk while their deadline has
passed, deleting their index keys, at most `budget` entries per call. So every operation
touches a bounded number of keys of bounded size, whatever the queue holds; the rest of
an expired backlog is decided at the next observations, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

CHUNK = 64  # entries per chunk: a chunk value stays under ~2.5 KB of JSON


class Store(Protocol):
    """The stage state port (pipeline.stages.base.State): get, put and delete by key."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...

    def delete(self, key: str) -> None: ...


def new_meta() -> dict[str, Any]:
    # h: head chunk, t: tail chunk, tn: entries pushed into the tail chunk, n: entries in
    # the queue, next: deadline of the head entry (None: unknown or empty)
    return {"h": 0, "t": 0, "tn": 0, "n": 0, "next": None}


@dataclass
class Queue:
    """One queue: its counters `meta` (a dict kept in the caller's state value, mutated
    in place) and its keys under `prefix` in `store`. Chunks read or changed during one
    record are cached and written once by `flush`."""

    store: Store
    prefix: str
    meta: dict[str, Any]
    _chunks: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    _dirty: set[int] = field(default_factory=set)

    def _chunk_key(self, n: int) -> str:
        return f"{self.prefix}|q|{n}"

    def _index_key(self, key: str) -> str:
        return f"{self.prefix}|i|{key}"

    def _chunk(self, n: int) -> dict[str, list[int]]:
        if n not in self._chunks:
            stored = self.store.get(self._chunk_key(n))
            self._chunks[n] = dict(stored["e"]) if stored else {}
        return self._chunks[n]

    def __len__(self) -> int:
        return int(self.meta["n"])

    def __contains__(self, key: str) -> bool:
        return self.store.get(self._index_key(key)) is not None

    def push(self, key: str, deadline: int, flag: int = 0) -> None:
        """Append an entry (the caller checked it is not queued yet)."""
        m = self.meta
        if m["tn"] >= CHUNK:
            m["t"], m["tn"] = m["t"] + 1, 0
        self._chunk(m["t"])[key] = [deadline, flag]
        self._dirty.add(m["t"])
        m["tn"] += 1
        m["n"] += 1
        if m["n"] == 1:
            m["h"], m["next"] = m["t"], deadline
        self.store.put(self._index_key(key), {"q": m["t"]})

    def mark(self, key: str, flag: int) -> bool:
        where = self.store.get(self._index_key(key))
        if where is None or key not in self._chunk(where["q"]):
            return False
        self._chunk(where["q"])[key][1] = flag
        self._dirty.add(where["q"])
        return True

    def remove(self, key: str) -> list[int] | None:
        """Take an entry out of the middle of the queue."""
        where = self.store.get(self._index_key(key))
        if where is None:
            return None
        found = self._chunk(where["q"]).pop(key, None)
        self._dirty.add(where["q"])
        self.store.delete(self._index_key(key))
        if found is not None:
            self.meta["n"] -= 1
            if where["q"] == self.meta["h"]:
                self.meta["next"] = None  # the head may have changed: look again
        return found

    def expire(self, now: int, limit: int, budget: int) -> Iterator[tuple[str, list[int]]]:
        """Pop (in order) entries whose deadline is at or before `now`, and the oldest
        while more than `limit` are queued; at most `budget` chunk visits and entries."""
        m = self.meta
        while budget > 0 and m["n"] > 0:
            if m["next"] is not None and m["next"] > now and m["n"] <= limit:
                return
            budget -= 1
            chunk = self._chunk(m["h"])
            if not chunk:  # emptied by `remove`, or fully decided
                self._drop_head()
                continue
            key, value = next(iter(chunk.items()))
            m["next"] = value[0]
            if value[0] > now and m["n"] <= limit:
                return
            del chunk[key]
            self._dirty.add(m["h"])
            self.store.delete(self._index_key(key))
            m["n"] -= 1
            m["next"] = next(iter(chunk.values()))[0] if chunk else None
            yield key, value

    def _drop_head(self) -> None:
        m = self.meta
        self._chunks[m["h"]] = {}
        self._dirty.add(m["h"])
        if m["h"] == m["t"]:  # the queue is empty: start the next chunk afresh
            m["t"], m["tn"] = m["t"] + 1, 0
        m["h"] += 1
        m["next"] = None

    def flush(self) -> None:
        """Write the changed chunks; delete the empty ones (the head moved past them)."""
        for n in sorted(self._dirty):
            chunk = self._chunks[n]
            if chunk:
                self.store.put(self._chunk_key(n), {"e": chunk})
            else:
                self.store.delete(self._chunk_key(n))
        self._dirty.clear()


class MemoryStore(dict):
    """The Store port over a plain dict (the evaluation, tests)."""

    def put(self, key: str, value: dict[str, Any]) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)
