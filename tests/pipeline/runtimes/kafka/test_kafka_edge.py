"""The Kafka publisher's group commit: concurrent publishes share transactions, each one
stays all-or-nothing, and a failing one does not take the others down."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pipeline.runtimes.kafka.publisher import KafkaPublisher, PublishFailed
from pipeline.runtimes.kafka.topics import ensure_topics
from pipeline.settings import Settings
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT
from tests.pipeline.runtimes.kafka.test_kafka_runtime import contact, new_klant, read_all
from tests.support.own_server import own_server

pytestmark = pytest.mark.kafka


async def _outcome(publisher: KafkaPublisher, events: list[CloudEvent]) -> str:
    """ "ok" once an awaited publish of `events` returned, "failed" when it raised."""
    try:
        await publisher.publish_many_async({CONTACT.topic: events})
    except PublishFailed:
        return "failed"
    return "ok"


@pytest.fixture
def settings(kafka_broker: Any, kafka_topic_prefix: str, tmp_path: Path) -> Settings:
    s = Settings(
        data_dir=tmp_path,
        kafka_bootstrap=kafka_broker.bootstrap,
        kafka_topic_prefix=kafka_topic_prefix,
        kafka_partitions=2,
    )
    ensure_topics(s)
    return s


def test_concurrent_publishes_share_transactions(settings: Settings) -> None:
    events = [contact(new_klant()) for _ in range(300)]
    with KafkaPublisher(settings, linger=0.005, single_event_idempotent=False) as publisher:
        publisher.publish(CONTACT.topic, events[:1])  # connects; not part of the count
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda e: publisher.publish(CONTACT.topic, [e]), events[1:]))
        groups = publisher.groups
    ids = [r.headers for r in read_all(settings, CONTACT.topic, "read_committed")]
    assert len(ids) == len(events)
    assert groups < len(events) / 3, f"{groups} transactions for {len(events)} publishes"


def test_a_failing_publish_does_not_fail_its_group(settings: Settings) -> None:
    good = [contact(new_klant()) for _ in range(40)]
    # Over the broker's default max message size (1 MiB): this request alone must fail.
    huge = contact(new_klant())
    huge = CloudEvent(**{**huge.__dict__, "data": {**huge.data, "onderwerp": "x" * 1_200_000}})
    with KafkaPublisher(
        settings, linger=0.05, timeout=10, single_event_idempotent=False
    ) as publisher:
        publisher.publish(CONTACT.topic, good[:1])

        def one(events: list[CloudEvent]) -> str:
            try:
                publisher.publish(CONTACT.topic, events)
            except PublishFailed:
                return "failed"
            return "ok"

        with ThreadPoolExecutor(16) as pool:
            outcomes = list(pool.map(one, [[e] for e in good[1:20]] + [[good[20], huge]]))
            outcomes += list(pool.map(one, [[e] for e in good[21:]]))
    assert outcomes.count("failed") == 1 and outcomes[19] == "failed"
    committed = read_all(settings, CONTACT.topic, "read_committed")
    values = b"".join(r.value for r in committed)
    assert len(committed) == len(good) - 1  # the failed batch's good event is not in: atomic
    assert good[20].data["contactId"].encode() not in values


def test_awaited_publishes_share_sealed_transactions_and_fail_alone(settings: Settings) -> None:
    """publish_many_async (the HTTP edge awaits it on its event loop): concurrent callers
    share transactions, every klant's record is sealed with its own key (created for the
    whole group at once), and an oversized request fails alone."""
    import asyncio

    from pipeline.runtimes.kafka.keystore import sealer_for

    klanten = ["k-" + uuid.uuid4().hex for _ in range(120)]
    events = [contact(k) for k in klanten]
    huge = contact(klanten[0])
    huge = CloudEvent(**{**huge.__dict__, "data": {**huge.data, "onderwerp": "x" * 1_200_000}})

    async def run(publisher: KafkaPublisher) -> list[str]:
        return await asyncio.gather(
            *(_outcome(publisher, [e]) for e in events[1:]), _outcome(publisher, [huge])
        )

    with KafkaPublisher(
        settings, linger=0.005, timeout=10, single_event_idempotent=False
    ) as publisher:
        publisher.publish(CONTACT.topic, events[:1])  # connects; not part of the count
        outcomes = asyncio.run(run(publisher))
        groups = publisher.groups
    assert outcomes[-1] == "failed" and outcomes.count("ok") == len(events) - 1
    assert groups < len(events) / 3, f"{groups} transactions for {len(events)} publishes"
    committed = read_all(settings, CONTACT.topic, "read_committed")
    sealer = sealer_for(settings)
    assert sealer is not None
    opened = [sealer.open(r.key, list(r.headers), r.value) for r in committed]
    assert sorted(o[0].decode() for o in opened) == sorted(klanten)  # type: ignore[index, union-attr]
    wire = b"".join(r.key + r.value + b"".join(v for _, v in r.headers) for r in committed)
    for event in events:
        assert event.data["klant"].encode() not in wire
        assert event.data["contactId"].encode() not in wire


@pytest.fixture(scope="module")
def own_broker() -> Any:
    """A broker of this module's own: the restart must not disturb the session broker."""
    from tests.pipeline.runtimes.kafka.test_kafka_faults import RestartableBroker

    with own_server(RestartableBroker(), "Kafka broker") as broker:
        yield broker


