"""The commit bookkeeping of pipeline.runtimes.kafka.offsets, driven in the order a race on
a loaded machine produces: a fetch that is still in flight when its partition is revoked
(or sought back) reports its position after the bookkeeping was cleared.

The interleavings run deterministically on the real mixin: fix 4 (a position from before a
revoke or seek back) and fix 5 (records faust fetched but never handed to the streams,
which the second-worker test in test_kafka_faults.py lost under heavy load).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from aiokafka.structs import TopicPartition
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP

from pipeline.runtimes.kafka.offsets import SafeOffsetsConsumer

TOPIC_PARTITION = TP("contact-events", 0)


class Bookkeeping(SafeOffsetsConsumer):
    """SafeOffsetsConsumer with just the faust state its bookkeeping reads."""

    def __init__(self) -> None:
        self.callback = self._deliver_nothing
        self.flow_active = True
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._init_offsets()

    async def _deliver_nothing(self, message: Any) -> None:
        return None


def test_a_position_fetched_before_a_revoke_is_not_committed_after_it() -> None:
    books = Bookkeeping()
    tp = TOPIC_PARTITION
    books.note_fetch(tp, 120, 121, books.fetch_epoch(tp))  # records 0..120 fetched
    began = books.fetch_epoch(tp)  # a fetch begins ...
    books.flow_active = False  # ... a rebalance stops the flow and revokes the partition
    books._forget(tp)
    books.note_fetch(tp, None, 180, began)  # ... the fetch returns, empty, position 180
    books.flow_active = True  # same partition assigned again, nothing fetched yet
    # 180 was the old assignment's position; the records before it were dropped from the
    # queues: committing it (faust's timer runs during table recovery) would skip them.
    assert books.safe_offset(tp) is None
    assert books.lost_from(tp) is None


def test_a_position_read_while_the_flow_is_stopped_is_not_taken() -> None:
    books = Bookkeeping()
    tp = TOPIC_PARTITION
    books.flow_active = False
    books._forget(tp)
    books.note_fetch(tp, None, 180, books.fetch_epoch(tp))  # began after the revoke
    assert books.safe_offset(tp) is None


def test_a_position_fetched_before_a_seek_back_is_not_taken() -> None:
    books = Bookkeeping()
    tp = TOPIC_PARTITION
    books.note_fetch(tp, 99, 100, books.fetch_epoch(tp))
    began = books.fetch_epoch(tp)
    books._rewind(tp, 40)  # records from 40 on were dropped: fetched again from 40
    books.note_fetch(tp, None, 100, began)  # the fetch in flight reports the old position
    assert books.safe_offset(tp) is None  # not 100: nothing from 40 on was processed
    books.note_fetch(tp, 60, 61, books.fetch_epoch(tp))  # 40..60 fetched again
    assert books.safe_offset(tp) == 40  # not delivered yet


def test_positions_of_the_current_assignment_still_count() -> None:
    books = Bookkeeping()
    tp = TOPIC_PARTITION
    books._forget(tp)
    books.note_fetch(tp, None, 57, books.fetch_epoch(tp))  # idle partition, flow running
    assert books.safe_offset(tp) == 57  # past transaction markers: committed == end


class Delivered:
    """What the bookkeeping reads of a message faust handed to the streams (and was acked)."""

    def __init__(self, offset: int) -> None:
        self.tp, self.offset, self.acked, self.refcount = TOPIC_PARTITION, offset, True, 0


class Healing(Bookkeeping):
    def __init__(self) -> None:
        super().__init__()
        self.healed: list[Any] = []

    def _heal(self, tp: Any) -> None:  # the seek itself needs the live consumer
        self.healed.append(tp)


def test_records_fetched_but_never_handed_to_the_streams_are_not_committed_past() -> None:
    books = Healing()
    tp = TOPIC_PARTITION
    epoch = books.fetch_epoch(tp)
    books.note_fetch(tp, 12, 13, epoch, [10, 11, 12])
    books._note_delivery(Delivered(10), epoch)
    books._note_delivery(Delivered(12), epoch)  # faust dropped 11 on the way
    assert books.healed == [tp]
    assert books.safe_offset(tp) == 11  # not 13: 11 was never processed
    assert books.lost_from(tp) == 11


def test_records_handed_over_in_order_need_no_healing() -> None:
    books = Healing()
    tp = TOPIC_PARTITION
    epoch = books.fetch_epoch(tp)
    books.note_fetch(tp, 14, 16, epoch, [10, 11, 14])  # 12, 13: transaction markers
    for offset in (10, 11, 14):
        books._note_delivery(Delivered(offset), epoch)
    assert books.healed == []
    assert books.safe_offset(tp) == 16


class Seeking(Healing):
    """The pause/seek/resume of fix 5 on faust's own partition-set bookkeeping."""

    pause_partitions = FaustConsumer.pause_partitions
    resume_partitions = FaustConsumer.resume_partitions
    _get_active_partitions = FaustConsumer._get_active_partitions
    _set_active_tps = FaustConsumer._set_active_tps

    def __init__(self) -> None:
        super().__init__()
        self._active_partitions: set[Any] | None = None
        self._paused_partitions: set[Any] = set()
        self.app = SimpleNamespace(rebalancing=False)
        self.sought: list[tuple[Any, int]] = []

    def assignment(self) -> set[Any]:
        return {TOPIC_PARTITION}

    async def seek(self, tp: Any, offset: int) -> None:
        self.sought.append((tp, offset))


