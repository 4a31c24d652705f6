"""The stop before an offset commit does not rest on loop turns (changelog_guard.py,
DeliveryLedger). The worker's commit used to let 3 loop turns pass after faust's producer
flush, so that a refused record's delivery callbacks (aiokafka's future, faust's
`_on_published`, ours) could stop the worker first. Now the commit looks at aiokafka's
record futures directly. What that rests on, shown here on the real broker with the real
aiokafka producer: once `flush()` returns, a record the broker refused is done with its
error, before any loop turn, while a callback chained behind it has not run yet.
"""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any, NoReturn

import pytest
from aiokafka import AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipeline.runtimes.kafka.changelog_guard import (
    DeliveryCancelled,
    DeliveryLedger,
    callbacks_settled,
    guard_changelog,
)
from pipeline.runtimes.kafka.in_place import Outage

pytestmark = pytest.mark.kafka


class Stopped(Exception):
    pass


def _stop(what: str, exc: BaseException) -> NoReturn:
    raise Stopped(f"{what}: {type(exc).__name__}")


def _small_topic(bootstrap: str) -> str:
    name = f"t-ledger-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        topic = NewTopic(name, 1, 1, topic_configs={"max.message.bytes": "100"})
        admin.create_topics([topic])
    finally:
        admin.close()
    return name


async def _refused_then_flushed(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"small")  # metadata known, topic writable
        ledger = DeliveryLedger()
        chained: list[str] = []  # a callback two hops behind, as faust's and ours are
        sent = await producer.send(topic, b"x" * 1000)  # over the topic's max.message.bytes
        ledger.track(sent)
        relay: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sent.add_done_callback(lambda f: relay.set_exception(f.exception() or Exception()))
        relay.add_done_callback(lambda f: chained.append(type(f.exception()).__name__))
        await producer.flush()
        # No loop turn since the flush returned: the chained callback has not run ...
        assert chained == []
        # ... but the record's own future is done with the broker's refusal.
        assert sent.done() and sent.exception() is not None
        error = ledger.failed()
        assert error is not None and "TooLarge" in type(error).__name__, error
        ledger.track(sent)
        with pytest.raises(Stopped):  # the commit's check stops the worker
            await callbacks_settled(ledger, Outage(limit_seconds=1, give_up=_stop))
    finally:
        await producer.stop()


def test_a_refused_record_is_done_when_the_flush_returns(kafka_broker: Any) -> None:
    topic = _small_topic(kafka_broker.bootstrap)
    asyncio.run(_refused_then_flushed(kafka_broker.bootstrap, topic))


async def _cancelled_then_flushed(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"small")  # metadata known, topic writable
        ledger = DeliveryLedger()
        sent = await producer.send(topic, b"cancelled")
        ledger.track(sent)
        sent.cancel()  # aiokafka may still write it: nobody will know whether it did
        await producer.flush()
        assert sent.cancelled()
        error = ledger.failed()
        assert isinstance(error, DeliveryCancelled), error
        ledger.track(sent)
        with pytest.raises(Stopped):  # the commit's check stops the worker, as when refused
            await callbacks_settled(ledger, Outage(limit_seconds=1, give_up=_stop))
        fine = await producer.send(topic, b"fine")
        ledger.track(fine)
        await producer.flush()
        assert ledger.failed() is None  # an acknowledged record lets the commit pass
    finally:
        await producer.stop()


def test_a_cancelled_record_fails_the_commit_as_an_undelivered_one(kafka_broker: Any) -> None:
    """A send whose record future was cancelled was never acknowledged by the broker; the
    commit must not pass it (faust's own callback takes a cancel for no error)."""
    topic = _small_topic(kafka_broker.bootstrap)
    asyncio.run(_cancelled_then_flushed(kafka_broker.bootstrap, topic))


