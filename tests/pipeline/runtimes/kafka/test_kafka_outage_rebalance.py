"""A worker retrying a key store outage in place while the group takes its partitions
(pipeline/runtimes/kafka/in_place.py). The record waits for its key (retried in place on
its agent's key-read thread, key_reads.py) and faust's revoke waits for the record in
hand (the stream's wait_empty), so the worker cannot hand its partitions back when a
rebalance begins. The broker removes it from the group after the rebalance timeout,
another worker takes the partitions and processes the record in hand from the committed
offset, and the first one, once the key store answers again, went on with that record
for partitions it no longer owned (its outputs and table changes a zombie's). Now a
rebalance that begins during an in-place retry stops the worker at once (exit 75): no
send, no ack, no commit; the new owner processes the record.

A real outage for one worker only: its key store connection goes through a proxy the test
cuts; the second worker reaches the same PostgreSQL directly.
`KLANTSIGNAAL_TEST_WITHOUT_FIX=outage-rebalance` runs the workers without the fix
(tests/support/kafka_worker_without_fix.py): the first keeps retrying and the test fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.runtimes.kafka.in_place import EXIT_OUTAGE
from tests.pipeline.runtimes.kafka.test_kafka_offsets import wait_all
from tests.pipeline.runtimes.kafka.test_kafka_runtime import contact, new_klant
from tests.support.kafka_harness import KafkaHarness, unique_prefix
from tests.support.keystore_proxy import (
    proxied_worker_harness,
    start_warmed_up,
    wait_for,
    worker_log,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_a_worker_retrying_an_outage_stops_when_the_group_takes_its_partitions(
    kafka_broker: Any, postgres_url: str, tmp_path: Path
) -> None:
    prefix = unique_prefix("zombie")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, proxy = proxied_worker_harness(
        kafka_broker.bootstrap,
        prefix,
        tmp_path / "a",
        postgres_url,
        env={"KLANTSIGNAAL_KAFKA_OUTAGE_SECONDS": "120"},
    )
    second = KafkaHarness(kafka_broker.bootstrap, prefix, tmp_path / "b", keystore_url=postgres_url)
    try:
        warm = [contact(new_klant(), f"c-warm-{i}") for i in range(4)]
        start_warmed_up(first, warm)
        proxy.cut()  # the first worker's key store is away; new citizens need their keys
        stuck = [contact(new_klant(), f"c-stuck-{i}") for i in range(6)]
        first.publish("contact-events", stuck)
        wait_for(
            "the first worker did not start retrying",
            lambda: "retrying in place" in worker_log(first),
            first,
            30,
        )
        proc = first._proc
        assert proc is not None
        second.start_worker()  # a rebalance while the first retries
        wait_for("the first worker went on", lambda: proc.poll() is not None, first, 40)
        assert proc.returncode == EXIT_OUTAGE, first.worker_log_tail()
        assert "the group takes the partitions" in worker_log(first)
        # The second worker owns every partition now and processes what the first had.
        wanted = {c.data["contactId"] for c in warm + stuck}
        wait_all(second, "survey-invitations", "contactId", wanted, 60)
        second.wait_idle(timeout=60)
    finally:
        second.close()
        first.close()
        proxy.cut()
