"""A live worker told to stop (SIGTERM) while a record waits for its key.

The worker reaches its PostgreSQL key store through a proxy the test black-holes (as in
test_kafka_keystore_hang.py): new citizens' contacts and answers wait for their keys,
retried in place on the agent's lookup thread (key_reads.py). Then SIGTERM. faust's
shutdown waits for the record in hand to be acked before it commits and leaves the group,
so the worker used to stay up, retrying, until the store answered or the outage limit
passed (here 120 s; 300 s by default: far past an orchestrator's grace period). Now a stop
that begins during an in-place retry stops the worker at once, exit 75, the record not
acked (in_place.py `Outage.worker_stops`); the restarted worker processes every record
once: nothing of them got out before the stop, and after it one invitation per contact
and one signal per answer (by event id). `KLANTSIGNAAL_TEST_WITHOUT_FIX=sigterm-wait`
runs the worker without that (tests/support/kafka_worker_without_fix.py): it does not
exit and the test fails.
"""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from pipeline.topology import DEAD_LETTER
from tests.pipeline.runtimes.kafka.test_kafka_offsets import wait_all
from tests.pipeline.runtimes.kafka.test_kafka_runtime import contact, new_klant, response
from tests.support.kafka_harness import unique_prefix
from tests.support.keystore_proxy import (
    proxied_worker_harness,
    start_warmed_up,
    wait_for,
    worker_log,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

WORKER_ENV = {
    "KLANTSIGNAAL_KEYSTORE_CALL_TIMEOUT_SECONDS": "1",
    "KLANTSIGNAAL_KEYSTORE_CONNECT_TIMEOUT_SECONDS": "2",
    "KLANTSIGNAAL_KEYSTORE_STATEMENT_TIMEOUT_MS": "2000",
    # Far above the test's bound for the stop: only the SIGTERM can end the wait in time.
    "KLANTSIGNAAL_KAFKA_OUTAGE_SECONDS": "120",
}
STOP_BOUND = 30.0  # seconds from SIGTERM to exit: "does not hang", not a timing claim


def test_a_sigterm_during_a_key_wait_stops_the_worker_unacked(
    kafka_broker: Any, postgres_url: str, tmp_path: Path
) -> None:
    harness, proxy = proxied_worker_harness(
        kafka_broker.bootstrap,
        unique_prefix("sigterm"),
        tmp_path,
        postgres_url,
        env=WORKER_ENV,
        instance_id="sigterm-worker",  # static membership: the restart takes over at once
    )
    try:
        warm = [contact(new_klant(), f"c-warm-{i}") for i in range(2)]
        start_warmed_up(harness, warm)  # the worker's connections are open now
        harness.wait_idle(timeout=60)  # committed: nothing of these is replayed

        proxy.black_hole()
        klanten = [new_klant() for _ in range(3)]
        waiting = [contact(k, f"c-waiting-{i}") for i, k in enumerate(klanten)]
        answers = [
            response(k, c.data["contactId"], f"i-{i}", "Niemand belde terug.")
            for i, (k, c) in enumerate(zip(klanten, waiting, strict=True))
        ]
        harness.publish("contact-events", waiting)  # new citizens: keys in no cache
        harness.publish("survey-responses", answers)
        wait_for("no retry began", lambda: "retrying in place" in worker_log(harness), harness, 30)
        proc = harness._proc
        assert proc is not None
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        log = harness.assert_worker_stopped_before(
            "contact-events", "a SIGTERM during a key wait", timeout=STOP_BOUND
        )
        stopped_after = time.monotonic() - began
        assert "while the worker stops" in log, harness.worker_log_tail()
        assert "wait_empty" not in log, harness.worker_log_tail()  # faust's wait never began

        # Nothing of the waiting records got out before the stop.
        contact_ids = {c.data["contactId"] for c in warm + waiting}
        answer_ids = {a.data["responseId"] for a in answers}
        assert _ids(harness, "survey-invitations", "contactId") == _ids_of(warm, "contactId")
        assert _ids(harness, "scored-signals", "responseId") == set()

        proxy.heal()
        harness.kill_worker()  # reap it
        harness.start_worker()
        wait_all(harness, "survey-invitations", "contactId", contact_ids, 90)
        wait_all(harness, "scored-signals", "responseId", answer_ids, 90)
        harness.wait_idle(timeout=60)
        # One invitation per contact, one signal per answer. By event id: in 3 of 6 runs
        # the topic held a second copy (same id) of one to three invitations. Pinned down
        # in 24 logged runs: faust's recovery resumes the stream partitions and then awaits
        # its seek to the committed offsets (a broker round trip per partition, 15-35 ms);
        # records fetched meanwhile are processed, then fetched and processed again after
        # the seek (faust/tables/recovery.py, on_recovery_completed). At-least-once, as
        # docs/kafka.md "Guarantees" allows; consumers dedupe on id. Where the committed
        # offset is 0 faust does not seek at all, and what its queue clear dropped is only
        # fetched again by the worker's seek back: test_kafka_offset_bookkeeping.py.
        assert _per_id(harness, "survey-invitations", "contactId") == dict.fromkeys(contact_ids, 1)
        assert _per_id(harness, "scored-signals", "responseId") == dict.fromkeys(answer_ids, 1)
        assert harness.records(DEAD_LETTER, min_count=0, timeout=0) == []
        print(f"stopped {stopped_after:.1f} s after the SIGTERM")
    finally:
        harness.close()
        proxy.heal()
        proxy.cut()


def _ids(harness: Any, topic: str, field: str) -> set[str]:
    return {r["data"][field] for r in harness.records(topic, min_count=0, timeout=5)}


def _ids_of(events: list[Any], field: str) -> set[str]:
    return {e.data[field] for e in events}


def _per_id(harness: Any, topic: str, field: str) -> dict[str, int]:
    """How many distinct event ids each record's `field` has on the topic."""
    ids: dict[str, set[str]] = defaultdict(set)
    for record in harness.records(topic, min_count=0, timeout=5):
        ids[record["data"][field]].add(record["id"])
    return {value: len(found) for value, found in ids.items()}
