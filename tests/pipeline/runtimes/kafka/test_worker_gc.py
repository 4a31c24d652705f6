"""The worker freezes its start-up heap (gc.freeze, gc_tuning.py) when it is first ready,
not again at the ready after each rebalance: a cycle holding an object frozen then would
never be collected, so a worker in a group that rebalances often would grow."""

from __future__ import annotations

import asyncio
import gc
import weakref
from dataclasses import replace
from pathlib import Path

from pipeline.runtimes.kafka.worker import build_app
from pipeline.settings import Settings
from pipeline.topology import scorer_for, topology_for


def test_the_heap_is_frozen_at_the_first_ready_only(tmp_path: Path) -> None:
    settings = replace(Settings(), runtime="kafka", data_dir=tmp_path, link_key="l")
    topology = topology_for(settings, scorer_for(settings))
    app = build_app(settings, topology, store="memory://", datadir=tmp_path / "worker")
    app.consumer.assignment = lambda: set()  # never started: no broker in this test
    ready = app.on_flow_resumed  # what offsets.py awaits once the flow resumed

    async def rebalances() -> bool:
        await ready()
        # A cycle that lives at the ready after a rebalance and is dropped afterwards (a
        # task with its callbacks, a record's event and message, ...).
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        await ready()
        del cycle
        gc.collect()
        return gone() is None

    try:
        collected = asyncio.run(rebalances())
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()  # the rest of the test session collects as before
    assert frozen > 0  # the first ready froze the start-up heap
    assert collected, "a cycle alive at a later ready was frozen: never collected"


class _Cycle:
    def __init__(self) -> None:
        self.me = self
