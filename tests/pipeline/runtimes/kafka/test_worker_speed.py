"""The Kafka worker's per-record savings (issue 10): which table writes may wait for the
commit, that they then go out once per key with the latest value, and the bench's second
worker process. The guarantees themselves are shown by test_kafka_faults.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.bench_kafka import _env
from pipeline.runtimes.kafka.table_writes import WriteBehind
from pipeline.runtimes.kafka.worker import deferrable_states
from pipeline.settings import Settings
from pipeline.topology import scorer_for, topology_for


def test_only_states_of_one_input_topic_wait_for_the_commit() -> None:
    settings = Settings()
    topology = topology_for(settings, scorer_for(settings))
    deferred = deferrable_states(topology)
    # The join's contact context is written from contact-events and read for responses:
    # it must reach the changelog at once (a crash could otherwise lose it under a replay).
    assert "contacts" not in deferred and "pending" not in deferred
    assert "monitor_cells" in deferred
    for stage in topology.stages:
        if set(stage.state_names) & deferred:
            assert len(stage.inputs) == 1, stage.name


class _Table:
    """A faust table's two entry points WriteBehind uses, recorded."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sent: list[tuple[int, str, Any]] = []
        self.partition = 0

    def partition_for_key(self, key: str) -> int:
        return self.partition

    def send_changelog(self, partition: int, key: str, value: Any) -> None:
        self.sent.append((partition, key, value))


def test_deferred_writes_are_visible_at_once_and_sent_once_per_key() -> None:
    table, writes = _Table(), WriteBehind()
    for n in range(5):
        writes.put(table, "zaak|web", {"n": n})
        assert table.data["zaak|web"] == {"n": n}  # the next record sees it
    table.partition = 3
    writes.put(table, "paspoort|balie", {"n": 9})
    assert table.sent == [] and len(writes) == 2
    assert writes.flush() == 2
    assert sorted(table.sent) == [(0, "zaak|web", {"n": 4}), (3, "paspoort|balie", {"n": 9})]
    assert writes.flush() == 0 and len(writes) == 0


def test_a_second_bench_worker_has_its_own_data_dir_and_the_shared_key_store(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", runtime="kafka", link_key="l")
    first, second = _env(settings, 0), _env(settings, 1)
    assert first["KLANTSIGNAAL_DATA_DIR"] != second["KLANTSIGNAAL_DATA_DIR"]
    assert first["KLANTSIGNAAL_KAFKA_INSTANCE_ID"] != second["KLANTSIGNAAL_KAFKA_INSTANCE_ID"]
    assert second["KLANTSIGNAAL_KEYSTORE_URL"] == settings.keystore