def test_healing_a_partition_reported_by_the_driver_keeps_faust_bookkeeping_valid() -> None:
    books = Seeking()
    driver_tp = TopicPartition(TOPIC_PARTITION.topic, TOPIC_PARTITION.partition)
    epoch = books.fetch_epoch(driver_tp)
    books.note_fetch(driver_tp, 12, 13, epoch, [10, 11, 12])
    books._note_delivery(Delivered(10), epoch)
    books._note_delivery(Delivered(12), epoch)  # 11 dropped: heal by seeking back to 11
    asyncio.run(books._seek_dropped(driver_tp))
    assert books.sought == [(TOPIC_PARTITION, 11)]
    # faust asserts that its active set holds TPs only: a driver TopicPartition in it
    # crashed every later fetch of the worker (seen in the Kafka bench).
    assert books._get_active_partitions() == {TOPIC_PARTITION}
    assert all(type(tp) is TP for tp in books._get_active_partitions())


def test_a_drop_noticed_in_the_tail_of_a_rebalance_is_sought_back_after_it() -> None:
    """faust's recovery has sought and resumed the partitions, the worker's own seek back
    (fix 2) is done, but faust has not declared the rebalance over yet when a drop is
    noticed. The seek back must wait for the end, not give up: giving up left the
    partition paused and the commit held at the dropped records for good (the
    second-worker test: committed offsets 225-242 records behind the end at idle)."""
    books = Seeking()
    books.app.rebalancing = True
    driver_tp = TopicPartition(TOPIC_PARTITION.topic, TOPIC_PARTITION.partition)
    epoch = books.fetch_epoch(driver_tp)
    books.note_fetch(driver_tp, 12, 13, epoch, [10, 11, 12])
    books._note_delivery(Delivered(10), epoch)
    books._note_delivery(Delivered(12), epoch)  # 11 dropped, mid-rebalance

    async def scenario() -> None:
        healing = asyncio.ensure_future(books._seek_dropped(driver_tp))
        await asyncio.sleep(0.3)
        assert books.sought == []  # not while faust still rebalances
        books.app.rebalancing = False  # faust: "Worker ready"
        await asyncio.wait_for(healing, 5)

    asyncio.run(scenario())
    assert books.sought == [(TOPIC_PARTITION, 11)]
    assert books._get_active_partitions() == {TOPIC_PARTITION}  # resumed
    assert books.safe_offset(driver_tp) is None  # void until fetched again from 11


