"""Offsets that follow what was processed: faust-streaming's consumer, corrected in two places.

faust-streaming (0.11 .. 0.15) has two bugs that break "never skip, commit what was done":

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

   Here every `resume_flow()` is deferred until each assigned partition that lost fetched
   records (dropped from a queue before a stream took them, or returned by a fetch but
   never handed over when faust's getmany broke off on a rebalance) was sought back to the
   first of them. Such a record is never committed past (it is not processed), so it is
   fetched again rather than skipped; partitions that lost nothing are not replayed.

Both fixes are in `SafeOffsetsConsumer` (a mixin over faust's aiokafka Consumer) and
`PositionReportingThread` (over faust's AIOKafkaConsumerThread), wired in by the worker's
transport. Delivery stays at-least-once: a seek back may replay a few records, which the
stages and sinks absorb (derived event ids are deterministic; sinks dedupe on id).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

log = logging.getLogger(__name__)

# (last offset the latest fetch returned for the partition or None, position after it)
Fetched = tuple[int | None, int]


class PositionReportingThread(AIOKafkaConsumerThread):
    """Reports, after every fetch, each fetched partition's position to the main consumer."""

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        records = await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )
        note = getattr(self.consumer, "note_fetch", None)
        if note is not None and active_partitions:
            assignment = consumer._fetcher._subscriptions.subscription
            assignment = assignment.assignment if assignment is not None else None
            if assignment is not None:
                for tp in active_partitions:
                    state = assignment.state_value(tp)
                    if state is None or not state.has_valid_position:
                        continue
                    batch = records.get(tp) if records else None
                    note(tp, batch[-1].offset if batch else None, state.position)
        return records


class SafeOffsetsConsumer:
    """Mixin for faust's Consumer: commit offsets by position, seek back after recovery."""

    # Set per instance in _init_offsets (called from __init__ of the concrete class).
    _pending: dict[Any, dict[int, Any]]
    _fetched: dict[Any, Fetched]
    _delivered: dict[Any, int]
    _epoch: dict[Any, int]
    _flow_epoch: int
    _sought_epoch: int
    _seeking: bool

    def _init_offsets(self) -> None:
        self._pending = defaultdict(dict)  # offset -> message delivered, maybe not acked
        self._fetched = {}
        self._delivered = {}  # last offset handed to the streams, per partition
        self._epoch = defaultdict(int)  # bumped on every seek back
        self._flow_epoch = 0
        self._sought_epoch = -1
        self._seeking = False
        inner = self.callback  # type: ignore[attr-defined]

        async def deliver(message: Any) -> None:
            tp, offset = message.tp, message.offset
            epoch = self._epoch[tp]
            await inner(message)
            if epoch != self._epoch[tp]:
                return  # sought back meanwhile: this delivery belongs to the old run
            if not message.acked and message.refcount > 0:
                self._pending[tp][offset] = message
            if offset > self._delivered.get(tp, -1):
                self._delivered[tp] = offset

        self.callback = deliver  # type: ignore[attr-defined]

    # -- bookkeeping ----------------------------------------------------------------------

    def note_fetch(self, tp: Any, last: int | None, position: int) -> None:
        """Called from the consumer thread after each fetch (one tuple store: atomic)."""
        previous = self._fetched.get(tp)
        if last is None and previous is not None:
            last = previous[0]  # keep waiting for an undelivered record of an earlier fetch
        self._fetched[tp] = (last, position)

    def safe_offset(self, tp: Any) -> int | None:
        """The offset below which every record of `tp` is processed (None: not known)."""
        pending = self._pending.get(tp)
        if pending:
            # Acks are read off the messages: faust's Cython stream iterator acks inline,
            # without calling Consumer.ack, so the flag is the one reliable record.
            for offset in [o for o, m in pending.items() if m.acked]:
                del pending[offset]
            if pending:
                return min(pending)
        fetched = self._fetched.get(tp)
        if fetched is None:
            return None
        last, position = fetched
        delivered = self._delivered.get(tp)
        if last is None or (delivered is not None and delivered >= last):
            return position
        return delivered + 1 if delivered is not None else None

    # -- faust hooks ----------------------------------------------------------------------

    def _new_offset(self, tp: Any) -> int | None:
        acked = self._acked[tp]  # type: ignore[attr-defined]
        if acked:  # faust's own list, unused here: keep it from growing
            acked.clear()
            self._acked_index[tp].clear()  # type: ignore[attr-defined]
        return self.safe_offset(tp)

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Any:
        acks_enabled = self.app.topics.acks_enabled_for  # type: ignore[attr-defined]
        for tp in self.assignment():  # type: ignore[attr-defined]
            if not acks_enabled(tp.topic):
                continue
            if topics is None or tp in topics or tp.topic in topics:
                yield tp

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]
        for tp in revoked:
            self._forget(tp)

    def _forget(self, tp: Any) -> None:
        self._epoch[tp] += 1
        self._pending.pop(tp, None)
        self._fetched.pop(tp, None)
        self._delivered.pop(tp, None)

    def stop_flow(self) -> None:
        self._flow_epoch += 1
        super().stop_flow()  # type: ignore[misc]

    def resume_flow(self) -> None:
        """Resume only after seeking back to the committed offsets (fix 2 above)."""
        epoch = self._flow_epoch
        if epoch == self._sought_epoch:
            # faust calls resume_flow more than once per recovery: seek back only once per
            # stop (else records processed since would be replayed), and never resume
            # before that seek is done (the task resumes when it is).
            if not self._seeking:
                super().resume_flow()  # type: ignore[misc]
            return
        self._sought_epoch = epoch
        self._seeking = True
        loop = asyncio.get_event_loop()
        loop.create_task(self._seek_back_then_resume(epoch))

    async def _seek_back_then_resume(self, epoch: int) -> None:
        try:
            await self.seek_back()
        except Exception:
            # Still resume: perform_seek already sought to the committed offsets, and
            # nothing is committed past an undelivered record.
            log.exception("seeking back to committed offsets failed; resuming anyway")
        finally:
            self._seeking = False
        if epoch == self._flow_epoch:  # no new rebalance stopped the flow meanwhile
            super().resume_flow()  # type: ignore[misc]
            log.info("resumed from committed offsets")
            announce = getattr(self.app, "on_flow_resumed", None)  # type: ignore[attr-defined]
            if announce is not None:
                await announce()

    def lost_from(self, tp: Any) -> int | None:
        """The first offset of `tp` that was fetched but will never be processed, if any:
        a record handed to the streams but dropped from a queue before a stream took it
        (faust clears the queues on recovery), or a record a fetch returned that was never
        handed over (faust's getmany breaks off on a rebalance)."""
        pending = self._pending.get(tp) or {}
        dropped = [o for o, m in pending.items() if not m.acked and not m.tracked]
        if dropped:
            return min(dropped)
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
            self._forget(tp)
            await self.seek(tp, target)  # type: ignore[attr-defined]
            targets[tp] = target
        return targets
