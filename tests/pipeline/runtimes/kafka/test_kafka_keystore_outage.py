"""The key store's database goes away while the worker is mid-stream, and comes back.

The worker opens every record of a citizen it has not seen recently with that citizen's
key, and seals every output with it; with the database away those lookups fail. They are
retried in place (pipeline/runtimes/kafka/in_place.py): nothing is skipped or
dead-lettered, and every contact has one invitation and every answer one signal. Before,
the error escaped the agent and faust acked the record anyway (docs/kafka.md).
A real outage: the key store is a PostgreSQL server of this test's own, shut down
(fast shutdown, as `pg_ctl stop -m fast`) and started again on the same data directory.
"""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.topology import DEAD_LETTER
from schemas.cloudevents import CloudEvent
from tests.infra.postgres_server import PostgresServer
from tests.pipeline.runtimes.kafka.test_kafka_offsets import publish_each, wait_all
from tests.pipeline.runtimes.kafka.test_kafka_runtime import contact, response
from tests.support.kafka_harness import KafkaHarness, unique_prefix
from tests.support.own_server import own_server

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CONTACTS = 1500


class RestartablePostgres(PostgresServer):
    """The test PostgreSQL, stopped and started again on its data directory and port."""

    def halt(self) -> None:
        assert self._proc is not None
        self._args = self._proc.args
        self._proc.send_signal(signal.SIGINT)  # fast shutdown: every connection is cut
        self._proc.wait(timeout=30)

    def resume(self) -> None:
        self._proc = subprocess.Popen(
            self._args,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            **self._as_user(),
        )
        self._wait_ready(time.monotonic())


@pytest.fixture
def key_store() -> Iterator[RestartablePostgres]:
    with own_server(RestartablePostgres(), "PostgreSQL") as server:
        yield server


def sealed_flows(n: int) -> tuple[list[CloudEvent], list[CloudEvent]]:
    """n contacts and an answer to each, of citizens with a pseudonym the sealer seals
    (k- and 32 hex digits): every record needs its citizen's key from the key store."""
    contacts, responses = [], []
    for i in range(n):
        klant = "k-" + uuid.uuid4().hex
        c = contact(klant, f"c-{i}-{klant[-8:]}")
        contacts.append(c)
        responses.append(response(klant, c.data["contactId"], f"i-{i}", "Het ging prima."))
    return contacts, responses


def _written(harness: KafkaHarness, topic: str) -> int:
    """Records on a topic so far (its end offsets; nothing to open, no key store)."""
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    settings = harness.settings
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        tps = [TopicPartition(settings.topic(topic), p) for p in range(settings.kafka_partitions)]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


def _records(harness: KafkaHarness, topic: str) -> list[dict[str, Any]]:
    return harness.records(topic, min_count=0, timeout=0)


def test_a_key_store_outage_mid_stream_skips_nothing(
    kafka_broker: Any, key_store: RestartablePostgres, tmp_path: Path
) -> None:
    harness = KafkaHarness(
        kafka_broker.bootstrap,
        unique_prefix("keys"),
        tmp_path,
        keystore_url=key_store.url,
        env={"KLANTSIGNAAL_KAFKA_OUTAGE_SECONDS": "120"},
    )
    try:
        contacts, responses = sealed_flows(CONTACTS)
        publish_each(harness, "contact-events", contacts, 100)
        publish_each(harness, "survey-responses", responses, 100)
        harness.start_worker()  # a backlog: the worker is busy for seconds
        deadline = time.monotonic() + 60
        while _written(harness, "survey-invitations") < 100:
            assert time.monotonic() < deadline, harness.worker_log_tail()
            time.sleep(0.02)
        key_store.halt()
        assert _written(harness, "survey-invitations") < CONTACTS, "the outage came too late"
        time.sleep(4)
        key_store.resume()
        harness.sealer.keys.engine.dispose()  # type: ignore[union-attr]  # the test's reader
        wait_all(
            harness, "survey-invitations", "contactId", {c.data["contactId"] for c in contacts}, 240
        )
        wanted = {r.data["responseId"] for r in responses}
        wait_all(harness, "scored-signals", "responseId", wanted, 240)
        harness.wait_idle(timeout=60)
        harness.assert_worker_alive()
        signals: dict[str, set[str]] = defaultdict(set)
        for s in _records(harness, "scored-signals"):
            signals[s["data"]["responseId"]].add(s["id"])  # a replayed copy has the same id
        assert {r: len(ids) for r, ids in signals.items() if len(ids) != 1} == {}
        assert _records(harness, DEAD_LETTER) == []
        log = harness.worker_log_path.read_text("utf-8", "replace")
        assert "retrying in place" in log and "works again" in log, harness.worker_log_tail()
        # Without the retry the agents crashed on the error and faust restarted them
        # (what they had in hand was then only saved by the seek-back of offsets.py).
        assert "Crashed reason" not in log, harness.worker_log_tail()
    finally:
        harness.close()


def test_an_outage_longer_than_the_limit_stops_the_process(
    key_store: RestartablePostgres,
) -> None:
    """Past KLANTSIGNAAL_KAFKA_OUTAGE_SECONDS the worker's key store gives up the way the
    worker does: it logs why and exits at once with 75 (no shutdown that could ack the
    record in hand), instead of returning an error that would skip the record."""
    import sys

    from tests.support.paths import REPO_ROOT

    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from pipeline.runtimes.kafka.in_place import Outage\n"
        "from pipeline.runtimes.kafka.keystore import SqlKeyStore\n"
        f"store = SqlKeyStore({key_store.url!r}, outage=Outage(limit_seconds=1.0))\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "store.for_route('r-' + '0' * 32)\n"
        "print('returned', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        key_store.halt()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 75, err
    assert "returned" not in out
    assert "retrying in place" in err and "the worker stops (exit 75)" in err, err