def test_each_switched_off_fix_takes_the_call_the_worker_makes() -> None:
    """KLANTSIGNAAL_TEST_WITHOUT_FIX=<fix> puts the code before a fix in the fix's place
    (tests/support/kafka_worker_without_fix.py), to show its test fails without it. The
    stand-in must take the call the worker makes, or the worker breaks for another reason
    (`stale-position` took no `offsets` since fix 5, and every fetch raised TypeError)."""
    import inspect

    from pipeline.runtimes.kafka import changelog_guard, codec, record_guard
    from pipeline.runtimes.kafka.in_place import Outage
    from pipeline.runtimes.kafka.offsets import PositionReportingThread
    from pipeline.sealing import Sealer
    from pipeline.stages import join
    from tests.support import kafka_worker_without_fix as without

    pairs = [
        (without._note_any_fetch, SafeOffsetsConsumer.note_fetch),
        (without._first_delivery_stays, SafeOffsetsConsumer._note_delivery),
        (without._check_nothing, SafeOffsetsConsumer._check_order),
        (without._seek_nothing, SafeOffsetsConsumer.seek_back),
        (without._fetch_with_live_set, PositionReportingThread._fetch_records),
        (without._take_and_forget, join.take_pending),
        (without._raise, record_guard.unhandled),
        (without._wire_unguarded, record_guard.wire_record),
        (without._open_unguarded, Sealer.open),
        (without._open_input_unguarded, codec.open_input),
        (without._guard_nothing, changelog_guard.guard_changelog),
        (without._settle_nothing, changelog_guard.callbacks_settled),
        (without._revoked_unnoticed, Outage.partitions_revoked),
        (without._measure_nothing, changelog_guard._refuse_too_large),
        (without._buffer_unguarded, changelog_guard.guard_buffer),
    ]
    for stand_in, fixed in pairs:
        wanted = list(inspect.signature(fixed).parameters)
        assert list(inspect.signature(stand_in).parameters) == wanted, stand_in.__name__


class Unacked(Delivered):
    """A message handed to the streams and still in an agent's queue (not acked)."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.acked, self.refcount = False, 1


class FaustFlow:
    """faust's own resume_flow, after the mixin's in the MRO: records what was sought by then."""

    sought: list[tuple[Any, int]]
    resumed: list[list[tuple[Any, int]]]

    def resume_flow(self) -> None:
        self.resumed.append(list(self.sought))


class Resuming(Seeking, FaustFlow):
    def __init__(self) -> None:
        super().__init__()
        self.resumed = []
        self.app.topics = SimpleNamespace(acks_enabled_for=lambda topic: True)


def test_records_dropped_where_faust_does_not_seek_are_sought_back_before_the_flow_resumes():
    """A restart where a partition's committed offset is 0: faust's seek to the committed
    offsets skips it (aiokafka seeks only an offset > 0), so the position stays past what
    the fetcher handed over before that seek, and faust's queue clear right before resuming
    drops what was not processed yet. Only the worker's seek back (fix 2) fetches those
    again; without it the position is past them: skipped (seen live once in 24 runs of the
    SIGTERM test, `contact-events/1` committed 0, offsets 0 and 1 fetched before the seek)."""
    books = Resuming()
    tp = TOPIC_PARTITION
    books._committed_offset[tp] = 0
    epoch = books.fetch_epoch(tp)
    books.note_fetch(tp, 2, 3, epoch, [0, 1, 2])  # position 3
    books._note_delivery(Delivered(0), epoch)  # processed
    books._note_delivery(Unacked(1), epoch)  # in a queue that faust clears next
    books._note_delivery(Unacked(2), epoch)
    assert books.safe_offset(tp) == 1
    assert books.lost_from(tp) == 1

    async def scenario() -> None:
        books.resume_flow()
        await asyncio.wait_for(books._resumer, 5)

    asyncio.run(scenario())
    assert books.sought == [(tp, 1)]
    assert books.resumed == [[(tp, 1)]]  # faust resumed the flow only after the seek back
