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

A change too large for the producer (over its max.request.size, 2 MiB by default) never
gets that far: aiokafka refuses it before sending, inside faust's producer-buffer task,
which crashed on it (the worker then shut down with exit 1, and its shutdown commit passed
the record when nothing else waited in the buffer). So `send_changelog` measures each
change as aiokafka will and stops the worker at once, before the record that made it is
acked (a deferred write: before the commit that flushes it); and any other error the
buffer meets sending a change is set on that change's future (`guard_buffer`), where the
delivery callback sees it, instead of crashing the buffer.

The stop comes before the commit: faust flushes its producer before committing offsets,
the worker's commit waits for the changelog writes queued before it (offsets.py, fix 3),
and `callbacks_settled` lets the delivery callbacks that flush woke run before the offsets
go out. That used to rest on the callbacks running within its 3 loop turns (aiokafka's
record future, then faust's `_on_published`, then ours; one turn is enough in the order
asyncio runs them, see DeliveryLedger). It no longer does: the producer keeps aiokafka's
record futures of every send (`DeliveryLedger`), which the flush leaves done, and the
commit looks at them directly before the offsets go out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from faust.exceptions import ProducerSendError
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducer

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
        _refuse_too_large(sent, table, outage)
        sent.add_done_callback(delivered)
        return sent

    table.send_changelog = send_changelog

    async def publish_changelog(partition: int | None, key: Any, value: Any) -> Any:
        """`send_changelog` straight to the producer, not through faust's buffer (which
        sends one message per turn of the event loop): for the deferred writes a commit
        flushes (table_writes.py). The same checks; an error sending fails the change's
        future, which `delivered` watches (as `guard_buffer` does for the buffer)."""
        topic = table.changelog_topic
        sent = topic.as_future_message(
            key=key,
            value=value,
            partition=partition,
            key_serializer=table.key_serializer,
            value_serializer=table.value_serializer,
            callback=table._on_changelog_sent,
            eager_partitioning=True,
        )
        _refuse_too_large(sent, table, outage)
        sent.add_done_callback(delivered)
        try:
            await topic.publish_message(sent)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not sent.done():
                sent.set_exception(exc)
            # The send raised before the producer had it, so the producer's ledger never
            # saw it: put it there, so the next commit refuses on it whatever its callback
            # (`delivered`, a loop turn away) has done by then.
            ledger = getattr(table.app.producer, "ledger", None)
            if ledger is not None:
                ledger.track(sent)
        return sent

    table.publish_changelog = publish_changelog


def _refuse_too_large(sent: Any, table: Any, outage: Outage) -> None:
    """Stop now when the change (serialized already) is over the producer's limit, as
    aiokafka measures it: it would refuse it in the buffer task, unseen by any callback."""
    message = sent.message
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
        message.key, message.value, message.headers or []
    )
    limit = table.app.conf.producer_max_request_size
    if size > limit:
        log.error("a change of table %s is %d bytes, over max.request.size", table.name, size)
        outage.give_up(
            f"writing a change of table {table.name} ({size} bytes; the producer's "
            f"max.request.size is {limit})",
            MessageSizeTooLargeError("table change over max.request.size"),
        )


def guard_buffer(buffer: Any) -> None:
    """An error sending a buffered message (a table change) fails that message's future,
    which its delivery callback watches, instead of crashing faust's producer buffer."""
    send_pending = buffer._send_pending

    async def _send_pending(fut: Any) -> None:
        try:
            await send_pending(fut)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not fut.done():
                fut.set_exception(exc)

    buffer._send_pending = _send_pending


class DeliveryCancelled(Exception):
    """A record future cancelled before the broker acknowledged the record: it may or may
    not have been written, so the commit must not pass what it came from."""


class DeliveryLedger:
    """aiokafka's record futures of what the producer sent since the last commit.

    aiokafka resolves a batch's record futures in the same call that resolves the batch
    (MessageBatch.done/failure), and the producer's flush waits for the batches: once it
    returns, every record of a flushed batch is done, failed or not, whatever callbacks
    are still queued. Looking at the futures themselves makes the stop before a commit
    independent of how many loop turns the callbacks (aiokafka's, faust's, ours) take."""

    def __init__(self) -> None:
        self._sent: list[Any] = []

    def track(self, sent: Any) -> None:
        self._sent.append(sent)

    def failed(self) -> BaseException | None:
        """The error of a record that could not be delivered (among those done), a
        cancelled one included (never acknowledged: `DeliveryCancelled`); those still in
        flight are kept for the next look, the done ones dropped."""
        waiting: list[Any] = []
        error: BaseException | None = None
        for sent in self._sent:
            if not sent.done():
                waiting.append(sent)
            elif error is None and sent.cancelled():
                error = DeliveryCancelled("the send was cancelled before it was acknowledged")
            elif error is None:
                error = sent.exception()
        self._sent = waiting
        return error


class GuardedProducer(AIOKafkaProducer):
    """faust's aiokafka producer whose buffer fails a change it cannot send (guard_buffer)
    and whose sends (stage outputs, table changes) are in a DeliveryLedger."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        guard_buffer(self.buffer)
        self.ledger = DeliveryLedger()

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        sent = await super().send(*args, **kwargs)
        self.ledger.track(sent)
        return sent

    async def send_output(self, topic: str, key: Any, value: Any, headers: Any) -> Any:
        """A stage output straight to aiokafka's producer: what `send` ends in for a record
        without partition, timestamp or transaction, less faust's wrapping per record (the
        `on_produce_message` signal, which only faust's livecheck app listens to, and its
        checks of the settings); in the ledger as `send`. A Kafka error is raised as faust
        raises it (ProducerSendError)."""
        producer = self._ensure_producer()
        try:
            sent = await producer.send(topic, value, key=key, headers=headers)
        except KafkaError as exc:
            raise ProducerSendError(f"Error while sending: {exc!r}") from exc
        self.ledger.track(sent)
        return sent


def _on_changelog_delivered(outage: Outage, table: str) -> Callable[[Any], None]:
    def delivered(sent: Any) -> None:
        if sent.cancelled() or sent.exception() is None:
            return
        exc = sent.exception()
        log.error("a change of table %s was not delivered: %s", table, type(exc).__name__)
        outage.give_up(f"delivering a change of table {table} to its changelog", exc)

    return delivered


async def callbacks_settled(
    ledger: DeliveryLedger | None = None, outage: Outage | None = None
) -> None:
    """Let delivery callbacks already due run (a failed one stops the worker, with its own
    log line) before the caller commits offsets; then, whatever callbacks are still
    queued, a record the ledger shows failed stops the worker too."""
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)
    if ledger is None or outage is None:
        return
    error = ledger.failed()
    if error is not None:
        log.error("a record was not delivered: %s", type(error).__name__)
        outage.give_up("delivering a record sent before this offset commit", error)
