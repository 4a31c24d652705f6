"""Nothing leaves a worker's agent without its outputs sent or the process stopping
(pipeline/runtimes/kafka/record_guard.py). faust acks the record in hand in its stream's
`finally` when an error escapes the agent, and the next commit passes it: skipped.

Poison records written straight to the input topic (a channel system's own producer, a
bug elsewhere): each is dead-lettered with a reason that names no value, and the
citizen's next record is processed; the worker stays up. Before, each escaped the agent:
- a lone surrogate escape (`"\\ud800"`, valid JSON grammar, no UTF-8 text) in a field the
  schema accepts (`team`): the invitation could not be written as a record;
- the same in `kanaal`: the schema validator raised, and then the dead letter could not be
  written either;
- a sealed record whose content is no sealed envelope, and one whose key is no route.
And an infrastructure error (the key store's table gone: not an outage the key store
retries) stops the worker with exit 75 before the record is committed; the restarted
worker processes it once the table is back. Before, faust acked it: skipped. Inside a
stage's state access the sealer raises it as StateUnavailable, which process_record raises
on instead of dead-lettering (unit test at the end).

`KLANTSIGNAAL_TEST_WITHOUT_FIX=agent-guard` runs the worker without these fixes
(tests/support/kafka_worker_without_fix.py): both tests fail.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from pipeline.processing import process_record
from pipeline.runtimes.kafka.keystore import SqlKeyStore
from pipeline.runtimes.kafka.worker import TableState, _process
from pipeline.sealing import SEAL_HEADER, SEAL_VERSION, Sealer, _encrypt
from pipeline.stages.base import StateUnavailable
from pipeline.stages.trigger import TriggerStage
from pipeline.topology import DEAD_LETTER
from schemas.cloudevents import CloudEvent
from tests.pipeline.runtimes.kafka.test_kafka_offsets import wait_all
from tests.pipeline.runtimes.kafka.test_kafka_runtime import contact, new_klant
from tests.support.kafka_harness import KafkaHarness, unique_prefix

pytestmark = pytest.mark.kafka

SURROGATE = b"\\ud800"  # as it stands in the JSON text: backslash, u, d800


def _with_surrogate(event: CloudEvent, field: str) -> tuple[bytes | None, list[Any], bytes]:
    key, headers, value = event.to_binary()
    data = json.loads(value)
    data[field] = "X"
    return key, headers, json.dumps(data).encode().replace(b'"X"', b'"ab' + SURROGATE + b'"')


def _sealed_header(harness: KafkaHarness) -> tuple[str, bytes]:
    assert harness.sealer is not None
    return SEAL_HEADER, SEAL_VERSION + b":" + harness.sealer.keys.store_id.encode()


def _no_envelope(harness: KafkaHarness, klant: str) -> tuple[bytes, list[Any], bytes]:
    """Sealed with the klant's own key, so it decrypts; what it holds is no sealed record."""
    assert harness.sealer is not None
    found = harness.sealer.keys.for_klant(klant, create=True)
    assert found is not None
    plain = json.dumps({"k": 5, "h": [], "v": ""}).encode()
    headers = [_sealed_header(harness), ("ce_specversion", b"1.0")]
    return found.route.encode(), headers, _encrypt(found, plain)


