"""Deferred table writes made while partitions are being revoked (review of issue 10).

The worker's consumer hands the pending write-behind writes to the producer before faust's
revoke (pipeline/runtimes/kafka/table_writes.py). faust's revoke then waits for the record
in hand (`wait_empty`): that record's remaining stages (the join after the trigger, after
an `await` on a full producer or the key store) write state *after* that hand-over. Those
writes must still reach the changelog before the partitions move, as faust's immediate
writes did; left pending, they went out at this worker's next commit, which may come long
after the new owner wrote newer values of the same keys, and then a restart of the new
owner recovers the stale value (a second invitation within the quarantine, a contact's
context gone)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.runtimes.kafka import offsets
from pipeline.runtimes.kafka.table_writes import WriteBehind
from pipeline.runtimes.kafka.worker import _Consumer


class _Table:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.published: list[tuple[int, str, Any]] = []

    def partition_for_key(self, key: str) -> int:
        return 2

    async def publish_changelog(self, partition: int, key: str, value: Any) -> None:
        self.published.append((partition, key, value))


class _Producer:
    def __init__(self) -> None:
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1


def test_writes_of_the_record_in_hand_during_a_revoke_go_out_before_it_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table, writes, producer = _Table(), WriteBehind(), _Producer()
    writes.put(table, "k-before", {"v": 1})
    consumer = object.__new__(_Consumer)
    consumer.app = SimpleNamespace(table_writes=writes, producer=producer, should_stop=False)

    async def faust_revoke(self: Any, revoked: Any) -> None:
        # faust waits for the record in hand: its join stage writes the contact context now
        await asyncio.sleep(0)
        writes.put(table, "k-in-hand", {"v": 2})

    monkeypatch.setattr(offsets.SafeOffsetsConsumer, "on_partitions_revoked", faust_revoke)
    asyncio.run(consumer.on_partitions_revoked({"contact-events/2"}))
    assert sorted(table.published) == [(2, "k-before", {"v": 1}), (2, "k-in-hand", {"v": 2})]
    assert len(writes) == 0
    assert producer.flushes == 1  # on the broker before the partitions move, as faust's own


def test_a_stopping_worker_leaves_them_for_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that stops does not send to a producer being stopped: the records are not
    committed, so the worker taking their partitions replays them and writes the state."""
    table, writes, producer = _Table(), WriteBehind(), _Producer()
    consumer = object.__new__(_Consumer)
    consumer.app = SimpleNamespace(table_writes=writes, producer=producer, should_stop=True)

    async def faust_revoke(self: Any, revoked: Any) -> None:
        writes.put(table, "k-in-hand", {"v": 2})

    monkeypatch.setattr(offsets.SafeOffsetsConsumer, "on_partitions_revoked", faust_revoke)
    asyncio.run(consumer.on_partitions_revoked({"contact-events/2"}))
    assert table.published == [] and producer.flushes == 0


def test_a_revoke_during_a_commit_s_publish_waits_until_the_commit_handed_its_writes_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The commit timer's publish has taken the pending writes and waits on a full producer
    when the revoke comes. The revoke's own publish finds nothing pending; returning at once,
    faust's revoke (and its producer flush) ran before the commit's writes were handed
    over, so they could reach the changelog after the new owner wrote newer values."""
    events: list[str] = []
    producer_free = asyncio.Event()

    class _SlowTable(_Table):
        async def publish_changelog(self, partition: int, key: str, value: Any) -> None:
            await producer_free.wait()  # the producer's buffer is full
            events.append(f"published {key}")

    table, writes, producer = _SlowTable(), WriteBehind(), _Producer()
    for key in ("a", "b"):
        writes.put(table, key, {"v": 1})
    consumer = object.__new__(_Consumer)
    consumer.app = SimpleNamespace(table_writes=writes, producer=producer, should_stop=False)

    async def faust_revoke(self: Any, revoked: Any) -> None:
        events.append("faust revoke (flushes the producer)")

    monkeypatch.setattr(offsets.SafeOffsetsConsumer, "on_partitions_revoked", faust_revoke)

    async def scenario() -> None:
        commit = asyncio.create_task(writes.publish())
        await asyncio.sleep(0)  # the commit took the writes and waits on the producer
        revoke = asyncio.create_task(consumer.on_partitions_revoked({"contact-events/2"}))
        for _ in range(5):
            await asyncio.sleep(0)
        producer_free.set()
        await asyncio.gather(commit, revoke)

    asyncio.run(scenario())
    assert events == ["published a", "published b", "faust revoke (flushes the producer)"]
