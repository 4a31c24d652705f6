"""Fix 7 of pipeline.runtimes.kafka.offsets: a commit sends only offsets that are still true
when it is sent, and the worker's own seeks run in the consumer thread.

A commit chooses its offsets, then waits (deferred table writes, faust's producer buffer,
the producer flush: 7-9 s each under load in the second-worker run that lost 11 contacts,
"Timer commit is overlapping"), and faust's only check at the end is that the partition
is still assigned. The interleavings are played here deterministically on the real mixin
(and the real consumer-thread class and aiokafka's real fetch result), in the order the
second-worker test produces them: the commit's wait spans a revoke and the partition's
return (to this worker, after another one held it), or a seek back. Each fails with
`KLANTSIGNAAL_TEST_WITHOUT_FIX=commit-epoch` (the fixture switches the fix off in-process).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.fetcher import FetchResult
from aiokafka.consumer.subscription_state import SubscriptionState
from aiokafka.structs import TopicPartition
from faust.types import TP

from pipeline.runtimes.kafka.offsets import PositionReportingThread, SafeOffsetsConsumer
from tests.support.kafka_worker_without_fix import switch_off

P0 = TP("contact-events", 0)


@pytest.fixture(autouse=True)
def epoch_fix() -> Iterator[None]:
    """The fix as the worker has it, or switched off (KLANTSIGNAAL_TEST_WITHOUT_FIX)."""
    mixin, thread = SafeOffsetsConsumer, PositionReportingThread
    saved = (mixin._commit, mixin._seek, mixin.fetch_epochs, thread._commit)
    if "commit-epoch" in os.environ.get("KLANTSIGNAAL_TEST_WITHOUT_FIX", "").split():
        switch_off("commit-epoch")
    try:
        yield
    finally:
        mixin._commit, mixin._seek, mixin.fetch_epochs, thread._commit = saved  # type: ignore[method-assign]


class FaustConsumer:
    """What the mixin calls of faust's consumer (0.15.3), kept to its commit path: the
    assignment check, a wait (the producer flush), `_commit`, and the committed record."""

    sent: list[dict[Any, int]]
    while_waiting: Callable[[], Awaitable[None]] | None = None
    _thread: Any = None

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        committable = {tp: o for tp, o in offsets.items() if tp in self.assignment()}
        if self.while_waiting is not None:
            await self.while_waiting()  # the producer flush: 7-9 s under load
        did_commit = await self._commit(committable)
        self._committed_offset.update(committable)  # type: ignore[attr-defined]
        return did_commit

    async def _commit(self, offsets: Any) -> bool:
        self.sent.append(dict(offsets))
        return True

    def assignment(self) -> set[Any]:
        return {P0}

    async def _seek(self, partition: Any, offset: int) -> None:
        self._thread.seek(partition, offset)  # faust's ThreadDelegateConsumer._seek

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        return None


class Worker(SafeOffsetsConsumer, FaustConsumer):
    def __init__(self) -> None:
        self.callback = self._deliver_nothing
        self.flow_active = True
        self.sent = []
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._acked_index: dict[Any, dict[int, int]] = defaultdict(dict)
        empty = SimpleNamespace(pending=SimpleNamespace(_queue=deque()), size=0)
        self.app = SimpleNamespace(
            conf=SimpleNamespace(producer_threaded=False),
            producer=SimpleNamespace(buffer=empty),
            rebalancing=False,
        )
        self._init_offsets()

    async def _deliver_nothing(self, message: Any) -> None:
        return None

    def processed(self, first: int, last: int, position: int) -> None:
        """A fetch of records first..last (position after them, past a transaction
        marker), each handed to the streams and acked."""
        epoch = self.fetch_epoch(P0)
        self.note_fetch(P0, last, position, epoch, list(range(first, last + 1)))
        for offset in range(first, last + 1):
            self._note_delivery(Delivered(offset), epoch)

    def choose(self) -> dict[Any, int]:
        """faust's `_filter_committable_offsets`: the commit's offsets, chosen now."""
        offset = self._new_offset(P0)
        assert offset is not None
        return {P0: offset}


class Delivered:
    def __init__(self, offset: int, acked: bool = True) -> None:
        self.tp, self.offset, self.acked, self.refcount = P0, offset, acked, 0 if acked else 1


def test_a_commit_chosen_before_a_revoke_is_not_sent_when_the_partition_came_back() -> None:
    """Worker A chose 241 for p0, then waited; the group took p0 away (worker B held it,
    from the offset committed before) and gave it back. 241 was chosen from bookkeeping
    the revoke voided; faust sent it under the new generation, as the partition was
    assigned again. Now it is not sent, nor remembered as committed."""
    worker = Worker()
    worker.processed(200, 239, 241)
    chosen = worker.choose()
    assert chosen == {P0: 241}

    async def rebalance_and_back() -> None:
        await worker.on_partitions_revoked({P0})  # B joins: p0 goes to B ...
        await worker.on_partitions_assigned({P0})  # ... B leaves: p0 comes back

    worker.while_waiting = rebalance_and_back
    asyncio.run(worker._commit_offsets(chosen))
    assert worker.sent == []
    assert worker._committed_offset[P0] is None  # the next interval chooses again
    worker.while_waiting = None
    worker.note_fetch(P0, None, 234, worker.fetch_epoch(P0))  # B committed 234; from there
    asyncio.run(worker._commit_offsets(worker.choose()))
    assert worker.sent[-1] == {P0: 234}


def test_a_commit_chosen_before_a_seek_back_is_not_sent_after_it() -> None:
    """Fix 5 found records from 234 on never processed and sought back while the commit
    waited: what it chose before is void."""
    worker = Worker()
    worker.processed(200, 239, 241)
    chosen = worker.choose()

    async def seek_back() -> None:
        worker._rewind(P0, 234)

    worker.while_waiting = seek_back
    asyncio.run(worker._commit_offsets(chosen))
    assert worker.sent == []


def test_a_commit_does_not_pass_a_record_handed_over_again_while_it_waited() -> None:
    """Within one epoch the latest delivery of an offset decides: a record handed to the
    streams again (and not processed yet) while the commit waited is below what it chose."""
    worker = Worker()
    worker.processed(200, 239, 241)
    chosen = worker.choose()

    async def handed_over_again() -> None:
        worker._note_delivery(Delivered(236, acked=False), worker.fetch_epoch(P0))

    worker.while_waiting = handed_over_again
    asyncio.run(worker._commit_offsets(chosen))
    assert worker.sent == [{P0: 236}]


class AioConsumer:
    """aiokafka's consumer as faust's thread uses it in `_commit`."""

    def __init__(self) -> None:
        self.committed: list[dict[Any, Any]] = []

    def assignment(self) -> set[Any]:
        return {TopicPartition(P0.topic, P0.partition)}

    async def commit(self, offsets: Any) -> None:
        self.committed.append(offsets)


def test_the_consumer_thread_does_not_send_an_offset_whose_partition_moved_meanwhile() -> None:
    """The worker's loop checked the epoch, then handed the offsets to the consumer thread,
    where the group's rebalance runs: a revoke in between is checked there too."""
    worker = Worker()
    worker.processed(200, 239, 241)
    chosen = worker.choose()
    thread = PositionReportingThread.__new__(PositionReportingThread)
    aio = AioConsumer()
    thread.consumer, thread._consumer, thread.tp_last_committed_at = worker, aio, {}
    worker._epoch[P0] += 1  # the revoke's first step (on_partitions_revoked)
    assert asyncio.run(thread._commit(chosen)) is False
    assert aio.committed == []