def test_poison_records_are_dead_lettered_and_the_stream_goes_on(
    kafka_broker: Any, tmp_path: Path
) -> None:
    harness = KafkaHarness(kafka_broker.bootstrap, unique_prefix("guard"), tmp_path)
    try:
        harness.start_worker()
        klants = [new_klant() for _ in range(4)]
        poison = [
            _with_surrogate(contact(klants[0], "c-team"), "team"),
            _with_surrogate(contact(klants[1], "c-kanaal"), "kanaal"),
            _no_envelope(harness, klants[2]),
            (klants[3].encode(), [_sealed_header(harness)], b"KS1" + bytes(40)),  # no route
        ]
        for key, headers, value in poison:
            harness.publish_raw("contact-events", value, key=key, headers=headers)
        good = [contact(klant, f"c-good-{i}") for i, klant in enumerate(klants)]
        harness.publish("contact-events", good)  # after the poison, in the same partitions

        wanted = {c.data["contactId"] for c in good}
        wait_all(harness, "survey-invitations", "contactId", wanted, 60)
        invitations = harness.records("survey-invitations", min_count=len(good), timeout=5)
        by_id = {i["id"]: i["data"]["contactId"] for i in invitations}  # a replay: same id
        assert sorted(by_id.values()) == sorted(c.data["contactId"] for c in good)
        harness.wait_idle(timeout=60)
        harness.assert_worker_alive()
        letters = harness.records(DEAD_LETTER, min_count=0, timeout=5)
        # Every stage reading contact-events dead-letters each poison record once.
        readers = len({d["stage"] for d in letters}) or 1
        assert len(letters) == readers * len(poison), json.dumps(letters, indent=1)
        reasons = sorted({d["reason"] for d in letters})
        assert any("verzegeld record niet te openen" in r for r in reasons), reasons
        assert any("lone surrogate" in r for r in reasons), reasons
        for reason in reasons:
            assert "zqx" not in reason and "\ud800" not in reason, reason  # never a value
        log = harness.worker_log_path.read_text("utf-8", "replace")
        assert "Crashed reason" not in log, harness.worker_log_tail()
    finally:
        harness.close()


@pytest.mark.postgres
def test_a_key_store_error_that_is_no_outage_stops_the_worker_before_the_commit(
    kafka_broker: Any, postgres_url: str, tmp_path: Path
) -> None:
    harness = KafkaHarness(
        kafka_broker.bootstrap, unique_prefix("guardks"), tmp_path, keystore_url=postgres_url
    )
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        harness.start_worker()
        first, second = new_klant(), new_klant()
        harness.publish("contact-events", [contact(first, "c-before")])
        harness.records("survey-invitations", min_count=1, timeout=60)
        harness.wait_idle()
        # Sealed now, while the key store has its table: the worker never saw this klant,
        # so it must look the route up.
        assert harness.sealer is not None
        sealed = harness.sealer.seal(*contact(second, "c-while-away").to_binary())
        with admin.connect() as conn:
            conn.execute(text("ALTER TABLE klant_keys RENAME TO klant_keys_away"))
        harness.publish_raw("contact-events", sealed[2], key=sealed[0], headers=sealed[1])
        log = harness.assert_worker_stopped_before("contact-events", "the key store failed")
        assert "ProgrammingError" in log and "the worker stops (exit 75)" in log
        with admin.connect() as conn:
            conn.execute(text("ALTER TABLE klant_keys_away RENAME TO klant_keys"))
        harness.kill_worker()  # reap it
        harness.start_worker()
        invitations = harness.records("survey-invitations", min_count=2, timeout=60)
        by_id = {i["id"]: i["data"]["contactId"] for i in invitations}  # a replay: same id
        assert sorted(by_id.values()) == ["c-before", "c-while-away"]
        harness.wait_idle()
    finally:
        harness.close()
        admin.dispose()


def test_a_key_store_error_in_a_stage_state_is_raised_not_dead_lettered(tmp_path: Path) -> None:
    """Unit level: the worker's sealed table state over a real key store (SQLite, no
    outage retries) whose table is gone. process_record raises StateUnavailable (the
    agent's guard then stops the worker) instead of dead-lettering the record."""
    store = SqlKeyStore(f"sqlite:///{tmp_path / 'keys.db'}")
    stage = TriggerStage(link_key="k")
    try:
        states = {name: TableState({}, Sealer(store), None) for name in stage.state_names}
        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE klant_keys"))
        record = contact(new_klant(), "c-1")
        with pytest.raises(StateUnavailable) as raised:
            process_record(stage, "contact-events", record, states, "0/1")
        assert isinstance(raised.value.__cause__, OperationalError)
        assert "OperationalError" in str(raised.value) and "c-1" not in str(raised.value)
        # The worker's glue raises it on at once (no retries, no dead letter) for the
        # agent's guard, which stops the worker before the ack.
        with pytest.raises(StateUnavailable):
            asyncio.run(_process(stage, "contact-events", record, states, "0/1", None))
    finally:
        store.close()
