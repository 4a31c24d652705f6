"""The join's contact context and the trigger's `last_invited` reach their changelogs at
the offset commit, not at once (pipeline/runtimes/kafka/table_writes.py, `deferrable_states`
in the worker). Two kills on the real broker:

- after the contacts were committed: the restarted worker rebuilds its tables from the
  changelogs only, so the contexts and `last_invited` must have gone out before the
  commit. `KLANTSIGNAAL_TEST_WITHOUT_FIX=commit-flush` (no flush before the commit) fails:
  the answers find no context and wait for good, the contacts again get a second
  invitation within the quarantine.
- between a contact and its answer, before the answer's signal was sent and before any
  commit: the contexts are on no changelog yet (the deferral at work) and the contacts are
  not committed; after the restart each answer has exactly one signal, whether it is
  replayed before its contact (it waits in `pending`) or after it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.runtimes.kafka.topics import changelog_topic
from tests.pipeline.runtimes.kafka.test_kafka_runtime import T0, contact, new_klant
from tests.support.events import VERY_NEGATIVE, response_event
from tests.support.kafka_harness import KafkaHarness, start_until_crash, unique_prefix

pytestmark = pytest.mark.kafka

PAIRS = 6


def _answers(invitations: list[dict[str, Any]]) -> list[Any]:
    """An answer to each invitation (its `data`)."""
    return [response_event(inv, **VERY_NEGATIVE) for inv in invitations]


def _changelog_records(harness: KafkaHarness, state: str) -> int:
    """How many records the state's changelog holds (every partition, from the start)."""
    topic = changelog_topic(harness.settings, state)
    reader = KafkaConsumer(bootstrap_servers=harness.settings.kafka_bootstrap, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()]
        reader.assign(tps)
        ends = reader.end_offsets(tps)
        return sum(ends.values()) - sum(reader.beginning_offsets(tps).values())
    finally:
        reader.close()


def _signals_per_answer(harness: KafkaHarness, answers: list[Any]) -> dict[str, set[str]]:
    signals = harness.records("scored-signals", min_count=len(answers), timeout=90)
    ids: dict[str, set[str]] = {a.data["responseId"]: set() for a in answers}
    for s in signals:
        ids.setdefault(s["data"]["responseId"], set()).add(s["id"])
    return ids


def test_deferred_context_and_quarantine_survive_a_kill_after_the_commit(
    kafka_broker: Any, tmp_path: Path
) -> None:
    harness = KafkaHarness(kafka_broker.bootstrap, unique_prefix("defer"), tmp_path)
    try:
        klanten = [new_klant() for _ in range(PAIRS)]
        harness.start_worker()
        harness.publish("contact-events", [contact(k) for k in klanten])
        invitations = harness.records("survey-invitations", min_count=PAIRS, timeout=60)
        harness.wait_idle()  # processed and committed: no replay after the kill
        harness.kill_worker()
        harness.start_worker()  # tables from the changelogs only
        answers = _answers([i["data"] for i in invitations])
        harness.publish("survey-responses", answers)
        later = [contact(k, at=T0 + timedelta(hours=1)) for k in klanten]  # in quarantine
        harness.publish("contact-events", later)
        harness.wait_idle(timeout=60)
        _assert_one_signal_and_one_invitation_each(harness, answers, klanten)
    finally:
        harness.close()


def _assert_one_signal_and_one_invitation_each(
    harness: KafkaHarness, answers: list[Any], klanten: list[str]
) -> None:
    ids = _signals_per_answer(harness, answers)
    assert all(len(v) == 1 for v in ids.values()), ids
    invited = harness.records("survey-invitations", min_count=PAIRS, timeout=10)
    per_klant = {k: {i["id"] for i in invited if i["data"]["klant"] == k} for k in klanten}
    assert all(len(v) == 1 for v in per_klant.values()), per_klant


def test_a_kill_between_a_contact_and_its_answer_loses_no_signal(
    kafka_broker: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "crashed"
    harness = KafkaHarness(
        kafka_broker.bootstrap,
        unique_prefix("defer2"),
        tmp_path,
        env={"KLANTSIGNAAL_TEST_CRASH_MARKER": str(marker)},
    )
    try:
        klanten = [new_klant() for _ in range(PAIRS)]
        invitations = [
            {"invitationId": f"i-{n}", "contactId": f"c-{n}-{k[-6:]}", "klant": k}
            for n, k in enumerate(klanten)
        ]
        answers = _answers(invitations)
        start_until_crash(harness, marker)
        # Contacts, then at once their answers: the worker takes the contacts (contexts
        # in memory only), then an answer joins one and the worker dies before its signal.
        harness.publish(
            "contact-events", [contact(i["klant"], i["contactId"]) for i in invitations]
        )
        harness.publish("survey-responses", answers)
        deadline = time.monotonic() + 60
        while harness._proc is not None and harness._proc.poll() is None:
            assert time.monotonic() < deadline, "the injected crash did not happen"
            time.sleep(0.05)
        assert marker.exists()
        harness.kill_worker()  # reap it
        contexts = _changelog_records(harness, "contacts")
        lag = harness.committed_lag()
        contacts_pending = sum(v for k, v in lag.items() if "contact-events" in k)
        # Deferred: no context on the changelog, and so no contact committed. (A commit
        # between the contacts and the answer would have flushed them all first.)
        print(f"\ncontexts on the changelog at the crash: {contexts}; contacts lag {lag}")
        if contexts < PAIRS:
            assert contacts_pending >= PAIRS - contexts, (contexts, lag)
        harness.start_worker()  # replays the contacts and the answers, in either order
        harness.wait_idle(timeout=60)
        _assert_one_signal_and_one_invitation_each(harness, answers, klanten)
    finally:
        harness.close()