class Records:
    """aiokafka's buffered records of one fetch (PartitionRecords as FetchResult reads it:
    `next_fetch_offset` follows the records drained, and passes the transaction marker
    after the last); `between` runs between two records, as another thread may."""

    def __init__(self, first: int, last: int, between: Callable[[], None]) -> None:
        self.offsets, self.between = range(first, last + 1), between
        self.next_fetch_offset = first

    def __iter__(self) -> Iterator[Any]:
        for n, offset in enumerate(self.offsets):
            if n == 3:
                self.between()
            self.next_fetch_offset = offset + 1
            yield SimpleNamespace(offset=offset)
        self.next_fetch_offset += 1  # the marker after the last record


def test_a_seek_from_another_thread_while_a_fetch_drains_is_lost_in_aiokafka() -> None:
    """Why the worker's seeks run in the consumer thread: aiokafka's fetch result checks the
    position, drains its records, then sets the position to the end of the batch; a seek
    back called from the worker's thread in between is overwritten, and the records sought
    back to are never fetched again (aiokafka 0.14, FetchResult.getall)."""
    asyncio.run(_seek_while_draining())


async def _seek_while_draining() -> None:
    tp = TopicPartition(P0.topic, P0.partition)
    subscriptions = SubscriptionState()
    subscriptions.assign_from_user([tp])
    assignment = subscriptions.subscription.assignment
    state = assignment.state_value(tp)
    state.seek(230)
    batch = Records(230, 239, between=lambda: state.seek(200))
    result = FetchResult(tp, assignment=assignment, partition_records=batch, backoff=0)
    assert [r.offset for r in result.getall()] == list(range(230, 240))
    assert state.position == 241  # the seek back to 200 is gone


