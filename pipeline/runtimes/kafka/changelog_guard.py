"""A table change the broker refused stops the worker before a commit passes its record.

faust sends every table change to the table's changelog topic through its producer buffer
and only logs a delivery that failed (`_on_published error …`). The record whose state
changed is acked already, so the next commit passed it: after a restart (or a rebalance)
the recovered state misses the change while the input offset is committed, and the stage
acts on stale state (a second invitation within the quarantine, an answer taken from
`pending` come back, a monitoring cell one observation short). Now such a delivery stops
the worker (in_place.py, exit 75) as a refused stage output does (worker.py
`_on_delivered`): the record is processed again after the restart, and a refusal that
persists keeps the worker stopping, visibly.

The stop comes before the commit: faust flushes its producer before committing offsets,
the worker's commit waits for the changelog writes queued before it (offsets.py, fix 3),
and `callbacks_settled` lets the delivery callbacks that flush woke run before the offsets
go out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pipeline.runtimes.kafka.in_place import Outage

log = logging.getLogger(__name__)

# Loop turns a commit yields before its offsets go out: a failed delivery reaches our
# callback through aiokafka's future, then faust's (`_on_published`), one turn each.
SETTLE_TURNS = 3


def guard_changelog(table: Any, outage: Outage) -> None:
    """Every changelog write of `table` (faust's own on a table write, and the deferred
    ones of table_writes.py: both go through `send_changelog`) is watched for failure."""
    send = table.send_changelog
    delivered = _on_changelog_delivered(outage, table.name)

    def send_changelog(
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> Any:
        sent = send(partition, key, value, key_serializer, value_serializer)
        sent.add_done_callback(delivered)
        return sent

    table.send_changelog = send_changelog


def _on_changelog_delivered(outage: Outage, table: str) -> Callable[[Any], None]:
    def delivered(sent: Any) -> None:
        if sent.cancelled() or sent.exception() is None:
            return
        exc = sent.exception()
        log.error("a change of table %s was not delivered: %s", table, type(exc).__name__)
        outage.give_up(f"delivering a change of table {table} to its changelog", exc)

    return delivered


async def callbacks_settled() -> None:
    """Let delivery callbacks already due run (a failed one stops the worker) before the
    caller commits offsets."""
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)
