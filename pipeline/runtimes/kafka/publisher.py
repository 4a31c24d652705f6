"""The Publisher port on Kafka: a transactional kafka-python producer with group commit.

A publish is part of one Kafka transaction, so a batch is all-or-nothing for read_committed
readers (the faust workers and the sinks read that way), and it returns only after the
broker committed it with acks from all in-sync replicas: durable once it returns.

Group commit: publishes from concurrent requests that arrive while a transaction is being
committed (or within `linger` seconds) share the next transaction, so the edge pays one
commit round trip per group rather than per request. A group whose transaction fails is
retried request by request, so one bad request never fails another, and every request
stays all-or-nothing.

Lanes: `lanes` committers, each with its own transactional producer, take groups from the
one queue, so one group gathers and sends while another commits (a producer has at most
one open transaction). A request is in exactly one transaction of one lane; requests that
are concurrent have no order anyway, and a request made after another returned comes after
it on every lane (that one is committed).

A request of ONE event (the common case at the HTTP edge) skips the transaction when
`single_event_idempotent` is on (the default, KLANTSIGNAAL_KAFKA_SINGLE_EVENT_IDEMPOTENT;
a producer that missed an acknowledgement is replaced before the next group, because
kafka-python's idempotent producer did not recover from a broker restart):
it goes on an idempotent producer (acks=all, retries without duplicates or reordering) and
is answered when the broker acknowledged it, which is when a transaction's commit would
have made it durable too. One record is all-or-nothing by itself, and read_committed
readers see a record without a transaction as soon as no open transaction precedes it on
its partition. What costs the transaction's extra round trips (AddPartitionsToTxn, EndTxn)
and its markers is gone; see docs/kafka.md, "Guarantees".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import KafkaProducer

from pipeline.runtimes.kafka.keystore import sealer_for
from pipeline.sealing import Record, Sealer
from pipeline.settings import Settings
from schemas.cloudevents import CloudEvent

log = logging.getLogger(__name__)


class PublishFailed(RuntimeError):
    """The batch was not published; the caller may retry it.

    `maybe_published` is set when the commit's outcome is unknown (timed out): readers
    then see all of the batch or none of it, never a part.
    """

    def __init__(self, message: str, *, maybe_published: bool = False) -> None:
        super().__init__(message)
        self.maybe_published = maybe_published
        self.before_sending = False


class CommitOutcomeUnknown(RuntimeError):
    """A transaction commit did not finish in time; it may or may not take effect."""


def _bounded(call: Callable[[], object], timeout: float, what: str) -> None:
    """Run a blocking producer call with a deadline.

    kafka-python waits without a limit for commit_transaction/abort_transaction; with the
    broker gone that would hang the HTTP request (and, through the lock, every other one).
    """
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=f"kafka-txn-{what}", daemon=True).start()
    if not done.wait(timeout):
        raise CommitOutcomeUnknown(f"transaction {what} did not complete within {timeout:.0f} s")
    if errors:
        raise errors[0]


class _Request:
    __slots__ = ("batches", "done", "error", "on_done")

    def __init__(
        self,
        batches: Mapping[str, Sequence[CloudEvent]],
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self.batches = batches
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.on_done = on_done  # called in the committer's thread once done is set

    def finish(self) -> None:
        self.done.set()
        if self.on_done is not None:
            try:
                self.on_done()
            except Exception:  # the caller's event loop is gone: nobody is waiting
                log.debug("could not wake a publisher's caller", exc_info=True)


def _unacknowledged(request: _Request, target: str, exc: BaseException) -> None:
    """The broker did not acknowledge a single event in time: it may still be written (a
    retry is safe, consumers dedupe on event id)."""
    request.error = PublishFailed(
        f"publishing 1 event to {target} failed: {exc!r}", maybe_published=True
    )
    request.finish()


class _Lane:
    """One committer: a transactional producer and the lock of its one open transaction."""

    def __init__(self, transactional_id: str) -> None:
        self.transactional_id = transactional_id
        self.lock = threading.Lock()
        self.producer: KafkaProducer | None = None
        self.thread: threading.Thread | None = None
        # The single-event producer missed an acknowledgement: replaced before the next
        # group (after a broker restart kafka-python's idempotent producer never recovered).
        self.stale = False


class KafkaPublisher:
    def __init__(
        self,
        settings: Settings,
        *,
        transactional_id: str | None = None,
        timeout: float = 30.0,
        linger: float = 0.002,
        max_group: int = 200,
        lanes: int = 2,
        single_event_idempotent: bool | None = None,
        **producer_configs: Any,
    ) -> None:
        self.settings = settings
        # Unique per instance: a fixed id would make two API processes fence each other.
        self.transactional_id = (
            transactional_id
            or f"{settings.kafka_topic_prefix}klantsignaal-publisher-{uuid.uuid4().hex[:12]}"
        )
        self.timeout = timeout
        self._configs = producer_configs
        self._lock = threading.Lock()  # starting the committers
        self._lanes = [
            _Lane(self.transactional_id if i == 0 else f"{self.transactional_id}-{i}")
            for i in range(max(1, lanes))
        ]
        self.linger = linger
        self.max_group = max_group
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._closed = False
        self.groups = 0  # transactions committed for groups (for the bench)
        if single_event_idempotent is None:
            single_event_idempotent = bool(settings.kafka_single_event_idempotent)
        # Requests of one event: an idempotent producer, no transaction (module docstring).
        self._single: _Lane | None = (
            _Lane(f"{self.transactional_id}-single") if single_event_idempotent else None
        )
        self._singles: queue.Queue[_Request] = queue.Queue()
        self._sealer_made: list[Sealer | None] = []  # made on first publish (key store)

    def _sealer(self) -> Sealer | None:
        """Crypto-shredding (pipeline.sealing): records of a klant sealed with its key."""
        if not self._sealer_made:
            self._sealer_made.append(sealer_for(self.settings))
        return self._sealer_made[0]

    def _connect(self, lane: _Lane) -> KafkaProducer:
        if lane.producer is None:
            producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                client_id=lane.transactional_id,
                transactional_id=lane.transactional_id,
                enable_idempotence=True,
                acks="all",
                max_block_ms=int(self.timeout * 1000),
                # Back-to-back transactions meet CONCURRENT_TRANSACTIONS while the broker
                # still writes the last one's markers; the default 100 ms backoff would be
                # the edge's tail latency.
                **{"retry_backoff_ms": 5, **self._configs},
                bootstrap_timeout_ms=int(self.timeout * 1000),
            )
            try:
                producer.init_transactions()
            except BaseException:
                producer.close(timeout=1)
                raise
            lane.producer = producer
        return lane.producer

    def _discard(self, lane: _Lane) -> None:
        # After a fatal error (fenced, timed out mid-commit) the producer cannot be reused.
        if lane.producer is not None:
            try:
                lane.producer.close(timeout=1)
            except Exception:
                log.debug("closing a failed producer", exc_info=True)
            lane.producer = None

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        """Put events on a logical topic in one transaction; raise PublishFailed if not."""
        self.publish_many({topic: events})

    def publish_many(self, batches: Mapping[str, Sequence[CloudEvent]]) -> None:
        """Events for several logical topics in ONE transaction (an HTTP batch may mix types),
        shared with concurrent publishes (group commit); returns once it is committed."""
        if not any(len(events) for events in batches.values()):
            return
        request = _Request(batches)
        self._start_committer()
        self._queue_for(batches).put(request)
        # The committer bounds every step by self.timeout; this wait is only a backstop.
        if not request.done.wait(self.timeout * 4):
            self._mark_stale(batches)
            raise PublishFailed("publishing timed out in the commit queue", maybe_published=True)
        if request.error is not None:
            raise request.error

    async def publish_many_async(self, batches: Mapping[str, Sequence[CloudEvent]]) -> None:
        """`publish_many` for a caller on an asyncio event loop: the same group commit, but
        the caller awaits its transaction instead of holding a thread while it waits."""
        if not any(len(events) for events in batches.values()):
            return
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not committed.done():
                committed.set_result(None)

        request = _Request(batches, lambda: loop.call_soon_threadsafe(settle))
        self._start_committer()
        self._queue_for(batches).put(request)
        try:  # the committer bounds every step by self.timeout; this is only a backstop
            await asyncio.wait_for(committed, self.timeout * 4)
        except TimeoutError:
            self._mark_stale(batches)
            raise PublishFailed(
                "publishing timed out in the commit queue", maybe_published=True
            ) from None
        if request.error is not None:
            raise request.error

    def _mark_stale(self, batches: Mapping[str, Sequence[CloudEvent]]) -> None:
        if self._queue_for(batches) is self._singles and self._single is not None:
            self._single.stale = True

    def _queue_for(self, batches: Mapping[str, Sequence[CloudEvent]]) -> queue.Queue[_Request]:
        single = sum(len(events) for events in batches.values()) == 1
        return self._singles if single and self._single is not None else self._queue

    def _start_committer(self) -> None:
        lanes = [*self._lanes, self._single] if self._single is not None else self._lanes
        if all(lane.thread is not None and lane.thread.is_alive() for lane in lanes):
            return
        with self._lock:
            single = self._single
            if single is not None and (single.thread is None or not single.thread.is_alive()):
                single.thread = threading.Thread(
                    target=self._single_loop, args=(single,), name="kafka-single", daemon=True
                )
                single.thread.start()
            for i, lane in enumerate(self._lanes):
                if lane.thread is None or not lane.thread.is_alive():
                    lane.thread = threading.Thread(
                        target=self._commit_loop,
                        args=(lane, i > 0),
                        name=f"kafka-group-commit-{i}",
                        daemon=True,
                    )
                    lane.thread.start()

    def _commit_loop(self, lane: _Lane, connect_first: bool) -> None:
        if connect_first:  # the first lane connects for the first request; the others now
            try:
                with lane.lock:
                    self._connect(lane)
            except Exception:
                log.debug("connecting %s early failed", lane.transactional_id, exc_info=True)
        while not self._closed:
            group = self._gather(self._queue)  # what queued up during the last commit
            if group:
                self._commit_group(lane, group)

    def _gather(self, source: queue.Queue[_Request]) -> list[_Request]:
        """The next group from `source` (empty after 0.5 s without a request): the first
        request, what queued up meanwhile and what arrives within `linger`, at most
        `max_group`."""
        try:
            group = [source.get(timeout=0.5)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.linger
        while len(group) < self.max_group:
            try:
                group.append(source.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return group

    def _commit_group(self, lane: _Lane, group: list[_Request]) -> None:
        try:
            self._transaction(lane, [request.batches for request in group])
            with self._lock:  # lanes count concurrently
                self.groups += 1
        except PublishFailed as exc:
            if len(group) == 1 or exc.maybe_published or exc.before_sending:
                # Unknown outcome: every request may be in; each caller must treat it so.
                for request in group:
                    request.error = exc
            else:  # one bad request must not fail the others: each on its own
                for request in group:
                    try:
                        self._transaction(lane, [request.batches])
                    except PublishFailed as own:
                        request.error = own
        except BaseException as exc:  # never leave a caller waiting
            for request in group:
                request.error = PublishFailed(f"publishing failed: {exc!r}")
        for request in group:
            request.finish()

    def _transaction(
        self, lane: _Lane, requests: Sequence[Mapping[str, Sequence[CloudEvent]]]
    ) -> None:
        """One transaction for the batches of one or more requests."""
        count = sum(len(events) for batches in requests for events in batches.values())
        topics = sorted({topic for batches in requests for topic in batches})
        targets = ", ".join(self.settings.topic(topic) for topic in topics)
        what = f"publishing {count} event(s) to {targets}"
        with lane.lock:
            try:
                producer = self._connect(lane)
                producer.begin_transaction()
            except Exception as exc:
                self._discard(lane)
                failed = PublishFailed(f"{what} failed: {exc!r}")
                failed.before_sending = True  # no broker: not a matter of one bad request
                raise failed from exc
            try:
                futures = []
                for target, (key, headers, value) in self._records(requests):
                    futures.append(producer.send(target, value=value, key=key, headers=headers))
                producer.flush(timeout=self.timeout)
                for future in futures:
                    future.get(timeout=self.timeout)  # raises the send error, if any
                _bounded(producer.commit_transaction, self.timeout, "commit")
            except CommitOutcomeUnknown as exc:
                # The broker may still commit it: the caller must treat the batch as maybe
                # published (a retry is safe: consumers dedupe on event id).
                self._discard(lane)
                raise PublishFailed(f"{what}: {exc}", maybe_published=True) from exc
            except Exception as exc:
                self._abort(lane)
                raise PublishFailed(f"{what} failed: {exc!r}") from exc

    def _records(
        self, requests: Sequence[Mapping[str, Sequence[CloudEvent]]]
    ) -> list[tuple[str, Record]]:
        """(topic, record) of every event, sealed together: the keys of all klanten in the
        group are looked up, and the new ones created, in one key-store round trip. Inside
        the transaction, so a failure here aborts it like a failed send."""
        targets: list[str] = []
        records: list[Record] = []
        for topic, events in (item for b in requests for item in b.items()):
            target = self.settings.topic(topic)
            for event in events:
                targets.append(target)
                records.append(event.to_binary())
        sealer = self._sealer()
        if sealer is not None:
            records = sealer.seal_many(records)
        return list(zip(targets, records, strict=True))

    # -- requests of one event: idempotent producer, no transaction ---------------------
    def _connect_single(self, lane: _Lane) -> KafkaProducer:
        if lane.producer is None:
            configs = {k: v for k, v in self._configs.items() if k != "transactional_id"}
            lane.producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                client_id=lane.transactional_id,
                enable_idempotence=True,
                acks="all",
                max_block_ms=int(self.timeout * 1000),
                # An answer within the caller's bound: success or an error, never silence.
                **{
                    "delivery_timeout_ms": int(self.timeout * 1000),
                    "request_timeout_ms": int(self.timeout * 500),  # must be below it
                    **configs,
                },
                bootstrap_timeout_ms=int(self.timeout * 1000),
            )
        return lane.producer

    def _single_loop(self, lane: _Lane) -> None:
        try:  # connect now, not on the first request
            self._connect_single(lane)
        except Exception:
            log.debug("connecting %s early failed", lane.transactional_id, exc_info=True)
        while not self._closed:
            # What queued up while the last group was sealed, and what arrives in `linger`:
            # the group's keys are one key-store round trip (a commit), however many.
            group = self._gather(self._singles)
            if not group:
                continue
            try:
                self._send_singles(lane, group)
            except BaseException as exc:  # never leave a caller waiting
                for request in group:
                    if not request.done.is_set():
                        request.error = PublishFailed(f"publishing failed: {exc!r}")
                        request.finish()

    def _send_singles(self, lane: _Lane, group: list[_Request]) -> None:
        """Seal the group's records together (one key-store round trip), send each, and
        answer each request from its own acknowledgement (the producer's I/O thread)."""
        if lane.stale:
            self._replace_single(lane)
        try:
            producer = self._connect_single(lane)
            records = self._records([request.batches for request in group])
        except Exception as exc:  # no broker, key store away: not one request's fault
            for request in group:
                request.error = PublishFailed(f"publishing 1 event failed: {exc!r}")
                request.finish()
            return
        for request, (target, (key, headers, value)) in zip(group, records, strict=True):
            try:
                future = producer.send(target, value=value, key=key, headers=headers)
            except Exception as exc:  # too large, say: refused before sending, this one only
                request.error = PublishFailed(f"publishing 1 event to {target} failed: {exc!r}")
                request.finish()
                continue
            future.add_callback(lambda _meta, r=request: r.finish())
            future.add_errback(lambda exc, r=request, t=target: self._missed(lane, r, t, exc))

    def _missed(self, lane: _Lane, request: _Request, target: str, exc: BaseException) -> None:
        lane.stale = True
        _unacknowledged(request, target, exc)

    def _replace_single(self, lane: _Lane) -> None:
        """Drop a single-event producer that missed an acknowledgement; the next group gets
        a new one. Closed in the background: its close may block or raise (kafka-python)."""
        old, lane.producer, lane.stale = lane.producer, None, False
        if old is None:
            return
        log.warning("single-event producer missed an acknowledgement; replacing it")

        def close() -> None:
            try:
                old.close(timeout=0)
            except Exception:
                sender = getattr(old, "_sender", None)
                with contextlib.suppress(Exception):
                    if sender is not None:
                        sender.force_close()

        threading.Thread(target=close, name="close-stale-producer", daemon=True).start()

    def _abort(self, lane: _Lane) -> None:
        producer = lane.producer
        if producer is None:
            return
        try:
            _bounded(producer.abort_transaction, self.timeout, "abort")
        except Exception:
            log.warning("abort failed; reconnecting the producer", exc_info=True)
            self._discard(lane)

    def close(self) -> None:
        self._closed = True
        lanes = [*self._lanes, self._single] if self._single is not None else self._lanes
        for lane in lanes:
            if lane.thread is not None:
                lane.thread.join(timeout=2)
        for lane in lanes:
            with lane.lock:
                if lane.producer is not None:
                    lane.producer.close(timeout=self.timeout)
                    lane.producer = None

    def __enter__(self) -> KafkaPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
