"""The Kafka sink's work per polled batch, without a broker: the keys of sealed records
read in one statement, kafka-python's batch checksum compiled and still checked."""

from __future__ import annotations

import os
import uuid
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest
from aiokafka.record.util import calc_crc32c as compiled_crc32c
from kafka.record import default_records
from kafka.record._crc32c import crc as crc32c_py
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.structs import TopicPartition

from pipeline.runtimes.kafka.crc import use_compiled_crc32c
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


def _batch_bytes() -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for i in range(20):
        builder.append(i, timestamp=None, key=b"k", value=os.urandom(900), headers=[])
    return bytes(builder.build())


@pytest.fixture
def compiled_crc() -> Any:
    before = default_records.calc_crc32c
    yield use_compiled_crc32c()
    default_records.calc_crc32c = before


def test_kafka_python_checks_batches_with_the_compiled_checksum(compiled_crc: bool) -> None:
    assert compiled_crc
    # kafka-python's own is pure Python unless the crc32c package is installed.
    assert default_records.calc_crc32c is compiled_crc32c
    data = _batch_bytes()  # written with the compiled checksum
    assert DefaultRecordBatch(data).validate_crc()
    body = memoryview(data)[DefaultRecordBatch.ATTRIBUTES_OFFSET :]
    assert DefaultRecordBatch(data).crc == crc32c_py(body)  # the same checksum
    for at in (DefaultRecordBatch.ATTRIBUTES_OFFSET, len(data) // 2, len(data) - 1):
        corrupt = bytearray(data)
        corrupt[at] ^= 0x01
        assert not DefaultRecordBatch(bytes(corrupt)).validate_crc()
