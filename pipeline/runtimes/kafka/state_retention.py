"""Retention of the workers' table state on Kafka: tombstones on the changelog topics.

Reads every changelog (compacted: the latest value per key counts), opens sealed entries
with the key store, and writes a tombstone (null value, same key and partition) for each
entry that is due (pipeline.state_retention), and for each sealed entry whose klant was
forgotten. The broker's log cleaner then drops the old values; a worker that restarts or
takes over the partition no longer has them. A running worker keeps an entry it holds in
memory until its next restart (or until it writes the entry again with new activity).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from pipeline.runtimes.kafka.keystore import sealer_for
from pipeline.runtimes.kafka.topics import app_id
from pipeline.settings import Settings
from pipeline.state_retention import state_due


def _latest(consumer: KafkaConsumer, topic: str) -> dict[tuple[int, bytes], bytes | None]:
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    latest: dict[tuple[int, bytes], bytes | None] = {}
    while any(consumer.position(tp) < ends[tp] for tp in parts):
        for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
            for r in records:
                if r.key is not None:
                    latest[(tp.partition, r.key)] = r.value
    return latest


def _opened(sealer: Any, key: Any, value: Any) -> Any:
    """The entry's value, opened when sealed; None when its klant was forgotten."""
    if sealer is None or not isinstance(value, dict) or "sealed" not in value:
        return value
    found = sealer.keys.for_route(key) if isinstance(key, str) else None
    if found is None:
        return None
    return sealer.open_state(found.klant, value)


def trim_changelogs(
    settings: Settings, before: datetime, count: Callable[[str, int], None]
) -> None:
    prefix, suffix = f"{app_id(settings)}-", "-changelog"
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    sealer = sealer_for(settings)
    try:
        topics = [t for t in consumer.topics() if t.startswith(prefix) and t.endswith(suffix)]
        for topic in sorted(topics):
            state_name = topic[len(prefix) : -len(suffix)]
            due = 0
            for (partition, raw_key), raw_value in _latest(consumer, topic).items():
                if raw_value is None:
                    continue  # a tombstone already
                key, value = json.loads(raw_key), json.loads(raw_value)
                opened = _opened(sealer, key, value)
                if opened is None or state_due(state_name, opened, before):
                    producer.send(topic, key=raw_key, value=None, partition=partition)
                    due += 1
            count(f"kafka:{state_name} state (tombstones)", due)
        producer.flush(timeout=30)
    finally:
        producer.close()
        consumer.close()
