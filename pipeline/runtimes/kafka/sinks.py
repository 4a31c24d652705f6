"""Sinks on Kafka: a kafka-python consumer group per sink, committing after each stored batch.

Delivery to a sink is at-least-once: offsets are committed only after `sink.handle` returned,
so a crash (or a rebalance) in between replays the batch; sinks are idempotent on event id.

A sink reads the topics it stores anything of (`stored_topics` where it names them: the
warehouse has no rows for monitor observations), as in the embedded runtime. Per polled
batch the keys of its sealed records are read in one key-store statement (docs/kafka.md,
Performance). kafka-python's batch checksum is compiled by the `crc32c` dependency.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from pipeline.ops.health import READINESS
from pipeline.ops.metrics import sink_stored
from pipeline.ports import Sink, SinkRecord
from pipeline.processing import sink_record
from pipeline.runtimes.kafka.codec import decode, headers_list, open_record, raw_parts
from pipeline.runtimes.kafka.keystore import sealer_for
from pipeline.runtimes.kafka.lag import watch_lag
from pipeline.sealing import ERASED, Sealer
from pipeline.settings import Settings
from pipeline.topology import DEAD_LETTER

log = logging.getLogger(__name__)


def sink_group(settings: Settings, sink: Sink) -> str:
    return f"{settings.kafka_topic_prefix}klantsignaal-{sink.name}"


def sink_topics(sink: Sink) -> tuple[str, ...]:
    """The logical topics a sink's group reads: those it stores anything of."""
    return tuple(getattr(sink, "stored_topics", sink.topics))


def to_sink_record(
    logical_topic: str, record: Any, sealer: Sealer | None = None
) -> SinkRecord | None:
    """A consumed Kafka record as the sink sees it (pipeline.processing.sink_record);
    None for a record of a forgotten klant (crypto-shredded)."""
    opened = open_record(sealer, record.key, headers_list(record.headers), record.value)
    if opened is ERASED:
        return None
    key, headers, value = opened
    if logical_topic == DEAD_LETTER:  # the raw picture only where it may be needed
        raw = raw_parts(key, headers, value)
        return sink_record(logical_topic, f"{record.partition}/{record.offset}", None, value, raw)
    decoded = decode(key, headers, value)
    return sink_record(logical_topic, f"{record.partition}/{record.offset}", decoded, value)


def run_sink(
    settings: Settings,
    sink: Sink,
    stop_event: threading.Event,
    *,
    poll_timeout: float = 0.5,
    retry_pause: float = 2.0,
    max_records: int = 500,
    **consumer_configs: Any,
) -> None:
    """Feed `sink` from its topics until `stop_event` is set (blocking; run it in a thread)."""
    logical = {settings.topic(t): t for t in sink_topics(sink)}
    consumer = KafkaConsumer(
        *logical,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=sink_group(settings, sink),
        client_id=f"{sink_group(settings, sink)}-consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Never hand a sink a record of an aborted or still-open transaction.
        isolation_level="read_committed",
        max_poll_records=max_records,
        # A group formed while the metadata still lacked one of the topics assigns none of
        # its partitions ("No partition metadata for topic"); kafka-python rejoins when a
        # metadata refresh shows them, which by default comes after five minutes.
        metadata_max_age_ms=5000,
        **consumer_configs,
    )
    log.info("sink %s consuming %s", sink.name, ", ".join(logical))
    ready_part = f"sink {sink.name}"  # ready once the group gave it partitions
    READINESS.expect(ready_part)
    watch_lag(settings.kafka_bootstrap, sink_group(settings, sink), logical)
    committed: dict[TopicPartition, int] = {}
    sealer = sealer_for(settings)
    try:
        while not stop_event.is_set():
            try:
                polled = consumer.poll(timeout_ms=int(poll_timeout * 1000), max_records=max_records)
            except KafkaError as exc:
                # The broker is away (restart, network): wait and poll again; nothing
                # was handed to the sink, so nothing is lost or committed.
                log.warning("sink %s cannot poll (%r); retrying", sink.name, exc)
                stop_event.wait(retry_pause)
                continue
            READINESS.mark(ready_part, bool(consumer.assignment()))
            if not polled:
                # Past transaction markers and aborted records too: committed = end offsets.
                if not _commit_positions(consumer, sink.name, committed):
                    stop_event.wait(retry_pause)  # the broker is away: as for a failed poll
                continue
            batch, first, nxt = _batch(polled, logical, sealer)
            try:
                if batch:
                    sink.handle(batch)
            except Exception:
                # Rewind so the same records come again after a pause; nothing is committed.
                log.exception("sink %s failed on %d record(s); retrying", sink.name, len(batch))
                for tp, offset in first.items():
                    consumer.seek(tp, offset)
                stop_event.wait(retry_pause)
                continue
            _commit(consumer, sink.name, nxt)
            committed.update(nxt)
            sink_stored(sink.name, batch)
    finally:
        READINESS.mark(ready_part, False)
        consumer.close()
        log.info("sink %s stopped", sink.name)


def _batch(
    polled: Mapping[TopicPartition, Sequence[Any]],
    logical: Mapping[str, str],
    sealer: Sealer | None = None,
) -> tuple[list[SinkRecord], dict[TopicPartition, int], dict[TopicPartition, int]]:
    batch: list[SinkRecord] = []
    first: dict[TopicPartition, int] = {}
    nxt: dict[TopicPartition, int] = {}
    if sealer is not None:  # the batch's keys in one statement, not one per new klant
        sealer.prefetch(r.key for records in polled.values() for r in records)
    for tp, records in polled.items():
        if not records:
            continue
        first[tp] = records[0].offset
        nxt[tp] = records[-1].offset + 1
        for record in records:
            item = to_sink_record(logical.get(tp.topic, tp.topic), record, sealer)
            if item is not None:
                batch.append(item)
    return batch, first, nxt


def _commit_positions(
    consumer: KafkaConsumer,
    name: str,
    committed: dict[TopicPartition, int],
    timeout_ms: int = 5000,
) -> bool:
    """Commit the consumer's position where it moved past what was committed without
    returning records (only markers or aborted records were there): everything before the
    position was handed to the sink and stored, or was no record at all.

    False when the positions could not be read (the broker is away, a rebalance took the
    partitions): nothing is committed then, and the next empty poll tries again. An idle
    sink must survive a broker restart like a polling one (the thread would die otherwise).
    """
    moved = {}
    try:
        for tp in consumer.assignment():
            position = consumer.position(tp, timeout_ms=timeout_ms)
            if position is not None and position > committed.get(tp, -1):
                moved[tp] = position
    except KafkaError as exc:
        log.warning("sink %s cannot read its positions (%r); retrying", name, exc)
        return False
    if moved:
        _commit(consumer, name, moved)
        committed.update(moved)
    return True


def _commit(consumer: KafkaConsumer, name: str, nxt: Mapping[TopicPartition, int]) -> None:
    offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in nxt.items()}
    try:
        consumer.commit(offsets)
    except (CommitFailedError, KafkaError) as exc:
        # Typically a rebalance moved the partitions: their new owner replays the batch,
        # which the idempotent sink absorbs.
        log.warning("sink %s could not commit %s: %r", name, offsets, exc)
