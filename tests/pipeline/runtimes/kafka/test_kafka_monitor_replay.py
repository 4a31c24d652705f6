"""A monitor-feed replay longer than a cell's window of ids counts nothing twice, on the
real broker with a real kill (pipeline/monitoring/dedup.py).

The worker (tests/support/kafka_worker_feed_uncommitted.py) commits the monitoring's offsets
and flushes its cells as usual but never commits the contacts it read: after 150 contacts
of one service and channel are counted it is killed (SIGKILL), and the normal worker that
follows replays all 150 contacts and re-emits their observations with the same ids, more
than the 100 ids a cell keeps. The cell's count must stay at 150.
`KLANTSIGNAAL_TEST_WITHOUT_FIX=monitor-dedup` checks against the ids only: it counts the
older ones twice and the test fails.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.monitoring.outcomes import CONTACT_FAILED, cell_key
from pipeline.runtimes.kafka.topics import changelog_topic
from pipeline.times import iso
from schemas.types import CONTACT, MONITOR_OBSERVATION
from tests.support.events import contact_event, klant
from tests.support.kafka_harness import KafkaHarness, unique_prefix
from tests.support.observations import observations

pytestmark = pytest.mark.kafka

CONTACTS = 150  # each makes its own observation and (when invited) its invitation's
# The charts stay in warm-up, where `n` counts every outcome of the cell.
ENV = {"KLANTSIGNAAL_MONITOR_WARMUP_MIN": "1000000", "KLANTSIGNAAL_MONITOR_WARMUP_DAYS": "0"}


def _cell(harness: KafkaHarness, cell: str) -> dict[str, Any] | None:
    """The cell's latest value on the monitor_cells changelog (what a restart recovers)."""
    topic = changelog_topic(harness.settings, "monitor_cells")
    reader = KafkaConsumer(
        bootstrap_servers=harness.settings.kafka_bootstrap, enable_auto_commit=False
    )
    try:
        parts = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()]
        reader.assign(parts)
        reader.seek_to_beginning(*parts)
        ends = reader.end_offsets(parts)
        latest = None
        while any(reader.position(tp) < ends[tp] for tp in parts):
            for records in reader.poll(timeout_ms=500).values():
                for record in records:
                    key = json.loads(record.key) if record.key else None
                    if key == cell:
                        latest = json.loads(record.value) if record.value else None
        return latest
    finally:
        reader.close()


def _counted(cell: dict[str, Any] | None) -> int:
    return int(cell["charts"][CONTACT_FAILED]["n"]) if cell else 0


def test_a_feed_replay_longer_than_the_window_of_ids_counts_nothing_twice(
    kafka_broker: Any, tmp_path: Path
) -> None:
    env = {**ENV, "KLANTSIGNAAL_TEST_HOLD_FEED_COMMITS": "1"}
    harness = KafkaHarness(
        kafka_broker.bootstrap,
        unique_prefix("mreplay"),
        tmp_path,
        env=env,
        instance_id="mreplay-worker",  # static membership: the restart takes over at once
    )
    start = datetime(2026, 11, 23, 9, tzinfo=UTC)
    contacts = [
        contact_event(
            klant=klant(1000 + i),
            plaatsgevondenOp=iso(start + timedelta(minutes=i)),
            indicatieContactGelukt=i % 5 != 0,
        )
        for i in range(CONTACTS)
    ]
    cell = cell_key(contacts[0].data["dienst"]["code"], contacts[0].data["kanaal"])
    try:
        harness.start_worker()
        harness.publish(CONTACT.topic, contacts)
        deadline = time.monotonic() + 120
        while _counted(_cell(harness, cell)) < CONTACTS:  # counted and on the changelog
            assert time.monotonic() < deadline, harness.worker_log_tail()
            harness.assert_worker_alive()
            time.sleep(1.0)
        assert "only monitor-observations offsets" in harness.worker_log_tail(200)
        harness.kill_worker()
        del harness.extra_env["KLANTSIGNAAL_TEST_HOLD_FEED_COMMITS"]
        harness.start_worker()  # replays every contact: nothing of them was committed
        harness.wait_idle(timeout=120)
        harness.wait_monitoring_done(timeout=120)
        items = observations(harness.records(MONITOR_OBSERVATION.topic, min_count=2))
        per_contact = Counter(o["observationId"] for o in items if o["bron"] == "contact")
        assert len(per_contact) == CONTACTS
        assert min(per_contact.values()) >= 2, "the replay re-emitted every observation"
        assert _counted(_cell(harness, cell)) == CONTACTS
    finally:
        harness.close()
