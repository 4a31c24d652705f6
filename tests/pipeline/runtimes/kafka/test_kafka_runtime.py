"""The Kafka runtime on a real broker: publisher transactions, the wire format, the faust
worker (stages, tables, dead letters, restarts) and the sink runner."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from pipeline.ports import SinkRecord
from pipeline.runtimes.kafka.publisher import KafkaPublisher, PublishFailed
from pipeline.runtimes.kafka.sinks import run_sink
from pipeline.runtimes.kafka.topics import TopicMismatch, ensure_topics
from pipeline.settings import Settings
from schemas.cloudevents import CloudEvent, new_event
from schemas.types import ALERT, CONTACT, RESPONSE
from tests.infra._proc import free_ports
from tests.support.kafka_harness import KafkaHarness, kafka_harness, open_harness, unique_prefix

pytestmark = pytest.mark.kafka
__all__ = ["kafka_harness"]  # the fixture, re-exported for this module's tests

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def new_klant() -> str:
    return "k-" + uuid.uuid4().hex  # 32 hex, as a real pseudonym: records get sealed


def contact(klant: str, contact_id: str | None = None, at: datetime = T0) -> CloudEvent:
    data = {
        "contactId": contact_id or f"c-{uuid.uuid4().hex[:8]}",
        "klant": klant,
        "kanaal": "telefoon",
        "onderwerp": "Paspoort aanvragen",
        "indicatieContactGelukt": True,
        "taal": "nld",
        "vertrouwelijk": False,
        "plaatsgevondenOp": iso(at),
        "dienst": {"code": "paspoort", "naam": "Paspoort"},
        "team": "kcc-burgerzaken",
        "bereikbaarheid": {"enqueteToestemming": True, "kanalen": ["email"]},
    }
    return new_event(CONTACT.name, data, source="/test/kcc", key=klant)


def response(klant: str, contact_id: str, invitation_id: str, comment: str) -> CloudEvent:
    data = {
        "responseId": f"r-{uuid.uuid4().hex[:8]}",
        "invitationId": invitation_id,
        "contactId": contact_id,
        "klant": klant,
        "answeredAt": iso(T0 + timedelta(hours=2)),
        "terugbelToestemming": True,
        "ces": {"score": 1, "schaal": 5, "opmerking": comment},
        "nps": {"score": 1},
        "rapportcijfer": {"score": 2},
    }
    return new_event(RESPONSE.name, data, source="/test/enquete", key=klant)


def wait_for(harness: KafkaHarness, topic: str, match: Any, timeout: float = 30.0) -> dict:
    """The first record on `topic` for which match(record) holds."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in harness.records(topic, min_count=0, timeout=1) if match(r)]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            harness.records(topic, min_count=10**9, timeout=0)  # raises with what was seen
        time.sleep(0.05)


def report_latency(label: str, began: float, published: float, done: float) -> None:
    print(
        f"\n{label}: {done - began:.3f} s (publish incl. transaction "
        f"{published - began:.3f} s, then {done - published:.3f} s through the worker)"
    )


def of_klant(klant: str) -> Any:
    return lambda r: r.get("partitionkey") == klant


@pytest.fixture(scope="module")
def shared_harness(
    kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaHarness]:
    """One worker for the flow tests (they use their own klanten); saves a start per test."""
    harness = open_harness(
        kafka_broker.bootstrap, unique_prefix("flow"), tmp_path_factory.mktemp("kafka-flow")
    )
    print(f"\nworker start-to-ready: {harness.ready_seconds[0]:.2f} s")
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def settings(kafka_broker: Any, kafka_topic_prefix: str, tmp_path: Path) -> Settings:
    s = Settings(
        data_dir=tmp_path,
        kafka_bootstrap=kafka_broker.bootstrap,
        kafka_topic_prefix=kafka_topic_prefix,
        kafka_partitions=2,
        kafka_seal=0,  # the plain binary content mode; sealed: test_privacy_forget_kafka.py
    )
    ensure_topics(s)
    return s


