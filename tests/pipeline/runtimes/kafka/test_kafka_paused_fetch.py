"""Fix 6 of pipeline.runtimes.kafka.offsets on a real broker and the real aiokafka fetcher:
a fetch whose partitions faust all paused before it ran must not consume anything.

faust hands its live set of active partitions to the consumer thread's fetch. At the end
of table recovery faust pauses the changelog partitions while the stream partitions are
still paused: the set is empty when the queued fetch runs, and aiokafka reads an empty
set as "all partitions". It returned every record it had buffered for the paused stream
partitions and moved their positions past them; faust dropped those records (not active),
and the position-based commit then passed them. That is how the second-worker test
(test_kafka_faults.py) lost the first few hundred alerts of two partitions under load.

    KLANTSIGNAAL_TEST_WITHOUT_FIX=paused-fetch .venv/bin/python -m pytest -p no:rerunfailures \\
        tests/pipeline/runtimes/kafka/test_kafka_paused_fetch.py   # fails
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from faust.types import TP
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from pipeline.runtimes.kafka.offsets import PositionReportingThread
from tests.pipeline.runtimes.kafka.test_kafka_offset_bookkeeping import Bookkeeping
from tests.support.kafka_worker_without_fix import switch_off

pytestmark = pytest.mark.kafka

RECORDS = 20


@pytest.fixture
def fetch_fix() -> Iterator[None]:
    """The fix as the worker has it, or switched off (KLANTSIGNAAL_TEST_WITHOUT_FIX)."""
    original = PositionReportingThread._fetch_records
    if "paused-fetch" in os.environ.get("KLANTSIGNAAL_TEST_WITHOUT_FIX", "").split():
        switch_off("paused-fetch")
    try:
        yield
    finally:
        PositionReportingThread._fetch_records = original  # type: ignore[method-assign]


def _topic_with_records(bootstrap: str, topic: str) -> None:
    """Two partitions; RECORDS records on partition 1 only."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for i in range(RECORDS):
            producer.send(topic, value=f"r{i}".encode(), partition=1)
        producer.flush(30)
    finally:
        producer.close()


async def _buffered(consumer: AIOKafkaConsumer, tp: TopicPartition, timeout: float) -> None:
    """Until aiokafka's background fetch holds records of `tp` (not handed out yet)."""
    deadline = time.monotonic() + timeout
    while tp not in consumer._fetcher._records:
        assert time.monotonic() < deadline, f"aiokafka fetched nothing of {tp}"
        await asyncio.sleep(0.05)


async def _paused_fetch(bootstrap: str, topic: str) -> tuple[Any, int, int | None, Any]:
    idle, busy = TopicPartition(topic, 0), TopicPartition(topic, 1)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        consumer.assign([idle, busy])
        await consumer.seek_to_beginning(idle, busy)
        await _buffered(consumer, busy, 30)
        books = Bookkeeping()
        thread = object.__new__(PositionReportingThread)
        thread.consumer = books
        # faust's live set: only the idle partition is active (the busy one is paused, as
        # stream partitions are during table recovery) when faust queues the fetch ...
        active = {TP(topic, 0)}
        fetch = thread._fetch_records(consumer, active, timeout=0.5, max_records=500)
        active.clear()  # ... and faust pauses that one too before the fetch runs
        records = await fetch
        handed_over = {tp: batch for tp, batch in records.items() if tp in active}
        position = await consumer.position(busy)
        return records, position, books.safe_offset(TP(topic, 1)), handed_over
    finally:
        await consumer.stop()


def test_a_fetch_for_no_active_partition_consumes_nothing(
    kafka_broker: Any, kafka_topic_prefix: str, fetch_fix: None
) -> None:
    topic = f"{kafka_topic_prefix}stream"
    _topic_with_records(kafka_broker.bootstrap, topic)
    records, position, safe, handed_over = asyncio.run(_paused_fetch(kafka_broker.bootstrap, topic))
    assert not handed_over  # faust hands over records of active partitions only
    # Nothing may be consumed that faust does not hand over: the paused partition's
    # records stay where they are, and no commit may pass them.
    fetched = sum(len(batch) for batch in records.values())
    assert fetched == 0, f"{fetched} record(s) of a paused partition consumed and dropped"
    assert position == 0
    assert safe in (None, 0)
