"""Table writes reach the changelog at the next offset commit, once per key (write-behind).

faust sends a changelog record for every table write. Kafka Streams instead keeps a record
cache and writes the changelog only when it commits, the last value per key. Done here
too: a write goes into the table at once (the next record sees it), and the changelog gets
the key's latest value when the worker commits its input offsets. A monitoring cell
(2–3 KiB, one per service and channel, written on every observation) then goes out about
once per commit interval instead of once per record.

Why this keeps "commit what was processed": the worker's consumer calls `publish()` before
every offset commit (pipeline.runtimes.kafka.worker `_Consumer`), and faust's commit then
flushes the producer before sending the offsets; so every state change of a record
whose offset is committed is on the changelog first. A crash loses only writes of records
whose offsets were not committed, and those are processed again. Before partitions are
revoked the pending writes go out as well, so a worker taking a partition over recovers
them, exactly as before.

Only for the states `deferrable_states` in the worker names: those touched by records of
one input topic (the monitoring cells, the trigger's `last_invited`; a stage declares per
input topic which states it touches, `state_use`), and those read across topics by a
reader that waits when the entry is not there yet (`awaited_states`: the join's contact
context, read for answers; an answer replayed before the contact whose context a crash
lost waits in `pending` until the contact is replayed, as an answer that arrives before
its contact does). The trigger's `opted_out`, read for contacts that do not wait for it,
still goes out at once. tests/pipeline/runtimes/kafka/test_kafka_deferred_context.py kills
a worker after the commit and between a contact and its answer.

A commit hands the writes straight to the producer (`publish`, through the table's
guarded `publish_changelog`), not through faust's buffer, which sends one message per
turn of the event loop: a second's worth of contacts (two changes each) kept that buffer
over its limit, and faust's delivery and the agent's queued runs waited on it.
"""

from __future__ import annotations

import asyncio
from typing import Any


class WriteBehind:
    """Pending changelog writes of a worker's tables: table -> key -> (partition, value)."""

    def __init__(self) -> None:
        self._pending: dict[Any, dict[Any, tuple[int, Any]]] = {}
        self._publishing = asyncio.Lock()  # one `publish` at a time (see there)

    def put(self, table: Any, key: Any, value: Any) -> None:
        """Set `key` in `table` now (inside a stream event); its changelog record follows
        at the next commit (`publish`). Only the changelog is deferred: faust's
        Table.__setitem__ is exactly `on_key_set` (changelog, TTL, sensors) plus the store
        write below, and the tables here have no TTL."""
        partition = table.partition_for_key(key)  # the current event's partition
        table.data[key] = value
        writes = self._pending.get(table)  # not setdefault(table, {}): a dict a write
        if writes is None:
            writes = self._pending[table] = {}
        writes[key] = (partition, value)

    def delete(self, table: Any, key: Any) -> None:
        """Remove `key` now; its tombstone (value None, as faust's own delete sends)
        follows at the next `publish` in place of any pending value, so a deleted key
        cannot come back on recovery from a value written before it."""
        if key not in table.data:
            return
        partition = table.partition_for_key(key)
        del table.data[key]
        self._pending.setdefault(table, {})[key] = (partition, None)

    async def publish(self) -> int:
        """Hand the latest value of every pending key to its changelog: straight to the
        producer (`publish_changelog` of changelog_guard.py), not through faust's buffer,
        which sends one per turn of the event loop: a commit flushing a second's worth of
        contacts (two changes each) kept it over its limit, and faust's delivery and the
        agent's queued runs waited on it.
        faust's commit then flushes the producer before the offsets go out, as before.
        A table without `publish_changelog` (not guarded) goes through `send_changelog`.
        Interrupted (a cancelled commit), the writes not yet handed over are pending
        again, unless a newer write of the key came meanwhile: a later commit sends them.

        One at a time: a revoke's publish that came while a commit's was still handing its
        writes over (each `await` may wait on a full producer) would otherwise return at
        once, faust's revoke flush would not cover the commit's remaining writes, and they
        could reach the changelog after the new owner wrote newer values of those keys."""
        async with self._publishing:
            return await self._publish()

    async def _publish(self) -> int:
        sent = 0
        pending, self._pending = self._pending, {}
        items = [(t, k, w) for t, writes in pending.items() for k, w in writes.items()]
        for n, (table, key, (partition, value)) in enumerate(items):
            publish = getattr(table, "publish_changelog", None)
            try:
                if publish is None:
                    table.send_changelog(partition, key, value)
                else:
                    await publish(partition, key, value)
            except BaseException:
                self._restore(items[n:])
                raise
            sent += 1
        return sent

    def _restore(self, items: list[tuple[Any, Any, tuple[int, Any]]]) -> None:
        for table, key, write in items:
            self._pending.setdefault(table, {}).setdefault(key, write)

    def __len__(self) -> int:
        return sum(len(writes) for writes in self._pending.values())
