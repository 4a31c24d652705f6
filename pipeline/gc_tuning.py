"""Garbage-collector tuning for long-running server processes.

A full (generation 2) collection walks every tracked object. A web process holds a large,
unchanging heap after start (schemas, templates, routes, library modules); walking it took
tens of milliseconds per full collection, and every request in flight waits that long:
the edge's p99 latency (docs/kafka.md, "Benchmark"). `gc.freeze()` moves what exists at
start into a permanent generation the collector no longer walks; cycles made later are
still collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect once, then freeze what is left; returns the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
