"""Offsets on a real broker: one test per upstream faust-streaming bug the worker corrects
(pipeline/runtimes/kafka/offsets.py). Each fails with faust's own commit and recovery logic.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.sentiment.model import PROMOTED_FILE, SHIPPED_MODEL
from pipeline.topology import scorer_for
from schemas.cloudevents import CloudEvent
from tests.pipeline.runtimes.kafka.test_kafka_runtime import contact, new_klant, response
from tests.support.kafka_harness import KafkaHarness, kafka_harness

pytestmark = pytest.mark.kafka
__all__ = ["kafka_harness"]


def flows(n: int) -> tuple[list[CloudEvent], list[CloudEvent]]:
    """n contacts and one answer to each (the answer joins its contact by klant)."""
    contacts, responses = [], []
    for i in range(n):
        klant = new_klant()
        c = contact(klant, f"c-{i}-{klant}")
        contacts.append(c)
        responses.append(response(klant, c.data["contactId"], f"i-{i}", "Het ging prima."))
    return contacts, responses


def ids_on(harness: KafkaHarness, topic: str, field: str) -> set[str]:
    return {r["data"][field] for r in harness.records(topic, min_count=0, timeout=0)}


def wait_all(
    harness: KafkaHarness, topic: str, field: str, wanted: set[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        missing = wanted - ids_on(harness, topic, field)
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(missing)} of {len(wanted)} never reached {topic}, e.g. "
                f"{sorted(missing)[:5]}\n--- worker log ---\n{harness.worker_log_tail()}"
            )
        harness.assert_worker_alive()
        time.sleep(0.2)


def publish_each(harness: KafkaHarness, topic: str, events: list[CloudEvent], per_txn: int) -> None:
    for i in range(0, len(events), per_txn):
        harness.publish(topic, events[i : i + per_txn])


def test_commits_reach_end_offsets_with_a_transaction_per_record(
    kafka_harness: KafkaHarness,
) -> None:
    """faust-streaming #606 / #401 / #625, KAFKA-6607: every publish is a transaction, so a
    marker follows each record. Committed offsets must still reach the end offsets (marker
    included) within a few seconds of the last record being processed."""
    harness = kafka_harness
    contacts, responses = flows(120)
    publish_each(harness, "contact-events", contacts, per_txn=1)
    publish_each(harness, "survey-responses", responses, per_txn=1)
    wait_all(
        harness, "survey-invitations", "contactId", {c.data["contactId"] for c in contacts}, 60
    )
    wait_all(harness, "scored-signals", "responseId", {r.data["responseId"] for r in responses}, 60)
    seconds = harness.wait_committed(timeout=5.0)
    print(f"\ncommitted == end offsets {seconds:.2f} s after the last output was visible")


def test_restart_with_a_backlog_skips_nothing(kafka_harness: KafkaHarness) -> None:
    """faust-streaming #596: a worker (re)started while records wait must process every one
    of them; recovery must not drop what was fetched before the agents' queues were cleared."""
    harness = kafka_harness
    warm_c, warm_r = flows(50)
    harness.publish("contact-events", warm_c)
    harness.publish("survey-responses", warm_r)
    wait_all(harness, "scored-signals", "responseId", {r.data["responseId"] for r in warm_r}, 60)
    # Killed, not stopped: its membership lingers until the session times out, so the new
    # worker is rebalanced again while it works through the backlog (the case of #596).
    harness.kill_worker()

    contacts, responses = flows(1500)
    publish_each(harness, "contact-events", contacts, per_txn=25)
    publish_each(harness, "survey-responses", responses, per_txn=25)
    harness.start_worker()
    wanted = {r.data["responseId"] for r in responses + warm_r}
    wait_all(harness, "scored-signals", "responseId", wanted, 120)
    wait_all(
        harness, "survey-invitations", "contactId", {c.data["contactId"] for c in contacts}, 30
    )
    # Nothing was skipped (asserted above); once the monitoring stage (one busy partition)
    # is through too, the commits must reach the end offsets within 10 s. (Full-suite runs
    # once saw one partition's commit stay ~800 offsets behind here for good: a record
    # whose queued copy recovery dropped stayed pending forever; offsets.py fix 2.)
    harness.wait_monitoring_done()
    seconds = harness.wait_committed(timeout=10.0)
    print(f"\ncommitted == end offsets {seconds:.2f} s after the pipeline was idle")


def test_the_worker_scores_with_the_promoted_model(
    kafka_broker: Any, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    """Both runtimes build topology and scorer with pipeline.topology.topology_for: a model
    promoted into data_dir/models is the one the Kafka worker scores with."""
    harness = KafkaHarness(kafka_broker.bootstrap, kafka_topic_prefix, tmp_path)
    try:
        models = harness.settings.data_dir / "models"
        models.mkdir(parents=True)
        model = json.loads(SHIPPED_MODEL.read_text("utf-8"))
        model["version"] = "promoted-for-test"
        (models / "promoted-for-test.json").write_text(json.dumps(model), "utf-8")
        pointer = {"current": {"file": "promoted-for-test.json"}}
        (models / PROMOTED_FILE).write_text(json.dumps(pointer), "utf-8")
        assert getattr(scorer_for(harness.settings), "version", None) == "promoted-for-test"
        harness.start_worker()
        assert "scorer=promoted-for-test" in harness.worker_log_path.read_text("utf-8")
    finally:
        harness.close()
