"""Offsets that follow what was processed: faust-streaming's consumer, corrected.

faust-streaming (0.11 .. 0.15) has bugs that break "never skip, commit what was done":

1. **Commits stall on transactional input** (faust-streaming #606, #401, #625). faust commits
   the highest offset of a run of *consecutive* acked offsets. A transaction marker takes an
   offset but is never delivered, so every transaction ends a run: the committed offset
   moves one marker per commit, and the marker after the last record is never passed, so
   consumer lag never reaches zero. Kafka Streams fixed the same thing by committing the
   consumer *position* once everything delivered is processed (KAFKA-6607).

   Here the commit offset of a partition is computed from facts, not from consecutive runs:
   the lowest delivered-but-unacked offset when something is in flight; otherwise the
   consumer's fetch position (which lies past markers and aborted records) when every
   record that fetch returned was delivered, else the offset after the last delivered one.

2. **Records skipped after recovery** (faust-streaming #596, and #216/#221 before it). On a
   rebalance faust seeks to the committed offsets, then resumes flow, which clears the
   agents' queues and lets the fetcher go on from wherever it got to: records delivered
   between the seek and the clear are dropped, never acked, never seen again in this run,
   and (with bug 1) the commit then sticks on them.

   faust clears the queues (`flow_control.resume()`) right before *every* `resume_flow()`,
   and it calls that several times per recovery: for the table changelogs, and again after
   it resumed the stream partitions and sought them to the committed offsets -- by then
   the fetcher may already have handed records to the queues that the clear drops. So
   every `resume_flow()` is deferred until each assigned partition that lost fetched
   records (handed to the queues and not acked, or returned by a fetch but never handed
   over when faust's getmany broke off) was sought back to the first of them. A record of
   a topic read by several agents stays unacked for good when one queue lost its copy,
   even if another agent processed it, so "not acked" is what counts, not "not taken".
   Such a record is never committed past, so it is fetched again rather than skipped;
   partitions that lost nothing are not replayed. A record delivered twice (dropped, then
   fetched again) counts once: the latest delivery decides whether its offset is done, so
   a dropped copy cannot hold the commit back forever. Before a rebalance or stop, faust
   waits until every message a stream took is acked or garbage-collected; a message whose
   other copies were cleared is never acked, so the bookkeeping then drops its references
   (keeping only the lowest unprocessed offset) instead of keeping faust waiting until
   the group throws the worker out.

3. **A failed commit is remembered as done** (faust-streaming #316, fixed upstream by
   PR #692 after 0.15.3). faust records the offsets of a commit as committed even when the
   commit failed (a rebalance in progress: `CommitFailedError`), and then never sends
   that offset again: when the partition goes idle, the broker keeps the old offset
   forever (lag never reaches zero; a restart replays everything since). Here a failed
   commit forgets what faust recorded, so the next commit interval sends it again. And
   before a commit, faust's producer buffer (table changelog writes) is drained fully:
   faust's own flush gives up once nothing moved for 0.1 s, so a state change of a
   committed record could still be in memory when the worker dies.

4. **A position from before a rebalance could be committed after it** (found here, while
   hunting a rare loss in the second-worker test under load). The consumer thread reports
   each fetch's positions; a fetch still in flight when the partitions were revoked (or
   sought back) could report its old position after the bookkeeping was cleared. The next
   assignment starts at the committed offset, but faust's commit timer also runs during
   table recovery, before the partition is fetched again: it would commit the old
   position, and recovery then seeks the stream to it, past the records that were fetched
   before the revoke and dropped from the agents' queues. Each report now carries the
   seek epoch of the partition when the fetch began and is ignored when a revoke or seek
   back came in between; a report without records is ignored while the flow is stopped.
   (test_kafka_offset_bookkeeping.py plays the interleaving; it was not seen in the live
   tests, whose losses under load were fix 5's.)

5. **Records fetched but never handed to the streams** (found here, under heavy load: the
   second-worker test lost a contiguous run of records in a generation without any seek).
   faust drops fetched records on its way to the agents in more than one place (its
   getmany leaves out records of a partition paused meanwhile; its drain loop drops
   records below a stale read offset and may cancel the delivery in flight when the flow
   stops), and the position-based commit then passed them. The consumer thread now
   reports the offsets each fetch returned; when faust hands over a later offset of a
   partition while earlier fetched ones never came, they are held as unprocessed (the
   commit stays below them) and the partition is sought back to them at once, with a
   warning in the log.

6. **A fetch for no active partition is a fetch for all of them** (found here: the cause of
   the second-worker test's losses under load, the first few hundred records of a
   partition skipped by a worker that had just taken it over). faust passes its *live* set
   of active partitions to the fetch, which runs later in the consumer thread and may wait
   there for data. At the end of table recovery faust pauses the changelog partitions
   while the stream partitions are still paused, so the set can be empty by the time the
   fetch reads it, and aiokafka reads an empty set as "all partitions": it returned every
   record it had prefetched for the paused stream partitions, moving their positions past
   them; faust handed over none of them (not active), and, as no position was reported for
   an empty set, the next report carried the advanced position and the commit passed
   records never processed. The fetch now gets a view of faust's set that is never empty
   and whose membership follows it (a partition paused while the fetch waits is no longer
   drained), and positions are reported for every partition the fetch began with or got
   records of.

7. **A commit sends only offsets that are still true when it is sent** (found here in the
   code while hunting the second-worker test's one remaining loss under load; that loss
   was not reproduced, see docs/kafka.md). A commit chooses its offsets, then
   waits: the deferred table writes, faust's producer buffer, the producer flush (7-9 s
   each under load in that run, "Timer commit is overlapping"), the consumer thread.
   faust's only check at the end is that the partition is still assigned. Meanwhile the
   partition may have been revoked and assigned again (to this worker, after another one
   held it), or sought back (fixes 2 and 5: records below the chosen offset found never
   processed): the offset was chosen from bookkeeping that is void now, and faust sent it
   anyway, under the current generation. Now each chosen offset carries the partition's
   epoch (moved by every revoke, assignment and seek back); on the worker's loop, just
   before the offsets leave for the consumer thread, an offset whose epoch moved is not
   sent, and one above what the bookkeeping now knows processed is lowered to it; the
   consumer thread checks the epoch again right before aiokafka's commit. Offsets left out
   are not remembered as committed: the next interval chooses again. And the worker's own
   seek backs run in the consumer thread: aiokafka's seek called from the worker's thread
   raced the consumer thread's draining of the same partition's buffered records, whose
   end position (`consumed_to`) could overwrite the seek, so the records sought back to
   were never fetched again. And every position report carries the epoch of *every*
   partition from when the fetch began, not only of those active then: a partition that
   became active while the fetch waited was reported without any epoch check (fix 4).

The fixes are in `SafeOffsetsConsumer` (a mixin over faust's aiokafka Consumer) and
`PositionReportingThread` (over faust's AIOKafkaConsumerThread), wired in by the worker's
transport. Delivery stays at-least-once: a seek back may replay a few records, which the
stages and sinks absorb (derived event ids are deterministic; sinks dedupe on id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

log = logging.getLogger(__name__)

EXPECTED_MAX = 100_000  # fetched, not yet handed over offsets kept per partition (fix 5)
DRAIN_TIMEOUT = 30.0  # seconds a commit waits for the table changelog writes before it
REBALANCE_WAIT = 120.0  # seconds a seek back of dropped records waits for a rebalance
SLOW_COMMIT = 2.0  # seconds from choosing offsets to sending them past which that is logged

# (last offset the latest fetch returned for the partition or None, position after it)
Fetched = tuple[int | None, int]


class ActivePartitions:
    """Fix 6: faust's live set of active partitions as aiokafka's fetch reads it: membership
    follows the set (a partition faust pauses while a fetch waits is not drained from then
    on), and it is never "empty". aiokafka reads an empty partition set as "all
    partitions"; faust empties its set (every partition paused, as at the end of table
    recovery) while a fetch it handed the set to is queued or waiting in the consumer
    thread, and aiokafka then drained every buffered record of the paused partitions,
    moved their positions past them, and faust dropped them."""

    __slots__ = ("live",)

    def __init__(self, live: Any) -> None:
        self.live = live

    def __contains__(self, tp: Any) -> bool:
        return tp in self.live

    def __bool__(self) -> bool:
        return True  # "none active" must not read as "all"

    def __iter__(self) -> Any:
        return iter(list(self.live))


class PositionReportingThread(AIOKafkaConsumerThread):
    """Reports, after every fetch, each fetched partition's position to the main consumer;
    fetches only what faust would hand to the streams (fix 6)."""

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        wanted = ActivePartitions(active_partitions) if active_partitions is not None else None
        # The seek epoch of each partition when the fetch began: a fetch that spans a
        # rebalance or a seek back reports positions the bookkeeping has already voided.
        began = list(active_partitions or ())
        epochs_now = getattr(self.consumer, "fetch_epochs", None)
        epoch_of = getattr(self.consumer, "fetch_epoch", None)
        # Fix 7: every partition's epoch, not only the active ones': a partition that
        # becomes active while this fetch waits may return records too.
        epochs = epochs_now() if epochs_now else {}
        if epoch_of and not epochs_now:
            epochs = {tp: epoch_of(tp) for tp in began}
        records = await super()._fetch_records(
            consumer, wanted, timeout=timeout, max_records=max_records
        )
        note = getattr(self.consumer, "note_fetch", None)
        if note is not None:
            assignment = consumer._fetcher._subscriptions.subscription
            assignment = assignment.assignment if assignment is not None else None
            if assignment is not None:
                # Every partition active when the fetch began or that it returned records of.
                for tp in dict.fromkeys([*began, *(records or ())]):
                    state = assignment.state_value(tp)
                    if state is None or not state.has_valid_position:
                        continue
                    batch = records.get(tp) if records else None
                    offsets = [r.offset for r in batch] if batch else ()
                    last = offsets[-1] if offsets else None
                    epoch = epochs.get(tp, 0) if epochs_now else epochs.get(tp)
                    note(tp, last, state.position, epoch, offsets)
        return records

    async def _commit(self, offsets: Any) -> bool:
        """Fix 7, in the consumer thread right before aiokafka's commit: an offset whose
        partition was revoked, assigned again or sought back since it was chosen is not
        sent (the worker's loop checked it too, before the hop to this thread)."""
        still = getattr(self.consumer, "epoch_unchanged", None)
        if still is not None:
            offsets = {tp: offset for tp, offset in offsets.items() if still(tp)}
            if not offsets:
                return False
        return bool(await super()._commit(offsets))


class SafeOffsetsConsumer:
    """Mixin for faust's Consumer: commit offsets by position, seek back after recovery."""

    # Set per instance in _init_offsets (called from __init__ of the concrete class).
    _pending: dict[Any, dict[int, Any]]
    _fetched: dict[Any, Fetched]
    _delivered: dict[Any, int]
    _floor: dict[Any, int]
    _epoch: dict[Any, int]
    _flow_epoch: int
    _resume_wanted: int | None
    _resumer: asyncio.Task[None] | None
    _announced_epoch: int

    def _init_offsets(self) -> None:
        self._pending = defaultdict(dict)  # offset -> message delivered, maybe not acked
        self._fetched = {}
        self._delivered = {}  # last offset handed to the streams, per partition
        self._floor = {}  # lowest unprocessed offset of messages no longer held (wait_empty)
        self._epoch = defaultdict(int)  # bumped on every seek back
        self._flow_epoch = 0  # bumped on every stop_flow
        self._resume_wanted = None  # flow epoch of a resume_flow() not yet carried out
        self._resumer = None
        self._announced_epoch = -1
        self._chosen: dict[Any, int] = {}  # epoch of each partition's chosen offset (fix 7)
        self._unsent: set[Any] = set()  # chosen, then left out at send time (fix 7)
        self._chose_at = time.monotonic()  # when the latest commit chose its offsets
        # offsets a fetch returned and faust has not handed to the streams yet (fix 5)
        self._expected = defaultdict(lambda: deque(maxlen=EXPECTED_MAX))
        self._healing: set[Any] = set()
        inner = self.callback  # type: ignore[attr-defined]

        async def deliver(message: Any) -> None:
            epoch = self._epoch[message.tp]
            await inner(message)
            self._note_delivery(message, epoch)

        self.callback = deliver  # type: ignore[attr-defined]

    # -- bookkeeping ----------------------------------------------------------------------

    def _note_delivery(self, message: Any, epoch: int) -> None:
        """After faust handed `message` to the agents' queues (fetched in seek epoch `epoch`)."""
        tp, offset = message.tp, message.offset
        if epoch != self._epoch[tp]:
            return  # sought back meanwhile: this delivery belongs to the old run
        # The latest delivery of an offset decides: an earlier copy may have been dropped
        # from a queue and will never be acked.
        if not message.acked and message.refcount > 0:
            self._pending[tp][offset] = message
        else:
            self._pending[tp].pop(offset, None)
        if offset > self._delivered.get(tp, -1):
            self._delivered[tp] = offset
        self._check_order(tp, offset)

    def _check_order(self, tp: Any, offset: int) -> None:
        """Fix 5: faust hands a partition's fetched records to the streams in order; when it
        hands over `offset` while records fetched before it never were, faust dropped them
        (its getmany leaves out records of a partition paused meanwhile; its drain loop
        drops records below a stale read offset). Never commit past them; fetch them
        again."""
        expected = self._expected.get(tp)
        if not expected:
            return
        dropped = None
        while expected and expected[0] < offset:
            first = expected.popleft()
            dropped = first if dropped is None else dropped
        if expected and expected[0] == offset:
            expected.popleft()
        if dropped is not None:
            log.warning(
                "fetched records of %s from %d were not handed to the streams (next: %d); "
                "fetching them again",
                tp,
                dropped,
                offset,
            )
            floor = self._floor.get(tp)
            self._floor[tp] = dropped if floor is None else min(floor, dropped)
            self._heal(tp)

    def _heal(self, tp: Any) -> None:
        """Seek `tp` back to its dropped records, in a task (not inside faust's delivery)."""
        if tp in self._healing:
            return
        self._healing.add(tp)
        asyncio.get_event_loop().create_task(self._seek_dropped(tp))

    async def _seek_dropped(self, tp: Any) -> None:
        """Pause the partition in faust (its records are no longer handed over, so no
        stale read offset is recorded after the seek), seek it back, resume it. Not
        stop_flow(): faust answers a fetch that returns while the flow is stopped by
        seeking every partition back to its committed offset (a large replay).

        A drop noticed in the tail of a rebalance (after its seek back, before faust
        declares it over) waits for the rebalance to end, then seeks and resumes: giving
        up then left the partition paused and the commit held at the dropped records for
        good (the second-worker test, committed offsets 225-242 records behind at idle)."""
        # faust's pause/resume keep a set that must hold faust TPs only (it asserts so on
        # every later read); the consumer thread reports the driver's TopicPartition.
        tp = TP(tp.topic, tp.partition)
        try:
            self.pause_partitions([tp])  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)  # the delivery in flight, if any, finishes
            await self._rebalance_over()
            target = self._unprocessed(tp)  # a rebalance since: forgotten, None
            if target is not None and self._may_seek(tp):
                log.info("seeking %s back to %d: fetched records were dropped", tp, target)
                self._rewind(tp, target)
                await self.seek(tp, target)  # type: ignore[attr-defined]
        finally:
            if self._may_seek(tp):
                self.resume_partitions([tp])  # type: ignore[attr-defined]
            self._healing.discard(tp)
        if self._floor.get(tp) is not None and self._may_seek(tp):
            self._heal(tp)  # dropped again while this seek was under way

    async def _rebalance_over(self, limit: float = REBALANCE_WAIT) -> None:
        """Until faust's rebalance, if any, is over (its recovery resumes and seeks the
        partitions it keeps; a rebalance in its tail does neither again)."""
        waited = 0.0
        while self.app.rebalancing and waited < limit:  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
            waited += 0.05

    def _may_seek(self, tp: Any) -> bool:
        """Still ours and no rebalance under way (that one seeks back on its own)."""
        rebalancing = self.app.rebalancing  # type: ignore[attr-defined]
        return not rebalancing and tp in self.assignment()  # type: ignore[attr-defined]

    def fetch_epoch(self, tp: Any) -> int:
        """The seek epoch of `tp` (read by the consumer thread when a fetch begins)."""
        return self._epoch.get(tp, 0)

    def fetch_epochs(self) -> dict[Any, int]:
        """Every partition's epoch (read by the consumer thread when a fetch begins; a
        partition not in it has epoch 0). One C-level copy: safe beside the loop's writes."""
        return dict(self._epoch)

    # -- fix 7 ----------------------------------------------------------------------------

    def epoch_unchanged(self, tp: Any) -> bool:
        """`tp`'s offset was chosen in its current epoch (no revoke, assignment or seek
        back since). Read by the consumer thread too: plain dict reads."""
        chosen = self._chosen.get(tp)
        return chosen is not None and chosen == self._epoch.get(tp, 0)

    def still_true(self, offsets: Any) -> dict[Any, int]:
        """The chosen `offsets` that may still be sent: not those whose partition was
        revoked, assigned again or sought back since they were chosen (that bookkeeping is
        void), and none above a record now known unprocessed (a drop fix 5 found while the
        commit waited, before its seek back moves the epoch)."""
        sendable: dict[Any, int] = {}
        for tp, offset in offsets.items():
            if not self.epoch_unchanged(tp):
                log.info(
                    "not committing %d for %s: chosen before a rebalance or seek back", offset, tp
                )
                continue
            lowest = self._unprocessed(tp)
            if lowest is not None and lowest < offset:
                log.info(
                    "committing %d, not %d, for %s: a record below is unprocessed",
                    lowest,
                    offset,
                    tp,
                )
                offset = lowest
            sendable[tp] = offset
        return sendable

    async def _commit(self, offsets: Any) -> bool:
        sendable = self.still_true(offsets)
        self._unsent = {tp for tp, offset in offsets.items() if sendable.get(tp) != offset}
        waited = time.monotonic() - self._chose_at
        if waited > SLOW_COMMIT:  # the case fix 7 is about: logged, so it can be followed
            log.info(
                "offsets chosen %.1f s ago, sending: %s",
                waited,
                ", ".join(f"{tp.topic}/{tp.partition}={o}" for tp, o in sendable.items()),
            )
        if not sendable:
            return False
        return bool(await super()._commit(sendable))  # type: ignore[misc]

    async def _seek(self, partition: Any, offset: int) -> None:
        """faust's seek, run in the consumer thread (fix 7): aiokafka's seek called from
        this thread raced the consumer thread draining the partition's buffered records,
        whose end position could overwrite the seek (its `consumed_to` after the seek)."""
        thread = getattr(self, "_thread", None)
        if thread is None or not hasattr(thread, "call_thread"):
            await super()._seek(partition, offset)  # type: ignore[misc]
            return

        async def seek_there() -> None:
            thread.seek(partition, offset)

        await thread.call_thread(seek_there)
        # A fetch the thread began between the caller's bookkeeping (`_rewind`) and this
        # seek read the old position: what it reports is void too.
        self._epoch[partition] += 1
        self._expected.pop(partition, None)
        self._fetched.pop(partition, None)

    def note_fetch(
        self,
        tp: Any,
        last: int | None,
        position: int,
        epoch: int | None = None,
        offsets: Any = (),
    ) -> None:
        """Called from the consumer thread after each fetch (one tuple store: atomic).

        Ignored when the partition was revoked or sought back since the fetch began
        (`epoch` is then old), and, when it returned no records, while the flow is
        stopped: during a rebalance the position may still be the old assignment's. Taken
        anyway, such a position outlives the revoke (fix 4 in the module docstring): the
        next assignment starts at the committed offset, but the commit timer (which runs
        during table recovery) would commit the old position before any new fetch of the
        partition reported, and recovery then seeks to it, past records never processed.
        """
        if epoch is not None and epoch != self._epoch.get(tp, 0):
            log.info("ignored position %d of %s fetched before a revoke or seek back", position, tp)
            return
        if last is None and not self.flow_active:  # type: ignore[attr-defined]
            if position != (self._fetched.get(tp) or (None, None))[1]:
                log.info("ignored position %d of %s read while the flow is stopped", position, tp)
            return
        if offsets:
            self._expected[tp].extend(offsets)  # deque: safe beside popleft on the loop
        previous = self._fetched.get(tp)
        if last is None and previous is not None:
            last = previous[0]  # keep waiting for an undelivered record of an earlier fetch
        self._fetched[tp] = (last, position)

    def safe_offset(self, tp: Any) -> int | None:
        """The offset below which every record of `tp` is processed (None: not known)."""
        unprocessed = self._unprocessed(tp)
        if unprocessed is not None:
            return unprocessed
        fetched = self._fetched.get(tp)
        if fetched is None:
            return None
        last, position = fetched
        delivered = self._delivered.get(tp)
        if last is None or (delivered is not None and delivered >= last):
            return position
        return delivered + 1 if delivered is not None else None

    def _unprocessed(self, tp: Any) -> int | None:
        """The lowest offset of `tp` handed to the streams and not acked, if any."""
        pending = self._pending.get(tp)
        if pending:
            # Acks are read off the messages: faust's Cython stream iterator acks inline,
            # without calling Consumer.ack, so the flag is the one reliable record.
            for offset in [o for o, m in pending.items() if m.acked]:
                del pending[offset]
        lowest = [
            o for o in (min(pending) if pending else None, self._floor.get(tp)) if o is not None
        ]
        return min(lowest) if lowest else None

    # -- faust hooks ----------------------------------------------------------------------

    def _new_offset(self, tp: Any) -> int | None:
        acked = self._acked[tp]  # type: ignore[attr-defined]
        if acked:  # faust's own list, unused here: keep it from growing
            acked.clear()
            self._acked_index[tp].clear()  # type: ignore[attr-defined]
        self._chosen[tp] = self._epoch[tp]  # fix 7: sent only while this holds
        return self.safe_offset(tp)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        """faust notes each skipped offset (a transaction marker) in an interval tree that
        only its own `_new_offset` reads, and merges the tree on every note: with a marker
        after each record that grows without end and costs more per record the longer the
        worker runs. Commit by position needs no gaps."""

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Any:
        self._chose_at = time.monotonic()  # a commit begins: its offsets are chosen now
        acks_enabled = self.app.topics.acks_enabled_for  # type: ignore[attr-defined]
        for tp in self.assignment():  # type: ignore[attr-defined]
            if not acks_enabled(tp.topic):
                continue
            if topics is None or tp in topics or tp.topic in topics:
                yield tp

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:
            self._epoch[tp] += 1  # fix 7: a commit chosen before this is not sent after it
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]
        for tp in revoked:
            self._forget(tp)

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        for tp in assigned:
            self._epoch[tp] += 1  # fix 7: a new assignment voids what was chosen before
        await super().on_partitions_assigned(assigned, generation_id)  # type: ignore[misc]

    def _forget(self, tp: Any) -> None:
        self._epoch[tp] += 1
        self._expected.pop(tp, None)
        self._pending.pop(tp, None)
        self._fetched.pop(tp, None)
        self._delivered.pop(tp, None)
        self._floor.pop(tp, None)

    def _rewind(self, tp: Any, target: int) -> None:
        """Bookkeeping for a seek back to `target`: what was delivered from there on is
        void (fetched again); records below it still being processed stay pending."""
        self._epoch[tp] += 1
        self._expected.pop(tp, None)
        self._fetched.pop(tp, None)
        self._delivered[tp] = target - 1
        self._floor.pop(tp, None)  # target <= floor: lost_from counts it
        pending = self._pending.get(tp)
        if pending:
            for offset in [o for o in pending if o >= target]:
                del pending[offset]

    async def wait_empty(self) -> None:
        """faust's wait for in-flight messages before a rebalance or stop, without our
        references keeping it waiting: faust waits until each message a stream took is
        acked or garbage-collected, and one whose other queued copies were just cleared is
        never acked. Hold only the lowest unprocessed offset per partition instead (the
        commit stays at or below it)."""
        for tp in list(self._pending):
            lowest = self._unprocessed(tp)
            self._pending.pop(tp, None)
            if lowest is not None:
                self._floor[tp] = lowest
        await super().wait_empty()  # type: ignore[misc]

    def stop_flow(self) -> None:
        self._flow_epoch += 1
        super().stop_flow()  # type: ignore[misc]
        stopped = getattr(self.app, "on_flow_stopped", None)  # type: ignore[attr-defined]
        if stopped is not None:
            stopped()  # a rebalance (or stop) began: not ready until the flow resumes

    def resume_flow(self) -> None:
        """Resume only after seeking back what the queues lost (fix 2 above).

        faust clears the agents' queues just before each call, and calls it several times
        per recovery; every call gets its own seek back, carried out in order by one task.
        """
        self._resume_wanted = self._flow_epoch
        if self._resumer is None or self._resumer.done():
            self._resumer = asyncio.get_event_loop().create_task(self._seek_back_then_resume())

    async def _seek_back_then_resume(self) -> None:
        epoch = self._flow_epoch
        while True:
            if self._resume_wanted is not None:
                epoch, self._resume_wanted = self._resume_wanted, None
                try:
                    await self.seek_back()
                except Exception:
                    # Resume anyway: nothing is committed past an undelivered record, so
                    # what could not be sought back holds the commit until a restart.
                    log.exception("seeking back to dropped records failed; resuming anyway")
                if epoch == self._flow_epoch:  # else a new rebalance stopped the flow
                    super().resume_flow()  # type: ignore[misc]
                continue
            if epoch != self._flow_epoch:
                return  # stopped again; its resume_flow() starts a new task
            if not self.app.rebalancing:  # type: ignore[attr-defined]
                break  # tables recovered, streams resumed: faust's rebalance is over
            await asyncio.sleep(0.05)
        if self._announced_epoch != epoch:
            self._announced_epoch = epoch
            log.info("resumed from committed offsets")
            announce = getattr(self.app, "on_flow_resumed", None)  # type: ignore[attr-defined]
            if announce is not None:
                await announce()

    # -- fix 3 ----------------------------------------------------------------------------

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        # faust flushes the producer before committing, but its buffer (table changelog
        # writes) only for as long as it keeps moving within 0.1 s: drain what was in it
        # when the offsets were chosen, so no state change of a committed record is lost.
        if not await self._drain_producer_buffer():
            log.info("producer buffer not drained; committing at the next interval")
            return False
        self._unsent = set()
        did_commit = await super()._commit_offsets(  # type: ignore[misc]
            offsets, start_new_transaction=start_new_transaction
        )
        for tp in self._unsent:  # fix 7: left out at send time, not committed
            self._committed_offset.pop(tp, None)  # type: ignore[attr-defined]
        if not did_commit:
            # faust recorded these as committed regardless: forget that, so the next
            # commit interval sends them again.
            for tp in offsets:
                self._committed_offset.pop(tp, None)  # type: ignore[attr-defined]
            log.info("commit of %d partition(s) failed; retrying next interval", len(offsets))
        return did_commit

    async def _drain_producer_buffer(self, timeout: float = DRAIN_TIMEOUT) -> bool:
        """Wait until every message in faust's producer buffer now has been sent (the
        buffer is FIFO: the last one's future resolves last). Not until the buffer is
        empty: under sustained load it never is, and commits stalled for seconds."""
        buffer = self.app.producer.buffer  # type: ignore[attr-defined]
        queued = getattr(getattr(buffer, "pending", None), "_queue", None)
        if self.app.conf.producer_threaded or queued is None:  # type: ignore[attr-defined]
            try:  # no FIFO to look into: flush until empty (may take long under load)
                while buffer.size:
                    await buffer.flush()
            except RuntimeError:  # the producer is stopping: faust's own flush decides
                pass
            return True
        if not queued or buffer.state != "running":
            return True  # empty, or stopping: faust's own flush decides
        try:
            await asyncio.wait_for(asyncio.shield(queued[-1]), timeout)
        except Exception as exc:  # a send failed or hangs: these offsets wait
            log.warning("changelog writes not sent before a commit: %r", exc)
            return False
        return True

    def lost_from(self, tp: Any) -> int | None:
        """The first offset of `tp` that was fetched but may never be processed, if any.

        Called when faust has just cleared the agents' queues: a record handed to the
        streams and not acked was dropped from at least one queue (a topic read by several
        agents keeps it unacked when one queue lost its copy, even if another agent
        processed it), unless an agent is processing it right now (then it is replayed,
        which is harmless). Or a record a fetch returned was never handed over (faust's
        getmany breaks off when the flow stops)."""
        unprocessed = self._unprocessed(tp)
        if unprocessed is not None:
            return unprocessed
        fetched = self._fetched.get(tp)
        if fetched is None or fetched[0] is None:
            return None
        delivered = self._delivered.get(tp)
        if delivered is not None and delivered >= fetched[0]:
            return None
        committed = self._committed_offset.get(tp)  # type: ignore[attr-defined]
        return delivered + 1 if delivered is not None else (committed or 0)

    async def seek_back(self) -> dict[Any, int]:
        """Seek each assigned input partition that lost fetched records back to the first
        of them (fix 2); partitions that lost nothing keep going, so nothing is replayed."""
        acks_enabled = self.app.topics.acks_enabled_for  # type: ignore[attr-defined]
        targets: dict[Any, int] = {}
        for tp in self.assignment():  # type: ignore[attr-defined]
            if not acks_enabled(tp.topic):
                continue
            target = self.lost_from(tp)
            if target is None:
                continue
            log.info("seeking %s back to %d: fetched records were dropped", tp, target)
            self._rewind(tp, target)
            await self.seek(tp, target)  # type: ignore[attr-defined]
            targets[tp] = target
        return targets
