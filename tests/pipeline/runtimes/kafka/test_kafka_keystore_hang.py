"""A live worker whose key store stops answering (pipeline/runtimes/kafka/keystore_bounds.py).

The worker reaches its PostgreSQL key store through a proxy that the test black-holes:
connections stay open and accepted, and nothing is answered (a network dropping packets,
a stuck server). Before, the worker's key lookups waited for good and so did the worker,
with the record in hand: alive to the group, processing nothing. Now a call that waits
longer than the bound fails as an outage: retried in place, and the worker recovers when
the store answers again; past KLANTSIGNAAL_KAFKA_OUTAGE_SECONDS it stops (exit 75) before
the record is acked. After a restart with the store back every contact has exactly one
invitation. `KLANTSIGNAAL_TEST_WITHOUT_FIX=keystore-hang` runs the worker without the
bounds (tests/support/kafka_worker_without_fix.py): it hangs and the test fails.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.runtimes.kafka.test_kafka_offsets import wait_all
from tests.pipeline.runtimes.kafka.test_kafka_runtime import contact, new_klant
from tests.support.kafka_harness import unique_prefix
from tests.support.kafka_worker_loop_probe import read_gaps
from tests.support.keystore_proxy import (
    proxied_worker_harness,
    start_warmed_up,
    wait_for,
    worker_log,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

# Short bounds and a short outage limit, so the test is quick (defaults: 10 s, 300 s).
WORKER_ENV = {
    "KLANTSIGNAAL_KEYSTORE_CALL_TIMEOUT_SECONDS": "1",
    "KLANTSIGNAAL_KEYSTORE_CONNECT_TIMEOUT_SECONDS": "2",
    "KLANTSIGNAAL_KEYSTORE_STATEMENT_TIMEOUT_MS": "2000",
    "KLANTSIGNAAL_KAFKA_OUTAGE_SECONDS": "5",
}


def test_a_key_store_that_does_not_answer_is_an_outage_not_a_hang(
    kafka_broker: Any, postgres_url: str, tmp_path: Path
) -> None:
    harness, proxy = proxied_worker_harness(
        kafka_broker.bootstrap,
        unique_prefix("hang"),
        tmp_path,
        postgres_url,
        env=WORKER_ENV,
        instance_id="hang-worker",  # static membership: the restart takes over at once
    )
    try:
        warm = [contact(new_klant(), f"c-warm-{i}") for i in range(3)]
        start_warmed_up(harness, warm)  # the worker's connections are open now

        # 1. Silent for a few seconds, then back: retried in place, nothing skipped.
        proxy.black_hole()
        healed = [contact(new_klant(), f"c-healed-{i}") for i in range(3)]
        harness.publish("contact-events", healed)  # new citizens: their keys are needed
        wait_for("no retry began", lambda: "retrying in place" in worker_log(harness), harness, 30)
        time.sleep(1.0)
        proxy.heal()
        wait_all(harness, "survey-invitations", "contactId", _ids(warm + healed), 60)
        assert "works again" in worker_log(harness), harness.worker_log_tail()
        harness.assert_worker_alive()

        # 2. Silent for longer than the outage limit: the worker stops before the ack.
        proxy.black_hole()
        stuck = [contact(new_klant(), f"c-stuck-{i}") for i in range(3)]
        harness.publish("contact-events", stuck)
        log = harness.assert_worker_stopped_before(
            "contact-events", "the key store stopped answering", timeout=45
        )
        assert "still failing" in log and "connection is cut" in log, harness.worker_log_tail()
        proxy.heal()
        harness.kill_worker()  # reap it
        harness.start_worker()
        everything = warm + healed + stuck
        wait_all(harness, "survey-invitations", "contactId", _ids(everything), 60)
        harness.wait_idle(timeout=60)
        invitations: dict[str, set[str]] = defaultdict(set)
        for record in harness.records("survey-invitations", min_count=len(everything)):
            invitations[record["data"]["contactId"]].add(record["id"])  # a replay: same id
        assert {c: len(ids) for c, ids in invitations.items()} == dict.fromkeys(_ids(everything), 1)
    finally:
        harness.close()
        proxy.heal()
        proxy.cut()


def test_a_record_waiting_for_its_key_does_not_hold_the_worker_s_event_loop(
    kafka_broker: Any, postgres_url: str, tmp_path: Path
) -> None:
    """New citizens' contacts (their keys in no cache; the run's prefetch comes late) while
    the key store is silent: each waits for its key, retried in place, and gets its
    invitation once the store answers; the worker's event loop (the other agents, the
    commits, the delivery callbacks) went on meanwhile. Before, the records' lookups ran
    on the loop, and it stood still from the first lookup until the store answered."""
    probe = tmp_path / "loop-gaps.txt"
    harness, proxy = proxied_worker_harness(
        kafka_broker.bootstrap,
        unique_prefix("hangloop"),
        tmp_path,
        postgres_url,
        env={
            **WORKER_ENV,
            "KLANTSIGNAAL_KAFKA_OUTAGE_SECONDS": "60",  # no stop in this one
            "KLANTSIGNAAL_TEST_LOOP_PROBE": str(probe),  # tests/support/kafka_worker_loop_probe.py
        },
    )
    try:
        warm = [contact(new_klant(), f"c-warm-{i}") for i in range(3)]
        start_warmed_up(harness, warm)  # the worker's connections are open now

        proxy.black_hole()
        began = time.monotonic()
        waiting = [contact(new_klant(), f"c-waiting-{i}") for i in range(3)]
        harness.publish("contact-events", waiting)
        wait_for("no retry began", lambda: "retrying in place" in worker_log(harness), harness, 30)
        time.sleep(2.0)  # the store silent on: a lookup on the loop would hold it all along
        healed = time.monotonic()
        proxy.heal()
        wait_all(harness, "survey-invitations", "contactId", _ids(warm + waiting), 60)
        harness.assert_worker_alive()
        assert healed - began > 3.0  # the store was silent that long
        # The probe's waits that overlap the silence (each line: wake time, wait).
        held = [wait for woke, wait in read_gaps(probe) if woke > began and woke - wait < healed]
        assert held, "the loop probe wrote nothing while the store was silent"
        assert max(held) < 1.0, f"event loop held {max(held):.2f} s: {sorted(held)[-5:]}"
        assert "works again" in worker_log(harness), harness.worker_log_tail()
    finally:
        harness.close()
        proxy.heal()
        proxy.cut()


def _ids(contacts: list[Any]) -> set[str]:
    return {c.data["contactId"] for c in contacts}
