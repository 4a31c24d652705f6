"""How many PostgreSQL connections a live worker holds to its key store (docs/kafka.md,
"Workers and scaling": what an operator sizes max_connections by).

The worker's one key store (pipeline/runtimes/kafka/keystore.py) has one SQLAlchemy pool
(pool_size 5, max_overflow 10: 15 at most, checked out or idle). Each agent whose records
are sealed reads keys off the event loop on two threads of its own (key_reads.py), each
holding a connection from that pool for good: one for prefetches, one for the records' own
lookups. Key creation and reads by klant (the stages' state, on the loop) take a pooled
connection for the call and give it back; the pool keeps it open, idle.

The worker here gets its key store URL with an application_name; its connections are
counted in pg_stat_activity by that name and, independently, by client port: the sockets
the worker process has open to the server (/proc/<pid>/fd and /proc/net/tcp).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from pipeline.runtimes.kafka.agent_plan import plan_agents
from pipeline.sentiment import lexicon_scorer
from pipeline.topology import build_topology
from tests.pipeline.runtimes.kafka.test_kafka_offsets import wait_all
from tests.pipeline.runtimes.kafka.test_kafka_runtime import contact, new_klant, response
from tests.support.kafka_harness import KafkaHarness, unique_prefix

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

APP_NAME = "klantsignaal-worker-under-test"
POOL_LIMIT = 15  # SQLAlchemy's QueuePool: pool_size 5 + max_overflow 10


def with_app_name(url: str) -> str:
    return (
        make_url(url)
        .update_query_dict({"application_name": APP_NAME})
        .render_as_string(hide_password=False)
    )


def socket_ports(pid: int, server_port: int) -> set[int]:
    """Local ports of the process's TCP connections to 127.0.0.1:`server_port`."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if inode in inodes and int(remote.split(":")[1], 16) == server_port and state == "01":
            ports.add(int(local.split(":")[1], 16))  # 01: ESTABLISHED
    return ports


class Sampler:
    """pg_stat_activity every 20 ms: the most connections the worker had at once."""

    def __init__(self, engine: Any) -> None:
        self._admin = engine.connect()  # its own: a connection is not shared by threads
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.most = max(self.most, _count(self._admin))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(10)
        self._admin.close()
        return self.most


def test_a_worker_s_key_store_connections(
    kafka_broker: Any, postgres_url: str, tmp_path: Path
) -> None:
    harness = KafkaHarness(
        kafka_broker.bootstrap,
        unique_prefix("conns"),
        tmp_path,
        keystore_url=postgres_url,  # the test's own reads: no application_name
        env={"KLANTSIGNAAL_KEYSTORE_URL": with_app_name(postgres_url)},
    )
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    admin = engine.connect()
    sampler = None
    try:
        # Every kind of key-store read a worker makes: a backlog of new citizens' contacts
        # and answers waiting at the start (runs: a prefetch of their routes, on the
        # prefetch thread), then a lone new citizen's contact (its record's own lookup, on
        # the lookup thread).
        klanten = [new_klant() for _ in range(20)]
        run = [contact(k, f"c-run-{i}") for i, k in enumerate(klanten)]
        answers = [
            response(k, c.data["contactId"], f"i-{i}", "Prima geholpen.")
            for i, (k, c) in enumerate(zip(klanten, run, strict=True))
        ]
        harness.publish("contact-events", run)
        harness.publish("survey-responses", answers)
        sampler = Sampler(engine)
        harness.start_worker()
        wait_all(harness, "survey-invitations", "contactId", _ids(run), 90)
        wait_all(harness, "scored-signals", "responseId", _ids(answers, "responseId"), 90)
        lone = [contact(new_klant(), "c-lone")]
        harness.publish("contact-events", lone)
        wait_all(harness, "survey-invitations", "contactId", {"c-lone"}, 60)
        harness.wait_idle(timeout=60)
        most = sampler.stop()
        sampler = None

        now = _count(admin)
        proc = harness._proc
        assert proc is not None
        server_port = make_url(postgres_url).port
        assert server_port is not None
        ports = socket_ports(proc.pid, server_port)
        named = set(
            admin.execute(
                text("SELECT client_port FROM pg_stat_activity WHERE application_name = :n"),
                {"n": APP_NAME},
            ).scalars()
        )
        assert ports == named, (ports, named)  # the worker's own, every one of them
        # The default topology has one agent whose records are sealed (the monitoring
        # agent's observations are keyed by cell, not by klant): its two key-read threads
        # hold one connection each, the one the store opened at its start among them.
        # Key creation and reads by klant on the loop took none here (every key was cached
        # by the record's own read); when they do, one more (a read thread's fallback after
        # a failed read drops the thread's own first): at most 2 + 1 = 3 at a time.
        print(f"{len(plan_agents(_topology(harness)))} agents; connections {now}, at most {most}")
        assert now == 2, _activity(admin)
        assert most <= 3 <= POOL_LIMIT, most
    finally:
        if sampler is not None:
            sampler.stop()
        harness.close()
        admin.close()
        engine.dispose()


def _count(admin: Any) -> int:
    return int(
        admin.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
            {"n": APP_NAME},
        ).scalar_one()
    )


def _activity(admin: Any) -> list[Any]:
    return list(
        admin.execute(
            text(
                "SELECT client_port, state, left(query, 60) FROM pg_stat_activity "
                "WHERE application_name = :n"
            ),
            {"n": APP_NAME},
        ).all()
    )


def _topology(harness: KafkaHarness) -> Any:
    return build_topology(harness.settings, lexicon_scorer())


def _ids(events: list[Any], field: str = "contactId") -> set[str]:
    return {e.data[field] for e in events}
