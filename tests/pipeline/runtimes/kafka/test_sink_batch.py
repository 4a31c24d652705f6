"""The Kafka sink's work per polled batch, without a broker: the keys of sealed records
read in one statement (the compiled batch checksum: test_kafka_crc.py)."""

from __future__ import annotations

import uuid
from collections import namedtuple
from pathlib import Path
from typing import Any

from kafka.structs import TopicPartition

from pipeline.runtimes.kafka.keystore import SqlKeyStore
from pipeline.runtimes.kafka.sinks import _batch
from pipeline.sealing import Sealer
from schemas.cloudevents import new_event
from schemas.types import ALERT

Record = namedtuple("Record", "topic partition offset key value headers")


def _sealed_alerts(store_url: str, n: int) -> dict[TopicPartition, list[Record]]:
    sealer = Sealer(SqlKeyStore(store_url))
    tp = TopicPartition("p-alerts", 0)
    records = []
    for i in range(n):
        klant = "k-" + uuid.uuid4().hex
        event = new_event(ALERT.name, {"n": i}, source="/t", key=klant, event_id=f"a-{i}")
        key, headers, value = sealer.seal(*event.to_binary())
        records.append(Record(tp.topic, 0, i, key, value, headers))
    return {tp: records}


def test_a_batch_reads_its_keys_in_one_statement(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    polled = _sealed_alerts(url, 12)
    store = SqlKeyStore(url)  # a sink's own store: nothing cached yet
    calls: dict[str, int] = {"one": 0, "many": 0}
    reads = store._routes
    for name in calls:
        real = getattr(reads, name)

        def counted(*args: Any, _name: str = name, _real: Any = real) -> Any:
            calls[_name] += 1
            return _real(*args)

        setattr(reads, name, counted)
    batch, first, nxt = _batch(polled, {"p-alerts": "alerts"}, Sealer(store))
    assert sorted(r.event.id for r in batch if r.event) == sorted(f"a-{i}" for i in range(12))
    assert calls == {"one": 0, "many": 1}  # was one read per record of a klant not cached
    assert first == {TopicPartition("p-alerts", 0): 0}
    assert nxt == {TopicPartition("p-alerts", 0): 12}
