"""The Kafka worker whose offset commits leave out every input partition except those of
`monitor-observations`: the monitoring agent's cells reach their changelog and its offsets
are committed as usual, the monitor-feed's inputs (contacts, answers) are never committed.
A kill then makes the next worker replay every contact since the start, and with them their
observations, with the same ids: far more than a cell's window of 100 ids.

Fault injection for tests/pipeline/runtimes/kafka/test_kafka_monitor_replay.py only: the
harness starts this module instead of the worker when the worker env holds
KLANTSIGNAAL_TEST_HOLD_FEED_COMMITS. Arguments name fixes to switch off
(tests/support/kafka_worker_without_fix.py), e.g. `monitor-dedup`. Nothing in pipeline/
reads these variables.
"""

from __future__ import annotations

import sys
from typing import Any

from pipeline.runtimes.kafka import worker
from tests.support.kafka_worker_without_fix import switch_off

_commit_offsets = worker._Consumer._commit_offsets


async def _monitoring_only(self: Any, offsets: Any, start_new_transaction: bool = True) -> bool:
    kept = {tp: o for tp, o in offsets.items() if tp.topic.endswith("monitor-observations")}
    if not kept:
        self.app.table_writes.flush()  # the cells still go to their changelog
        return False
    return await _commit_offsets(self, kept, start_new_transaction=start_new_transaction)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        switch_off(name)
        print(f"fix switched off: {name}", flush=True)
    worker._Consumer._commit_offsets = _monitoring_only  # type: ignore[method-assign]
    print("fault injected: only monitor-observations offsets are committed", flush=True)
    worker.main()
