"""The Kafka worker, crashing once right before it sends its first signal: after the state
changes of the record in hand reached their changelogs, before the signal, its alert and the
record's offset commit. Fault injection for
tests/pipeline/runtimes/kafka/test_kafka_pending_replay.py only: the harness starts this
module instead of the worker when its env holds KLANTSIGNAAL_TEST_CRASH_MARKER (a path; the
crash happens only while that file does not exist, so the restarted worker runs normally).
Arguments name offset or stage fixes to switch off (tests/support/kafka_worker_without_fix.py),
e.g. `pending-taken`. With KLANTSIGNAAL_TEST_CRASH_UNCOMMITTED also set, the armed worker commits
no offsets at all (and so flushes no deferred table write): everything it processed before
the crash is in memory only, as in a crash just before the first commit
(tests/pipeline/runtimes/kafka/test_kafka_context_first.py). Nothing in pipeline/ reads
these variables.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from faust.transport.drivers.aiokafka import Producer

from pipeline.runtimes.kafka import worker
from pipeline.runtimes.kafka.changelog_guard import GuardedProducer
from tests.support.kafka_worker_without_fix import switch_off

_send = Producer.send
_send_output = GuardedProducer.send_output  # the stage outputs' path (no faust wrapper)
_commit_offsets = worker._Consumer._commit_offsets


def _armed() -> bool:
    return not Path(os.environ["KLANTSIGNAAL_TEST_CRASH_MARKER"]).exists()


async def _commit_unless_armed(self: Any, offsets: Any, start_new_transaction: bool = True) -> bool:
    if _armed():
        return False  # nothing committed, no deferred table write flushed
    return await _commit_offsets(self, offsets, start_new_transaction=start_new_transaction)


async def _crash_before_a_signal(producer: Any, topic: str) -> None:
    marker = Path(os.environ["KLANTSIGNAAL_TEST_CRASH_MARKER"])
    if topic.endswith("scored-signals") and not marker.exists():
        await producer.flush()  # the record's table changes (pending) are on the changelog now
        marker.write_text("crashed before sending a signal\n", encoding="utf-8")
        print("fault injected: crash before sending a signal", flush=True)
        os._exit(9)


async def _send_or_crash(self: Any, topic: str, *args: Any, **kwargs: Any) -> Any:
    await _crash_before_a_signal(self, topic)
    return await _send(self, topic, *args, **kwargs)


async def _send_output_or_crash(self: Any, topic: str, *args: Any, **kwargs: Any) -> Any:
    await _crash_before_a_signal(self, topic)
    return await _send_output(self, topic, *args, **kwargs)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        switch_off(name)
        print(f"fix switched off: {name}", flush=True)
    Producer.send = _send_or_crash  # type: ignore[method-assign]
    GuardedProducer.send_output = _send_output_or_crash  # type: ignore[method-assign]
    if os.environ.get("KLANTSIGNAAL_TEST_CRASH_UNCOMMITTED"):
        worker._Consumer._commit_offsets = _commit_unless_armed  # type: ignore[method-assign]
    worker.main()