def _contact_ids(settings: Settings) -> set[str]:
    import json

    from pipeline.runtimes.kafka.keystore import sealer_for

    sealer = sealer_for(settings)
    assert sealer is not None
    ids = set()
    for r in read_all(settings, CONTACT.topic, "read_committed"):
        opened = sealer.open(r.key, list(r.headers), r.value)
        ids.add(json.loads(opened[2])["contactId"])  # type: ignore[index]
    return ids


@pytest.mark.slow
def test_single_events_without_a_transaction_survive_a_broker_restart(
    own_broker: Any, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    """A request of one event goes on the idempotent producer without a transaction and is
    answered once acknowledged (acks=all): every acknowledged one is on the topic for
    read_committed readers after the broker restarted. A batch in the same stream stays in
    a transaction: all-or-nothing, a failing one leaves none of its events behind."""
    import asyncio

    settings = Settings(
        data_dir=tmp_path,
        kafka_bootstrap=own_broker.bootstrap,
        kafka_topic_prefix=kafka_topic_prefix,
        kafka_partitions=2,
    )
    ensure_topics(settings)
    singles = [contact(new_klant()) for _ in range(200)]
    batch = [contact(new_klant()) for _ in range(2)]
    failing = [contact(new_klant()) for _ in range(2)]
    huge = contact(new_klant())
    huge = CloudEvent(**{**huge.__dict__, "data": {**huge.data, "onderwerp": "x" * 1_200_000}})

    async def run(publisher: KafkaPublisher) -> list[str]:
        one = _outcome
        return await asyncio.gather(
            *(one(publisher, [e]) for e in singles),
            one(publisher, [*failing, huge]),
            one(publisher, batch),
            one(publisher, [huge]),
        )

    with KafkaPublisher(settings, timeout=10, single_event_idempotent=True) as publisher:
        outcomes = asyncio.run(run(publisher))
        groups = publisher.groups
    assert outcomes == ["ok"] * len(singles) + ["failed", "ok", "failed"]
    assert groups <= 1, "the single events went through transactions"  # only `batch`'s
    own_broker.restart()
    ids = _contact_ids(settings)
    assert {e.data["contactId"] for e in [*singles, *batch]} <= ids
    assert not ids & {e.data["contactId"] for e in [*failing, huge]}


@pytest.mark.slow
def test_single_events_are_accepted_again_after_a_broker_restart_while_requests_flow(
    own_broker: Any, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    """Requests of one event keep coming (50/s) while the broker restarts. Those made once
    it is back are acknowledged again: the idempotent producer that missed
    acknowledgements is replaced (kafka-python's own never recovered: every later request
    failed until the process restarted). Every acknowledged event is on the topic."""
    import asyncio
    import threading
    import time

    settings = Settings(
        data_dir=tmp_path,
        kafka_bootstrap=own_broker.bootstrap,
        kafka_topic_prefix=kafka_topic_prefix,
        kafka_partitions=2,
    )
    ensure_topics(settings)
    outcomes: dict[str, tuple[str, float]] = {}
    stop = threading.Event()

    async def flow(publisher: KafkaPublisher) -> None:
        async def one(event: CloudEvent) -> None:
            began = time.monotonic()
            outcomes[event.data["contactId"]] = (await _outcome(publisher, [event]), began)

        tasks = []
        while not stop.is_set():
            tasks.append(asyncio.ensure_future(one(contact(new_klant()))))
            await asyncio.sleep(0.02)
        await asyncio.gather(*tasks)

    with KafkaPublisher(settings, timeout=5, single_event_idempotent=True) as publisher:
        runner = threading.Thread(target=lambda: asyncio.run(flow(publisher)), daemon=True)
        runner.start()
        try:
            time.sleep(2)
            own_broker.restart(down_seconds=2)  # in this thread: the broker is its child
            back = time.monotonic()
            time.sleep(18)
        finally:
            stop.set()
            runner.join(60)
    late = [outcome for outcome, began in outcomes.values() if began > back + 10]
    assert len(late) > 50, f"too few requests after the restart: {len(late)}"
    assert late == ["ok"] * len(late), f"{late.count('failed')} of {len(late)} failed"
    acknowledged = {cid for cid, (outcome, _) in outcomes.items() if outcome == "ok"}
    assert acknowledged <= _contact_ids(settings)
