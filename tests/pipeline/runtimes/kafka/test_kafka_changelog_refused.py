"""A table change the broker refused (pipeline/runtimes/kafka/changelog_guard.py): the
record that made it was acked already, so the worker must stop (exit 75) before a commit
passes it. Before, faust only logged the failed delivery (`_on_published error`), the
next commit moved past the contact, and a restarted worker recovered a trigger state
without it: the citizen's next contact within the quarantine got a second invitation.

The broker refuses the change here because the changelog's `max.message.bytes` is set
below its size for a moment (a non-retriable error, as an ACL or a deleted topic would
give). `KLANTSIGNAAL_TEST_WITHOUT_FIX=changelog-refused` runs the worker without the fix
(tests/support/kafka_worker_without_fix.py): the test fails.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from pipeline.runtimes.kafka.topics import changelog_topic
from tests.pipeline.runtimes.kafka.test_kafka_output_refused import (
    BROKER_DEFAULT_MAX_MESSAGE_BYTES,
    _max_message_bytes,
)
from tests.pipeline.runtimes.kafka.test_kafka_runtime import T0, contact, new_klant
from tests.support.kafka_harness import KafkaHarness, unique_prefix

pytestmark = pytest.mark.kafka


def _changelog_bytes(harness: KafkaHarness, value: str) -> None:
    """Set the trigger changelog's max.message.bytes and wait until the broker reports it
    (it applies the change from its metadata log: on a busy machine not at once)."""
    name = changelog_topic(harness.settings, "last_invited")
    prefix = harness.settings.kafka_topic_prefix
    _max_message_bytes(harness.settings, name[len(prefix) :], value)  # it adds the prefix
    admin = KafkaAdminClient(bootstrap_servers=harness.settings.kafka_bootstrap)
    try:
        deadline = time.monotonic() + 30
        while _reported(admin, name) != value:
            assert time.monotonic() < deadline, f"the broker never reported {value} for {name}"
            time.sleep(0.1)
    finally:
        admin.close()


def _reported(admin: KafkaAdminClient, topic: str) -> str | None:
    resource = ConfigResource(ConfigResourceType.TOPIC, topic)
    described = admin.describe_configs([resource])  # {"topic": {name: {key: {"value": …}}}}
    entry = described.get("topic", {}).get(topic, {}).get("max.message.bytes")
    return entry.get("value") if entry else None


def test_a_table_change_the_broker_refuses_stops_the_worker_before_its_record_is_committed(
    kafka_broker: Any, tmp_path: Path
) -> None:
    harness = KafkaHarness(kafka_broker.bootstrap, unique_prefix("chlog"), tmp_path)
    try:
        klant = new_klant()
        harness.start_worker()
        harness.publish("contact-events", [contact(new_klant(), "c-warm")])
        harness.records("survey-invitations", min_count=1, timeout=60)
        harness.wait_idle()
        _changelog_bytes(harness, "100")  # below any trigger state
        harness.publish("contact-events", [contact(klant, "c-first")])
        log = harness.assert_worker_stopped_before("contact-events", "its table change was refused")
        assert "to its changelog still failing" in log, harness.worker_log_tail()
        # The broker takes the change again: the contact is processed again, and the state
        # a restart recovers has it. A second contact an hour later is in quarantine.
        _changelog_bytes(harness, BROKER_DEFAULT_MAX_MESSAGE_BYTES)
        harness.kill_worker()  # reap it
        harness.start_worker()
        harness.wait_idle(timeout=60)
        harness.restart_worker()  # tables rebuilt from the changelogs only
        later = contact(klant, "c-second", at=T0 + timedelta(hours=1))
        harness.publish("contact-events", [later])
        harness.wait_idle(timeout=60)
        invitations = harness.records("survey-invitations", min_count=2, timeout=10)
        mine = {i["id"]: i["data"]["contactId"] for i in invitations if i["data"]["klant"] == klant}
        assert sorted(mine.values()) == ["c-first"], mine
    finally:
        harness.close()
