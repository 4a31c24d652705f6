"""The Kafka runtime under test: a real faust worker process on the session's Kafka broker.

`KafkaHarness` implements the RuntimeHarness interface the behavioural tests use for both
runtimes (publish on a logical topic, read what is on a logical topic), plus Kafka-only
extras: raw publishing, worker restart and the worker's log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from pipeline.runtimes.kafka.agent_plan import consumed_topics
from pipeline.runtimes.kafka.codec import decode, headers_list, open_record, raw_parts
from pipeline.runtimes.kafka.in_place import EXIT_OUTAGE
from pipeline.runtimes.kafka.keystore import sealer_for
from pipeline.runtimes.kafka.publisher import KafkaPublisher
from pipeline.runtimes.kafka.topics import app_id, ensure_topics
from pipeline.runtimes.kafka.worker import READY_MARKER
from pipeline.sealing import ERASED, Sealer
from pipeline.sentiment import lexicon_scorer
from pipeline.settings import Settings
from pipeline.topology import DEAD_LETTER, TOPICS, build_topology
from schemas.cloudevents import CloudEvent
from tests.infra._proc import die_with_parent, tail, terminate
from tests.support.paths import REPO_ROOT

WORKER_START_TIMEOUT = 90.0


class KafkaHarness:
    name = "kafka"

    def __init__(
        self,
        bootstrap: str,
        topic_prefix: str,
        workdir: Path,
        *,
        partitions: int = 2,
        env: dict[str, str] | None = None,
        instance_id: str = "",
        keystore_url: str = "",
    ) -> None:
        self.workdir = workdir
        self.settings = Settings(
            data_dir=workdir / "data",
            runtime="kafka",
            kafka_bootstrap=bootstrap,
            kafka_topic_prefix=topic_prefix,
            kafka_partitions=partitions,
            api_token="test-api-token",
            pseudonym_key="test-pseudonym-key",
            link_key="test-link-key",
            log_level="INFO",
            kafka_instance_id=instance_id,
            keystore_url=keystore_url,  # empty: SQLite keys.db in data_dir
        )
        self.extra_env = dict(env or {})
        self.ready_seconds: list[float] = []  # start-to-ready of each worker start
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._starts = 0
        self._seen: dict[str, list[dict[str, Any]]] = {t: [] for t in TOPICS}
        ensure_topics(self.settings)
        self.sealer = sealer_for(self.settings)  # shares keys.db in data_dir with the worker
        self.publisher = KafkaPublisher(self.settings)
        self._reader = self._make_reader()
        self._raw_producer: KafkaProducer | None = None
        self._checker: KafkaConsumer | None = None
        self._raw_ends: KafkaConsumer | None = None  # read_uncommitted: the log end offsets
        topology = build_topology(self.settings, lexicon_scorer())
        self._inputs = consumed_topics(topology)  # what the workers' group reads

    # -- RuntimeHarness -------------------------------------------------------------------

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        self.publisher.publish(topic, events)

    def records(
        self, topic: str, *, min_count: int = 1, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Everything on the logical topic so far (committed records only), as structured
        CloudEvent dicts (dead-letter: the DeadLetter dict; undecodable: the raw parts)."""
        if topic not in self._seen:
            raise ValueError(f"unknown topic {topic!r}; known: {sorted(self._seen)}")
        deadline = time.monotonic() + timeout
        self._drain_to_end(topic, min(timeout, 10.0))
        while len(self._seen[topic]) < min_count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected at least {min_count} record(s) on {topic} within {timeout:.0f} s, "
                    f"saw {len(self._seen[topic])}: {json.dumps(self._seen[topic], indent=1)}\n"
                    f"--- worker log (tail) ---\n{self.worker_log_tail()}"
                )
            self.assert_worker_alive()
            self._drain(0.2)
        return list(self._seen[topic])

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until the worker has processed and committed every record on the stages'
        input topics: after this, anything the pipeline would emit is visible, so a test
        can assert that something did *not* happen."""
        deadline = time.monotonic() + timeout
        self._wait_markers(min(timeout, 2.0))
        while True:
            pending = self._unprocessed()
            if not pending:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"worker not idle after {timeout:.0f} s; unprocessed records: {pending}\n"
                    f"--- worker log (tail) ---\n{self.worker_log_tail()}"
                )
            self.assert_worker_alive()
            time.sleep(0.2)

    def close(self) -> None:
        self.stop_worker()
        with suppress(Exception):
            self.publisher.close()
        if self._raw_producer is not None:
            with suppress(Exception):
                self._raw_producer.close(timeout=5)
        with suppress(Exception):
            self._reader.close()
        if self._checker is not None:
            with suppress(Exception):
                self._checker.close()
        if self._raw_ends is not None:
            with suppress(Exception):
                self._raw_ends.close()

    # -- Kafka extras ---------------------------------------------------------------------

    def publish_raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Put arbitrary bytes on a logical topic (e.g. a record that is no CloudEvent)."""
        if self._raw_producer is None:
            self._raw_producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap, acks="all"
            )
        self._raw_producer.send(
            self.settings.topic(topic), value=value, key=key, headers=headers or []
        ).get(timeout=30)

    def start_worker(self) -> float:
        """Start `python -m pipeline.runtimes.kafka.worker`; wait until it owns its partitions."""
        assert self._proc is None, "worker already running"
        self._starts += 1
        log_path = self.workdir / f"worker-{self._starts}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KLANTSIGNAAL_")}
        env.update(
            {
                "KLANTSIGNAAL_RUNTIME": "kafka",
                "KLANTSIGNAAL_DATA_DIR": str(self.settings.data_dir),
                "KLANTSIGNAAL_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
                "KLANTSIGNAAL_KAFKA_TOPIC_PREFIX": self.settings.kafka_topic_prefix,
                "KLANTSIGNAAL_KAFKA_PARTITIONS": str(self.settings.kafka_partitions),
                "KLANTSIGNAAL_API_TOKEN": self.settings.api_token,
                "KLANTSIGNAAL_PSEUDONYM_KEY": self.settings.pseudonym_key,
                "KLANTSIGNAAL_LINK_KEY": self.settings.link_key,
                "KLANTSIGNAAL_LOG_LEVEL": self.settings.log_level,
                "KLANTSIGNAAL_KAFKA_INSTANCE_ID": self.settings.kafka_instance_id,
                "KLANTSIGNAAL_KEYSTORE_URL": self.settings.keystore_url,
                "PYTHONUNBUFFERED": "1",
                **self.extra_env,
            }
        )
        began = time.monotonic()
        self._log_file = open(log_path, "wb")  # noqa: SIM115 - lives as long as the worker
        self._proc = subprocess.Popen(
            worker_command(self.extra_env),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - no orphaned workers
        )
        while READY_MARKER not in log_path.read_text(encoding="utf-8", errors="replace"):
            self.assert_worker_alive()
            if time.monotonic() - began > WORKER_START_TIMEOUT:
                raise AssertionError(
                    f"worker not ready after {WORKER_START_TIMEOUT:.0f} s:\n"
                    + self.worker_log_tail()
                )
            time.sleep(0.05)
        seconds = time.monotonic() - began
        self.ready_seconds.append(seconds)
        return seconds

    def stop_worker(self, grace_seconds: float = 20.0) -> None:
        """SIGTERM (faust stops gracefully and commits), then SIGKILL after the grace time."""
        if self._proc is not None:
            terminate(self._proc, grace_seconds=grace_seconds)
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def kill_worker(self) -> None:
        """SIGKILL: no graceful commit, like a crashed machine."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self.stop_worker()

    def restart_worker(self) -> float:
        self.stop_worker()
        return self.start_worker()

    def assert_worker_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            code = self._proc.returncode
            raise AssertionError(f"worker exited with {code}:\n{self.worker_log_tail()}")

    @property
    def worker_log_path(self) -> Path:
        return self.workdir / f"worker-{max(self._starts, 1)}.log"

    def assert_worker_stopped_before(self, topic: str, why: str, timeout: float = 30) -> str:
        """The worker stopped with exit 75 and left a record of `topic` unprocessed (its
        successor processes it). Returns the worker log."""
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        unprocessed = self._unprocessed()
        assert proc.returncode == EXIT_OUTAGE, (
            f"the worker went on (exit {proc.returncode}) after {why}; "
            f"unprocessed input: {unprocessed}\n{self.worker_log_tail()}"
        )
        assert any(topic in tp for tp in unprocessed), unprocessed
        return self.worker_log_path.read_text("utf-8", "replace")

    def worker_log_tail(self, lines: int = 60) -> str:
        return tail(str(self.worker_log_path), lines) if self._starts else "(never started)"

    # -- reading --------------------------------------------------------------------------

    def _make_reader(self) -> KafkaConsumer:
        # No group: assign every partition and read from the beginning, committed only.
        reader = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        tps = [
            TopicPartition(self.settings.topic(t), p)
            for t in TOPICS
            for p in range(self.settings.kafka_partitions)
        ]
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        return reader

    def _input_ends(self) -> tuple[Any, list[TopicPartition], dict[TopicPartition, int]]:
        """A checker assigned to every input partition, the partitions and their end offsets."""
        checker = self._offset_checker()
        tps = [
            TopicPartition(self.settings.topic(t), p)
            for t in self._inputs
            for p in range(self.settings.kafka_partitions)
        ]
        checker.assign(tps)
        return checker, tps, checker.end_offsets(tps)

    def _wait_markers(self, timeout: float) -> None:
        """Until the inputs' committed end offsets (what a read_committed reader and the
        idle check see) reach their log end offsets. A producer's commit returns before the
        broker has written the transaction's markers; until then its records are invisible
        and a worker that has not seen them looks idle (a test asserting that nothing
        happened then passes before anything could). A transaction held open keeps the two
        apart: after `timeout` the check goes on as before."""
        checker, tps, _ = self._input_ends()
        if self._raw_ends is None:
            self._raw_ends = KafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                group_id=None,
                enable_auto_commit=False,
                isolation_level="read_uncommitted",
            )
        deadline = time.monotonic() + timeout
        while checker.end_offsets(tps) != self._raw_ends.end_offsets(tps):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)

    def _unprocessed(self) -> dict[str, int]:
        """Per input partition, how many committed records lie beyond the worker's offset."""
        checker, tps, ends = self._input_ends()
        behind: dict[TopicPartition, int] = {}
        for tp in tps:
            committed = checker.committed(tp) or 0
            if committed < ends[tp]:
                behind[tp] = committed
        if not behind:
            return {}
        checker.assign(list(behind))
        for tp, committed in behind.items():
            checker.seek(tp, committed)
        # Between the committed offset and the end there may be only transaction markers
        # or aborted records: those are not work, so count the records a reader gets.
        counts: dict[str, int] = {}
        deadline = time.monotonic() + 10
        while any(checker.position(tp) < ends[tp] for tp in behind):
            if time.monotonic() > deadline:
                return {f"{tp.topic}/{tp.partition}": -1 for tp in behind}  # unknown: not idle
            for tp, batch in checker.poll(timeout_ms=100).items():
                if batch:
                    name = f"{tp.topic}/{tp.partition}"
                    counts[name] = counts.get(name, 0) + len(batch)
        return counts

    def committed_lag(self) -> dict[str, int]:
        """Per input partition, end offset minus the workers' committed offset (raw offsets:
        transaction markers count). Zero everywhere means the commits caught up fully."""
        checker, tps, ends = self._input_ends()
        lag = {}
        for tp in tps:
            behind = ends[tp] - (checker.committed(tp) or 0)
            if behind:
                lag[f"{tp.topic}/{tp.partition}"] = behind
        return lag

    def wait_monitoring_done(self, timeout: float = 120.0) -> None:
        """Wait until the monitoring stage has caught up with its input. All observations
        of one service and channel share a partition, so after a burst that one partition
        is still being worked through when the warehouse is complete; a test that measures
        the commit delay "after idle" starts its clock after this."""
        deadline = time.monotonic() + timeout
        while True:
            lag = {k: v for k, v in self.committed_lag().items() if "monitor-observations" in k}
            if not lag:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"monitoring stage not caught up after {timeout:.0f} s: {lag}\n"
                    f"--- worker log (tail) ---\n{self.worker_log_tail()}"
                )
            self.assert_worker_alive()
            time.sleep(0.5)

    def wait_committed(self, timeout: float = 10.0) -> float:
        """Wait until committed offsets equal end offsets; returns the seconds it took."""
        began = time.monotonic()
        while True:
            lag = self.committed_lag()
            if not lag:
                return time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise AssertionError(
                    f"committed offsets not at the end offsets after {timeout:.0f} s: {lag}\n"
                    f"--- worker log (tail) ---\n{self.worker_log_tail()}"
                )
            time.sleep(0.1)

    def _offset_checker(self) -> KafkaConsumer:
        if self._checker is None:
            # The workers' group id, only to read its committed offsets: this consumer never
            # subscribes (joins) and never commits.
            self._checker = KafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                group_id=app_id(self.settings),
                enable_auto_commit=False,
                isolation_level="read_committed",
            )
        return self._checker

    def _drain_to_end(self, topic: str, timeout: float) -> None:
        """Read the topic up to its end offsets as they are now: one short poll may return
        only part of a burst (max_records, many topics), and `min_count=0` callers assert
        that something is *not* there, so they must have seen everything first."""
        name = self.settings.topic(topic)
        tps = [tp for tp in self._reader.assignment() if tp.topic == name]
        ends = self._reader.end_offsets(tps)
        deadline = time.monotonic() + timeout
        self._drain(0.05)
        while any(self._reader.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                return  # an open transaction holds the end back; callers wait on counts
            self._drain(0.1)

    def _drain(self, timeout: float) -> None:
        prefix = self.settings.kafka_topic_prefix
        polled = self._reader.poll(timeout_ms=int(timeout * 1000), max_records=1000)
        for tp, batch in polled.items():
            logical = tp.topic[len(prefix) :]
            for record in batch:
                self._seen[logical].append(as_dict(logical, record, self.sealer))


def as_dict(logical_topic: str, record: Any, sealer: Sealer | None = None) -> dict[str, Any]:
    """A record as the test sees it: opened when sealed (crypto-shredding), like the
    worker and the sinks do; a record of a forgotten klant as {"erased": True}."""
    opened = open_record(sealer, record.key, headers_list(record.headers), record.value)
    if opened is ERASED:
        return {"erased": True}
    key, headers, value = opened
    if logical_topic == DEAD_LETTER:
        return json.loads(value or b"")
    decoded = decode(key, headers, value)
    if isinstance(decoded, CloudEvent):
        return decoded.to_structured()
    return {"undecodable": decoded, **raw_parts(key, headers, value)}


def raw_topic_records(harness: KafkaHarness, prefix: str) -> tuple[list[str], list[Any]]:
    """Every record of every topic whose name holds `prefix` (inputs, outputs, dead letter,
    changelogs), read uncommitted and unopened: what an attacker with broker access sees."""
    consumer = KafkaConsumer(
        bootstrap_servers=harness.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
        isolation_level="read_uncommitted",
    )
    try:
        topics = [t for t in consumer.topics() if prefix in t]
        consumer.subscribe(topics)
        return topics, list(consumer)
    finally:
        consumer.close()


def raw_bytes(records: Sequence[Any]) -> bytes:
    """Keys, values and header values of `records`, concatenated."""
    return b"".join(
        (r.key or b"") + (r.value or b"") + b"".join(v for _, v in r.headers or []) for r in records
    )


def wait_for_klant(
    harness: KafkaHarness, topic: str, klant: str, timeout: float = 90
) -> dict[str, Any]:
    """The first record on `topic` about `klant`, waiting at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in harness.records(topic, min_count=0, timeout=1):
            if record.get("data", {}).get("klant") == klant:
                return record
        time.sleep(0.2)
    raise AssertionError(f"nothing for the klant on {topic} within {timeout:.0f} s")


def worker_command(env: dict[str, str] | None = None) -> list[str]:
    """The real worker, or with KLANTSIGNAAL_TEST_WITHOUT_FIX=<fix> the worker with that
    offset fix switched off (tests/support/kafka_worker_without_fix.py), to show a test fails
    without it. A worker env with KLANTSIGNAAL_TEST_CRASH_MARKER: the fault-injection worker
    (tests/support/kafka_worker_crash_before_signal.py); with
    KLANTSIGNAAL_TEST_HOLD_FEED_COMMITS the one that commits only the monitoring's offsets
    (tests/support/kafka_worker_feed_uncommitted.py); with KLANTSIGNAAL_TEST_LOOP_PROBE the
    one whose event loop is watched (tests/support/kafka_worker_loop_probe.py)."""
    without = os.environ.get("KLANTSIGNAAL_TEST_WITHOUT_FIX", "").split()
    if env and "KLANTSIGNAAL_TEST_CRASH_MARKER" in env:
        return [sys.executable, "-m", "tests.support.kafka_worker_crash_before_signal", *without]
    if env and "KLANTSIGNAAL_TEST_HOLD_FEED_COMMITS" in env:
        return [sys.executable, "-m", "tests.support.kafka_worker_feed_uncommitted", *without]
    if env and "KLANTSIGNAAL_TEST_LOOP_PROBE" in env:
        return [sys.executable, "-m", "tests.support.kafka_worker_loop_probe", *without]
    if without:
        return [sys.executable, "-m", "tests.support.kafka_worker_without_fix", *without]
    return [sys.executable, "-m", "pipeline.runtimes.kafka.worker"]


def unique_prefix(label: str = "h") -> str:
    return f"t-{label}-{uuid.uuid4().hex[:8]}-"


def open_harness(bootstrap: str, topic_prefix: str, workdir: Path, **kwargs: Any) -> KafkaHarness:
    """A harness with its worker started and ready (closes everything if the start fails)."""
    harness = KafkaHarness(bootstrap, topic_prefix, workdir, **kwargs)
    try:
        harness.start_worker()
    except BaseException:
        harness.close()
        raise
    return harness


@pytest.fixture
def kafka_harness(
    request: pytest.FixtureRequest,
    kafka_broker: Any,
    kafka_topic_prefix: str,
    tmp_path: Path,
) -> Iterator[KafkaHarness]:
    """A ready Kafka runtime (topics, a faust worker) for one test, on unique topics."""
    failed_before = request.session.testsfailed
    harness = open_harness(kafka_broker.bootstrap, kafka_topic_prefix, tmp_path)
    try:
        yield harness
    finally:
        if request.session.testsfailed > failed_before:
            # Shown under "Captured stderr teardown" of the failing test.
            print(f"--- kafka worker log ---\n{harness.worker_log_tail(200)}", file=sys.stderr)
        harness.close()


def start_until_crash(harness: KafkaHarness, marker: Path) -> None:
    """Start a worker armed to crash (kafka_worker_crash_before_signal.py): it may crash
    before the harness sees it ready, which only counts if it left its marker."""
    try:
        harness.start_worker()
    except AssertionError:
        assert marker.exists(), harness.worker_log_tail()
