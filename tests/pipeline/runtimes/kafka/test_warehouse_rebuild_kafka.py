"""`klantsignaal warehouse rebuild --runtime kafka`: the live Kafka chain (a faust worker
process, the warehouse sink on its own consumer group) with late, out-of-order, duplicate
and invalid events; then the topics are read from the beginning into a fresh warehouse,
which must equal the live one row for row (only `stored_at` left out)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from consumers.warehouse import Warehouse, WarehouseSink
from consumers.warehouse_rebuild import REBUILT
from pipeline.runtimes.kafka.sinks import run_sink, sink_group, sink_topics
from pipeline.settings import Settings
from pipeline.topology import TOPICS
from tests.support.kafka_harness import KafkaHarness, kafka_harness  # noqa: F401 - fixture
from tests.support.paths import REPO_ROOT
from tests.support.warehouse_compare import differences, snapshot
from tests.support.warehouse_scenario import play

REPO = REPO_ROOT


def _sink_behind(settings: Settings, group: str) -> int:
    """Records on the sink's topics (those it reads) past its committed offsets
    (transaction markers, which lie past the last record, are not counted)."""
    checker = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        tps = [
            TopicPartition(settings.topic(t), p)
            for t in sink_topics(WarehouseSink(None, TOPICS))  # type: ignore[arg-type]
            for p in range(settings.kafka_partitions)
        ]
        checker.assign(tps)
        ends = checker.end_offsets(tps)
        for tp in tps:
            checker.seek(tp, checker.committed(tp) or 0)
        behind, deadline = 0, time.monotonic() + 10
        while any(checker.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                return -1
            behind += sum(len(b) for b in checker.poll(timeout_ms=100).values())
        return behind
    finally:
        checker.close()


def _settle(harness: KafkaHarness, group: str) -> None:
    harness.wait_idle(timeout=60)
    deadline = time.monotonic() + 60
    while (behind := _sink_behind(harness.settings, group)) != 0:
        assert time.monotonic() < deadline, f"warehouse sink {behind} record(s) behind"
        time.sleep(0.2)


def _rebuild_cli(settings: Settings, target_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLANTSIGNAAL_")}
    env.update(
        {
            "KLANTSIGNAAL_RUNTIME": "kafka",
            "KLANTSIGNAAL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "KLANTSIGNAAL_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
            "KLANTSIGNAAL_KAFKA_PARTITIONS": str(settings.kafka_partitions),
            "KLANTSIGNAAL_KEYSTORE_URL": settings.keystore,  # opens the sealed records
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "warehouse", "rebuild", "--into", target_url],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.slow
def test_rebuild_from_the_topics_equals_the_live_sink(
    kafka_harness: KafkaHarness,  # noqa: F811
    postgres_server: Any,
    tmp_path: Path,
) -> None:
    settings = kafka_harness.settings
    live = Warehouse(f"sqlite:///{tmp_path / 'live.db'}")
    sink = WarehouseSink(live, TOPICS)
    stop = threading.Event()
    thread = threading.Thread(
        target=run_sink,
        args=(settings, sink, stop),
        kwargs={"retry_pause": 0.2, "max_records": 40},
        daemon=True,
    )
    thread.start()
    group = sink_group(settings, sink)
    try:
        play(
            kafka_harness.publish,
            lambda: _settle(kafka_harness, group),
            kafka_harness.records,
            contacts=40,
            batches=2,  # each round waits for the worker and the sink: keep them few
        )
    finally:
        stop.set()
        thread.join(timeout=30)
    assert live.count("alert_status_changes") == 2 and live.count("dead_letters") >= 1

    expected = snapshot(live.engine, REBUILT)
    # Rebuilt into SQLite (the embedded default) and into PostgreSQL (production).
    database = f"t_{uuid.uuid4().hex[:16]}"
    targets = [f"sqlite:///{tmp_path / 'rebuilt.db'}", postgres_server.create_database(database)]
    try:
        for target_url in targets:
            done = _rebuild_cli(settings, target_url)
            assert done.returncode == 0, done.stderr[-3000:]
            rebuilt = Warehouse(target_url)
            diff = differences(expected, snapshot(rebuilt.engine, REBUILT))
            rebuilt.engine.dispose()
            assert not diff, f"{target_url.split(':')[0]}:\n" + "\n".join(diff[:20])
    finally:
        postgres_server.drop_database(database)
