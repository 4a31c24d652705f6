"""Garbage-collector tuning for long-running server processes.

A full (generation 2) collection walks every tracked object. A web process holds a large,
unchanging heap after start (schemas, templates, routes, library modules); walking it took
tens of milliseconds per full collection, and every request in flight waits that long:
the edge's p99 latency (docs/kafka.md, "Benchmark"). `gc.freeze()` moves what exists at
start into a permanent generation the collector no longer walks; cycles made later are
still collected as before.

`raise_young_threshold` (the embedded runtime's process, `klantsignaal run`, and the bench
that measures it): the youngest generation is collected after `YOUNG_THRESHOLD` net
allocations instead of the default 700. The pipeline allocates several objects per field
of every record (events, models, state values), so at 700 it ran a young collection every
few records, each walking what the batch still holds (callgrind of the embedded bench's
timed spans: about 1 % fewer instructions, more in time as the walks miss the cache). A
young collection of that many objects takes well under a millisecond; the older
generations keep their thresholds (counted in young collections).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def raise_young_threshold() -> tuple[int, ...]:
    """The youngest generation's threshold to `YOUNG_THRESHOLD` (never lowered; 0, the
    collector off, stays); returns the thresholds before, to restore them."""
    before = gc.get_threshold()
    if 0 < before[0] < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, *before[1:])
    return before


def freeze_startup_heap() -> int:
    """Collect once, then freeze what is left; returns the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