def test_the_ledger_keeps_what_is_in_flight_and_drops_what_was_delivered() -> None:
    async def play() -> None:
        loop = asyncio.get_running_loop()
        ledger = DeliveryLedger()
        delivered, waiting, cancelled = (loop.create_future() for _ in range(3))
        delivered.set_result(None)
        cancelled.cancel()
        for sent in (delivered, waiting, cancelled):
            ledger.track(sent)
        assert isinstance(ledger.failed(), DeliveryCancelled)  # never acknowledged
        assert ledger.failed() is None  # looked at once; the one in flight kept
        waiting.set_exception(RuntimeError("refused"))
        assert isinstance(ledger.failed(), RuntimeError)  # kept until it was done
        assert ledger.failed() is None  # looked at once

    asyncio.run(play())


class _RefusingTopic:
    """A changelog topic whose publish raises before the producer has the record (the
    producer stopping, a serializer or partitioner error): no record future is handed out."""

    def as_future_message(self, **kwargs: Any) -> Any:
        sent: Any = asyncio.get_running_loop().create_future()
        sent.message = SimpleNamespace(key=b"k", value=b"v", headers=None)
        return sent

    async def publish_message(self, sent: Any) -> None:
        raise RuntimeError("the producer is not running")


def test_a_changelog_send_that_raises_fails_the_next_commit() -> None:
    """publish_changelog (the commit's deferred table writes) sets the error on the change's
    future, whose callback stops the worker a loop turn later; the commit's own look
    (the producer's ledger) must see it too, or its offsets could go out first."""
    ledger = DeliveryLedger()
    app = SimpleNamespace(
        producer=SimpleNamespace(ledger=ledger),
        conf=SimpleNamespace(producer_max_request_size=1 << 20),
    )
    table = SimpleNamespace(
        name="contacts",
        app=app,
        changelog_topic=_RefusingTopic(),
        key_serializer=None,
        value_serializer=None,
        _on_changelog_sent=None,
        send_changelog=lambda *args: None,
    )
    stopped: list[str] = []

    def give_up(what: str, exc: BaseException) -> NoReturn:
        stopped.append(what)
        raise Stopped(what)

    async def commit_after_a_refused_write() -> None:
        guard_changelog(table, Outage(limit_seconds=1, give_up=give_up))
        sent = await table.publish_changelog(0, b"k", b"v")
        assert sent.done() and isinstance(sent.exception(), RuntimeError)
        # No loop turn yet: the change's own callback has not stopped the worker ...
        assert stopped == []
        with pytest.raises(Stopped):  # ... but the commit's look at the ledger does
            await callbacks_settled(ledger, Outage(limit_seconds=1, give_up=give_up))

    asyncio.run(commit_after_a_refused_write())


async def _outputs_sent_direct(bootstrap: str, topic: str) -> None:
    from faust.exceptions import ProducerSendError

    from pipeline.runtimes.kafka.changelog_guard import GuardedProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"small")  # metadata known, topic writable
        guarded: Any = GuardedProducer.__new__(GuardedProducer)  # faust's part not needed
        guarded._producer, guarded.ledger = producer, DeliveryLedger()
        sent = await guarded.send_output(topic, b"k", b"x" * 1000, [("h", b"v")])
        await producer.flush()  # over the topic's max.message.bytes: the broker refuses
        error = guarded.ledger.failed()
        assert sent.done() and error is not None and "TooLarge" in type(error).__name__
        fine = await guarded.send_output(topic, b"k", b"fine", [("h", b"v")])
        await producer.flush()
        assert (await fine).offset >= 1 and guarded.ledger.failed() is None
        with pytest.raises(ProducerSendError):  # refused by aiokafka itself, as faust raises it
            await guarded.send_output(topic, b"k", b"x" * 5000, [])
    finally:
        await producer.stop()


def test_an_output_sent_straight_to_aiokafka_is_in_the_ledger(kafka_broker: Any) -> None:
    """The worker's outputs skip faust's send wrapper (GuardedProducer.send_output): each
    record future is still in the ledger, so a refused output stops the next commit, and
    an error aiokafka raises reaches the worker's in-place retry as faust's would."""
    topic = _small_topic(kafka_broker.bootstrap)
    asyncio.run(_outputs_sent_direct(kafka_broker.bootstrap, topic))
