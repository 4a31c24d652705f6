"""A stage output the producer took but the broker refused (a delivery that fails after the
send returned, not a send that raised): the record it came from was acked already, so the
worker must stop (exit 75, pipeline/runtimes/kafka/in_place.py) before a commit passes it;
the restarted worker then gives the output. Before, the failure was only logged and the
next commit moved past the answer: a signal (and its alert) lost without a trace.

The broker refuses the signal here because the topic's `max.message.bytes` is set below
its size for a moment (a non-retriable error, as an ACL or a deleted topic would give, or
any delivery that outlives the producer's request timeout during a long broker outage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from pipeline.settings import Settings
from tests.pipeline.runtimes.kafka.test_kafka_runtime import contact, new_klant, response
from tests.support.kafka_harness import KafkaHarness, unique_prefix

pytestmark = pytest.mark.kafka

BROKER_DEFAULT_MAX_MESSAGE_BYTES = "1048588"


def _max_message_bytes(settings: Settings, topic: str, value: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        resource = ConfigResource(
            ConfigResourceType.TOPIC, settings.topic(topic), configs={"max.message.bytes": value}
        )
        admin.alter_configs([resource])
    finally:
        admin.close()


def test_an_output_the_broker_refuses_stops_the_worker_before_its_record_is_committed(
    kafka_broker: Any, tmp_path: Path
) -> None:
    harness = KafkaHarness(kafka_broker.bootstrap, unique_prefix("refused"), tmp_path)
    try:
        klant = new_klant()
        harness.start_worker()
        harness.publish("contact-events", [contact(klant, "c-refused")])
        harness.wait_idle()
        _max_message_bytes(harness.settings, "scored-signals", "100")  # below any signal
        answer = response(klant, "c-refused", "i-refused", "Niemand belt terug, echt slecht.")
        harness.publish("survey-responses", [answer])
        harness.assert_worker_stopped_before("survey-responses", "its signal was refused")
        # The broker takes signals again: the answer is processed again, nothing lost.
        _max_message_bytes(harness.settings, "scored-signals", BROKER_DEFAULT_MAX_MESSAGE_BYTES)
        harness.kill_worker()  # reap it
        harness.start_worker()
        signals = harness.records("scored-signals", min_count=1, timeout=60)
        assert [s["data"]["responseId"] for s in signals] == [answer.data["responseId"]]
        harness.wait_idle()
    finally:
        harness.close()
