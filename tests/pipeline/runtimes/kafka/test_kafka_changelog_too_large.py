"""A table change larger than the worker producer's max.request.size
(pipeline/runtimes/kafka/changelog_guard.py). aiokafka refuses such a record before
sending it, inside faust's producer-buffer task: there is no delivery callback to fail,
so the changelog guard never saw it. The change stays in the worker's memory only, the
record that made it is acked, and the next commit passes it; a restarted worker recovers
the table without the change. Now the worker stops (exit 75) before the record is acked,
and the record is processed again after the restart.

The value: the join's `contacts` state of one citizen (the context of their last 50
contacts) grows with every contact; the test lowers the producer's max.request.size
(`KLANTSIGNAAL_KAFKA_PRODUCER_MAX_REQUEST_BYTES`) below what 30 contacts make, so
that the refusal is the one a value over the default 2 MiB would meet.
After the stop the same worker with the default limit processes what was not committed:
the last contact's context is there (an answer to it is joined: a signal), and every
contact that is invited has exactly one invitation.
`KLANTSIGNAAL_TEST_WITHOUT_FIX=changelog-size` runs the worker without the fix
(tests/support/kafka_worker_without_fix.py): the test fails.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.runtimes.kafka.test_kafka_offsets import wait_all
from tests.pipeline.runtimes.kafka.test_kafka_runtime import T0, contact, new_klant, response
from tests.support.kafka_harness import KafkaHarness, unique_prefix

pytestmark = pytest.mark.kafka

MAX_REQUEST = "6000"  # bytes; a sealed invitation or monitoring cell stays far below
CONTACTS = 30  # of one citizen: their contacts state passes MAX_REQUEST on the way


def test_a_table_change_over_the_max_request_size_stops_the_worker_before_the_ack(
    kafka_broker: Any, tmp_path: Path
) -> None:
    prefix = unique_prefix("big")
    small = KafkaHarness(
        kafka_broker.bootstrap,
        prefix,
        tmp_path,
        env={"KLANTSIGNAAL_KAFKA_PRODUCER_MAX_REQUEST_BYTES": MAX_REQUEST},
        instance_id="big-worker",  # static membership: the restart takes over at once
    )
    try:
        klant = new_klant()
        many = [
            contact(klant, f"c-{i:02d}-" + "x" * 80, at=T0 + timedelta(minutes=i))
            for i in range(CONTACTS)
        ]
        others = [contact(new_klant(), f"c-other-{i}") for i in range(3)]
        small.start_worker()
        small.publish("contact-events", others)
        small.records("survey-invitations", min_count=len(others), timeout=60)
        small.publish("contact-events", many)
        log = small.assert_worker_stopped_before("contact-events", "a table change too large")
        assert "change of table contacts" in log, small.worker_log_tail()
    finally:
        small.close()
    # The same worker with the default limit: what was not acked is processed again.
    harness = KafkaHarness(kafka_broker.bootstrap, prefix, tmp_path, instance_id="big-worker")
    try:
        harness.start_worker()  # its tables recovered from what the changelogs got
        last = many[-1].data["contactId"]
        harness.publish("survey-responses", [response(klant, last, "i-last", "Prima.")])
        wait_all(harness, "scored-signals", "contactId", {last}, 60)  # the contact's context
        harness.wait_idle(timeout=60)
        invitations: dict[str, set[str]] = defaultdict(set)
        for record in harness.records("survey-invitations"):
            invitations[record["data"]["contactId"]].add(record["id"])  # a replay: same id
        wanted = [many[0], *others]  # the citizen's later contacts are in quarantine
        assert {c: len(ids) for c, ids in invitations.items()} == {
            c.data["contactId"]: 1 for c in wanted
        }
    finally:
        harness.close()