class ConsumerThread:
    """faust's consumer thread as the worker's seek reaches it: `call_thread` runs a
    coroutine function on the thread's own loop; `seek` records the thread it ran on."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool, self.sought_on = pool, []
        self.ident = pool.submit(threading.get_ident).result()

    async def call_thread(self, fun: Callable[[], Awaitable[Any]]) -> Any:
        return await asyncio.wrap_future(self.pool.submit(asyncio.run, fun()))

    def seek(self, partition: Any, offset: int) -> None:
        self.sought_on.append((threading.get_ident(), partition, offset))


def test_the_worker_seeks_back_in_the_consumer_thread() -> None:
    """Fix 5's seek back of p0 to 234: aiokafka's seek runs on the consumer thread, where no
    drain of p0 can be under way at the same time; a fetch that thread began before the
    seek (after the bookkeeping was rewound) reports the old position, which is void."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        worker, thread = Worker(), ConsumerThread(pool)
        worker._thread = thread
        worker._rewind(P0, 234)
        began = worker.fetch_epoch(P0)  # a fetch begins before the seek is carried out
        asyncio.run(worker._seek(P0, 234))
        worker.note_fetch(P0, 260, 261, began, list(range(241, 261)))  # from the old position
    assert thread.sought_on == [(thread.ident, P0, 234)]
    assert worker._fetched.get(P0) is None and not worker._expected.get(P0)


class Fetcher:
    """aiokafka's fetcher as faust's `_fetch_records` uses it; the fetch waits (`during`)
    and then returns the records buffered for p0 before that."""

    def __init__(self, during: Callable[[], Awaitable[None]]) -> None:
        self._closed, self.during = False, during
        self._subscriptions = SubscriptionState()
        self.tp = TopicPartition(P0.topic, P0.partition)
        self._subscriptions.assign_from_user([self.tp])
        self.state = self._subscriptions.subscription.assignment.state_value(self.tp)
        self.state.seek(230)

    async def fetched_records(self, partitions: Any, timeout: Any, max_records: Any) -> Any:
        await self.during()
        self.state.seek(241)  # aiokafka: the position after what it returns
        return {self.tp: [SimpleNamespace(offset=o) for o in range(230, 240)]}


def test_a_partition_that_was_not_active_when_its_fetch_began_is_epoch_checked_too() -> None:
    """A fetch began while p0 was paused (during table recovery, or fix 5's seek back), so
    only the active partitions' epochs were taken; p0 was revoked and assigned again while
    the fetch waited, and the fetch returned records of p0 buffered before: their position
    was taken without any check (fix 4 checked the partitions the fetch began with)."""
    worker = Worker()

    async def rebalance_and_back() -> None:
        await worker.on_partitions_revoked({P0})
        await worker.on_partitions_assigned({P0})

    async def fetch() -> None:
        fetcher = Fetcher(rebalance_and_back)
        aio = SimpleNamespace(_closed=False, _fetcher=fetcher)
        thread = PositionReportingThread.__new__(PositionReportingThread)
        thread.consumer = worker
        await thread._fetch_records(aio, set(), timeout=1.0)  # p0 not active yet

    asyncio.run(fetch())
    assert worker._fetched.get(P0) is None  # the old assignment's position: not taken
    assert worker.safe_offset(P0) is None
