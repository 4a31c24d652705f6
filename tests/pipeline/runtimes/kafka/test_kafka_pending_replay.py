"""An answer that arrived before its contact, and a worker crash in the worst moment: the
contact took the answer out of `pending` (that change reached the changelog) and the worker
died before the signal and its alert were sent and before the contact's offset was
committed. The restarted worker replays the contact and must still give the signal and the
alert (docs/kafka.md, Known gaps, now closed by the join keeping what a contact took).

    KLANTSIGNAAL_TEST_WITHOUT_FIX=pending-taken .venv/bin/python -m pytest -p no:rerunfailures \\
        tests/pipeline/runtimes/kafka/test_kafka_pending_replay.py

fails: the replayed contact finds nothing waiting, no signal, no alert.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.events import VERY_NEGATIVE, contact_event, klant, response_event
from tests.support.kafka_harness import KafkaHarness, unique_prefix

pytestmark = pytest.mark.kafka


def test_a_contact_replayed_after_taking_its_early_answer_still_signals_and_alerts(
    kafka_broker: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "crashed"
    harness = KafkaHarness(
        kafka_broker.bootstrap,
        unique_prefix("pend"),
        tmp_path,
        env={"KLANTSIGNAAL_TEST_CRASH_MARKER": str(marker)},
    )
    try:
        harness.start_worker()
        contact = contact_event(klant=klant(4711))
        answer = response_event(
            {
                "invitationId": "i-early",
                "contactId": contact.data["contactId"],
                "klant": contact.data["klant"],
            },
            **VERY_NEGATIVE,
        )
        harness.publish("survey-responses", [answer])  # before its contact: parked
        harness.wait_idle()
        harness.publish("contact-events", [contact])  # takes it; crash before the signal
        deadline = time.monotonic() + 60
        while harness._proc is not None and harness._proc.poll() is None:
            assert time.monotonic() < deadline, "the injected crash did not happen"
            time.sleep(0.1)
        assert marker.exists()
        harness.kill_worker()  # reap it
        harness.start_worker()  # same offsets: the contact is replayed
        signals = harness.records("scored-signals", min_count=1, timeout=60)
        assert [s["data"]["responseId"] for s in signals] == [answer.data["responseId"]]
        alerts = harness.records("alerts", min_count=1, timeout=60)
        assert [a["data"]["signalId"] for a in alerts] == [signals[0]["data"]["signalId"]]
        harness.wait_committed(timeout=10.0)
    finally:
        harness.close()