def read_all(settings: Settings, topic: str, isolation: str) -> list[Any]:
    """Every record on the topic up to its current end (for read_committed: the last
    stable offset), so a test can show that something is absent without sleeping."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level=isolation,
    )
    tps = [TopicPartition(settings.topic(topic), p) for p in range(settings.kafka_partitions)]
    records: list[Any] = []
    try:
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        deadline = time.monotonic() + 10
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "could not read to the end of the topic"
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def test_ensure_topics_is_idempotent_and_refuses_other_partition_counts(
    kafka_broker: Any, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    s = Settings(
        data_dir=tmp_path,
        kafka_bootstrap=kafka_broker.bootstrap,
        kafka_topic_prefix=kafka_topic_prefix,
        kafka_partitions=3,
    )
    created = ensure_topics(s, state_names=["last_invited"])
    assert s.topic("dead-letter") in created
    assert f"{kafka_topic_prefix}klantsignaal-last_invited-changelog" in created
    assert ensure_topics(s, state_names=["last_invited"]) == []  # a second worker starting
    with pytest.raises(TopicMismatch, match="KLANTSIGNAAL_KAFKA_PARTITIONS=4"):
        ensure_topics(replace(s, kafka_partitions=4))


# -- publisher and wire format ------------------------------------------------------------


@contextmanager
def second_send_explodes(settings: Settings, topic: str) -> Iterator[None]:
    """The next publish fails at its second record, after its first one is in the log
    (visible to read_uncommitted): only the transaction's abort can keep it from committed
    readers. Fault injection on the real producer; the broker is real. Counts records, so
    it works on sealed topics too."""
    real = KafkaProducer.send
    calls = 0
    before = len(read_all(settings, topic, "read_uncommitted"))

    def send(producer: KafkaProducer, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls != 2:
            return real(producer, *args, **kwargs)
        producer.flush()
        deadline = time.monotonic() + 60
        while len(read_all(settings, topic, "read_uncommitted")) <= before:
            assert time.monotonic() < deadline, "the first record never reached the broker"
            time.sleep(0.05)
        raise RuntimeError("boom while sending")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(KafkaProducer, "send", send)
        yield
    assert calls >= 2, "the publish never reached its second record"


def ids(records: list[Any]) -> list[str]:
    return [CloudEvent.from_binary(r.key, r.headers, r.value).id for r in records]


def test_publisher_is_all_or_nothing(settings: Settings) -> None:
    klant = new_klant()
    aborted, kept = contact(klant), contact(klant)
    with KafkaPublisher(settings) as publisher:
        with (
            second_send_explodes(settings, "contact-events"),
            pytest.raises(PublishFailed, match="boom"),
        ):
            publisher.publish("contact-events", [aborted, contact(klant)])
        publisher.publish("contact-events", [kept])  # the producer is usable after an abort

    assert ids(read_all(settings, "contact-events", "read_committed")) == [kept.id]
    # The aborted record is in the log: only the transaction keeps it from readers.
    assert aborted.id in ids(read_all(settings, "contact-events", "read_uncommitted"))


def test_publisher_writes_binary_content_mode(settings: Settings) -> None:
    klant = new_klant()
    event = contact(klant)
    with KafkaPublisher(settings) as publisher:
        publisher.publish("contact-events", [event])
    (record,) = read_all(settings, "contact-events", "read_committed")
    headers = dict(record.headers)
    assert record.key == klant.encode()
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == CONTACT.name.encode()
    assert headers["ce_id"] == event.id.encode()
    assert headers["ce_source"] == b"/test/kcc"
    assert headers["content-type"] == b"application/json"
    assert "ce_data" not in headers
    assert CloudEvent.from_binary(record.key, record.headers, record.value).data == event.data


# -- the worker ---------------------------------------------------------------------------


def test_contact_becomes_invitation(shared_harness: KafkaHarness) -> None:
    klant = new_klant()
    event = contact(klant)
    began = time.monotonic()
    shared_harness.publish("contact-events", [event])
    published = time.monotonic()
    invitation = wait_for(shared_harness, "survey-invitations", of_klant(klant))
    done = time.monotonic()
    report_latency("contact -> invitation", began, published, done)

    assert invitation["type"] == "nl.klantsignaal.invitation.v1"
    assert invitation["data"]["contactId"] == event.data["contactId"]
    assert invitation["data"]["token"]


def test_negative_response_becomes_signal_and_alert(shared_harness: KafkaHarness) -> None:
    klant = new_klant()
    c = contact(klant)
    shared_harness.publish("contact-events", [c])
    invitation = wait_for(shared_harness, "survey-invitations", of_klant(klant))

    r = response(
        klant,
        c.data["contactId"],
        invitation["data"]["invitationId"],
        "Verschrikkelijk, waardeloos geholpen en niemand belt terug. Echt schandalig!",
    )
    began = time.monotonic()
    shared_harness.publish("survey-responses", [r])
    published = time.monotonic()
    alert = wait_for(shared_harness, "alerts", of_klant(klant))
    done = time.monotonic()
    report_latency("response -> alert", began, published, done)

    signal = wait_for(shared_harness, "scored-signals", of_klant(klant))
    assert signal["data"]["responseId"] == r.data["responseId"]
    assert signal["data"]["team"] == "kcc-burgerzaken"  # joined from the contact
    assert signal["data"]["sentiment"]["label"] == "neg"
    assert alert["type"] == ALERT.name
    assert alert["data"]["signalId"] == signal["data"]["signalId"]
    assert alert["data"]["ernst"] == "hoog"


def test_an_aborted_publish_is_never_processed(shared_harness: KafkaHarness) -> None:
    klant = new_klant()
    aborted = contact(klant, "c-aborted")
    with (
        second_send_explodes(shared_harness.settings, "contact-events"),
        pytest.raises(PublishFailed, match="boom"),
    ):
        shared_harness.publish("contact-events", [aborted, contact(klant, "c-aborted-2")])
    # Had the stage seen the aborted contact, this one would be in quarantine.
    shared_harness.publish("contact-events", [contact(klant, "c-good", T0 + timedelta(days=1))])
    invitation = wait_for(shared_harness, "survey-invitations", of_klant(klant))
    assert invitation["data"]["contactId"] == "c-good"


def test_bad_records_are_dead_lettered_and_the_stream_goes_on(
    shared_harness: KafkaHarness,
) -> None:
    klant = new_klant()
    # No ce_ headers at all: not a CloudEvent in binary mode.
    shared_harness.publish_raw("contact-events", b'{"hello": "world"}', key=klant.encode())
    # A CloudEvent whose data breaks the schema.
    broken = contact(klant)
    broken = CloudEvent(**{**broken.__dict__, "data": {**broken.data, "kanaal": "duif"}})
    shared_harness.publish("contact-events", [broken])
    good = contact(klant)
    shared_harness.publish("contact-events", [good])

    invitation = wait_for(shared_harness, "survey-invitations", of_klant(klant))
    assert invitation["data"]["contactId"] == good.data["contactId"]

    def mine(dl: dict) -> bool:
        return dl["record"].get("key") == klant or dl["record"].get("partitionkey") == klant

    shared_harness.records("dead-letter", min_count=1)
    deadline = time.monotonic() + 30
    while len([d for d in shared_harness.records("dead-letter") if mine(d)]) < 6:
        assert time.monotonic() < deadline, shared_harness.records("dead-letter")
        time.sleep(0.1)
    letters = [d for d in shared_harness.records("dead-letter") if mine(d)]
    # Every stage reading contact-events (trigger, signals, monitor-feed) rejects each bad
    # record.
    undecodable = [d for d in letters if "key" in d["record"]]
    invalid = [d for d in letters if "partitionkey" in d["record"]]
    assert {d["stage"] for d in undecodable} == {"trigger", "signals", "monitor-feed"}
    assert all("ce_specversion" in d["reason"] for d in undecodable)
    assert undecodable[0]["record"]["value"] == '{"hello": "world"}'
    assert undecodable[0]["topic"] == "contact-events"
    assert "/" in undecodable[0]["position"]
    assert {d["stage"] for d in invalid} == {"trigger", "signals", "monitor-feed"}
    assert all("/data/kanaal" in d["reason"] for d in invalid)
    shared_harness.wait_committed(timeout=10.0)  # the poison records are committed past too


def test_quarantine_survives_a_worker_restart(kafka_harness: KafkaHarness) -> None:
    harness = kafka_harness
    klant = new_klant()
    harness.publish("contact-events", [contact(klant, "c-first", T0)])
    wait_for(harness, "survey-invitations", of_klant(klant))

    restart = harness.restart_worker()  # state must come back from the table changelog
    print(f"\nworker restart-to-ready: {restart:.2f} s")

    # A second contact a day later is within the 90-day quarantine: no invitation.
    other = new_klant()
    harness.publish("contact-events", [contact(klant, "c-second", T0 + timedelta(days=1))])
    harness.publish("contact-events", [contact(other, "c-other", T0)])
    harness.wait_idle()
    # wait_idle is a barrier: what the worker emits is on the topic once it returns (read
    # it up to its end offsets: timeout=0 read only what one short poll returned).
    invitations = harness.records("survey-invitations", min_count=0, timeout=10)
    assert [r for r in invitations if of_klant(other)(r)]

    mine = [r for r in harness.records("survey-invitations") if of_klant(klant)(r)]
    assert [r["data"]["contactId"] for r in mine] == ["c-first"]  # no duplicate either


def test_a_killed_worker_loses_nothing(kafka_harness: KafkaHarness) -> None:
    harness = kafka_harness
    # Enough that the kill lands mid-stream on a fast, idle machine too: since runs of
    # queued records are longer (coalesced observations), 600 were once all done before
    # the harness had read its 20.
    contacts = [contact(new_klant()) for _ in range(2000)]
    harness.publish("contact-events", contacts)
    done_before = len(harness.records("survey-invitations", min_count=20))
    harness.kill_worker()  # mid-stream: the latest offsets are not committed yet
    harness.start_worker()

    wanted = {c.data["contactId"] for c in contacts}
    # A skipped record never shows up, however long we wait: the deadline only bounds how
    # slow a restart may be (the killed member's session must expire first; once >30 s in CI).
    deadline = time.monotonic() + 60
    while True:
        seen = [r["data"]["contactId"] for r in harness.records("survey-invitations")]
        if wanted <= set(seen):
            break
        assert time.monotonic() < deadline, f"lost: {sorted(wanted - set(seen))}"
        time.sleep(0.1)
    # At-least-once: a replay may repeat an invitation, always with the same event id.
    by_contact: dict[str, set[str]] = {}
    for r in harness.records("survey-invitations"):
        by_contact.setdefault(r["data"]["contactId"], set()).add(r["id"])
    assert all(len(ids) == 1 for ids in by_contact.values())
    print(
        f"\nSIGKILL after {done_before} of {len(wanted)} invitations; "
        f"{len(seen) - len(wanted)} replayed, none lost"
    )
    assert done_before < len(wanted), "the kill came too late to prove anything"
    harness.wait_committed(timeout=10.0)


# -- sinks --------------------------------------------------------------------------------


class RecordingSink:
    def __init__(self, name: str, topics: tuple[str, ...], fail_times: int = 0) -> None:
        self.name = name
        self.topics = topics
        self.fail_times = fail_times
        self.calls = 0
        self.records: list[SinkRecord] = []

    def handle(self, records: Sequence[SinkRecord]) -> None:
        self.calls += 1
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("warehouse down")
        self.records.extend(records)


def run_in_thread(settings: Settings, sink: RecordingSink) -> tuple[threading.Thread, Any]:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_sink, args=(settings, sink, stop), kwargs={"retry_pause": 0.2}, daemon=True
    )
    thread.start()
    return thread, stop


def wait_records(sink: RecordingSink, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.records) < count:
        assert time.monotonic() < deadline, f"sink got {len(sink.records)} of {count}"
        time.sleep(0.05)


def test_sink_runner_delivers_commits_and_retries(settings: Settings) -> None:
    klant = new_klant()
    alerts = [
        new_event(ALERT.name, {"n": i}, source="/test", key=klant, event_id=f"a-{i}")
        for i in range(3)
    ]
    with KafkaPublisher(settings) as publisher:
        publisher.publish("alerts", alerts)
        raw = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        raw.send(settings.topic("dead-letter"), b'{"reason": "x", "stage": "trigger"}', b"k")
        raw.send(settings.topic("alerts"), b"not a cloudevent")  # skipped, the loop goes on
        raw.close(timeout=10)

        first = RecordingSink("inbox", ("alerts", "dead-letter"), fail_times=1)
        thread, stop = run_in_thread(settings, first)
        try:
            wait_records(first, 4)
        finally:
            stop.set()
            thread.join(timeout=15)
        assert not thread.is_alive()
        assert first.calls >= 2  # the first call failed and the batch came again
        ids = sorted(r.event.id for r in first.records if r.event is not None)
        assert ids == ["a-0", "a-1", "a-2"]
        (dead,) = [r for r in first.records if r.topic == "dead-letter"]
        assert dead.raw == {"reason": "x", "stage": "trigger"}
        assert all(r.topic in ("alerts", "dead-letter") for r in first.records)

        # A restarted sink resumes after the committed batch: only the new record comes.
        publisher.publish(
            "alerts", [new_event(ALERT.name, {"n": 3}, source="/t", key=klant, event_id="a-3")]
        )
    second = RecordingSink("inbox", ("alerts", "dead-letter"))
    thread, stop = run_in_thread(settings, second)
    try:
        wait_records(second, 1)
        time.sleep(1.0)  # would a committed record come again?
    finally:
        stop.set()
        thread.join(timeout=15)
    assert [r.event.id for r in second.records if r.event] == ["a-3"]


def test_sink_reads_only_the_topics_it_stores(settings: Settings) -> None:
    """A sink naming `stored_topics` (the warehouse: no rows for monitor observations) is
    handed none of the other topics' records, as in the embedded runtime."""
    klant = new_klant()
    alert = new_event(ALERT.name, {"n": 1}, source="/test", key=klant, event_id="only-a")
    response = new_event(RESPONSE.name, {"n": 2}, source="/test", key=klant, event_id="not-r")
    with KafkaPublisher(settings) as publisher:
        publisher.publish_many({"survey-responses": [response], "alerts": [alert]})
    sink = RecordingSink("warehouse-like", ("survey-responses", "alerts"))
    sink.stored_topics = ("alerts",)  # type: ignore[attr-defined]
    thread, stop = run_in_thread(settings, sink)
    try:
        wait_records(sink, 1)
        time.sleep(1.0)  # would the response come too?
    finally:
        stop.set()
        thread.join(timeout=15)
    assert [(r.topic, r.event.id) for r in sink.records if r.event] == [("alerts", "only-a")]


def test_publisher_fails_fast_without_a_broker(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    s = Settings(data_dir=tmp_path, kafka_bootstrap=f"127.0.0.1:{port}")
    publisher = KafkaPublisher(s, timeout=2.0)
    began = time.monotonic()
    with pytest.raises(PublishFailed):
        publisher.publish("contact-events", [contact(new_klant())])
    assert time.monotonic() - began < 15
    publisher.close()
