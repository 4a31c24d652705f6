"""The Kafka worker's per-record savings (issue 10): which table writes may wait for the
commit, that they then go out once per key with the latest value, and the bench's second
worker process. The guarantees themselves are shown by test_kafka_faults.py."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.bench_kafka import _env
from pipeline.monitoring.pending import MemoryStore
from pipeline.processing import process_record
from pipeline.runtimes.kafka.agent_plan import chained_readers, consumed_topics, plan_agents
from pipeline.runtimes.kafka.fast_delivery import DirectDelivery
from pipeline.runtimes.kafka.table_writes import WriteBehind
from pipeline.runtimes.kafka.worker import deferrable_states
from pipeline.settings import Settings
from pipeline.stages.base import states_for
from pipeline.topology import scorer_for, topology_for
from schemas.types import CONTACT, OPT_OUT
from tests.pipeline.test_invitation_burst import opt_out
from tests.support.events import contact_event, klant


def test_states_of_one_input_topic_or_awaited_wait_for_the_commit() -> None:
    settings = Settings()
    topology = topology_for(settings, scorer_for(settings))
    deferred = deferrable_states(topology)
    # `last_invited` is touched by contacts only (an opt-out touches `opted_out` alone);
    # the join's context is read for answers, which wait in `pending` when it is not there.
    assert deferred == {"monitor_cells", "last_invited", "contacts"}
    # Read for contacts, which do not wait for it: at once. Written by both: at once.
    assert "opted_out" not in deferred and "pending" not in deferred


def test_a_state_read_across_topics_is_deferred_only_when_its_stage_awaits_it() -> None:
    settings = Settings()
    topology = topology_for(settings, scorer_for(settings))
    signals = next(s for s in topology.stages if s.name == "signals")
    trigger = next(s for s in topology.stages if s.name == "trigger")
    without_use = replace(trigger, state_use={})  # every state for every input
    not_awaited = replace(signals, awaited_states=())
    stages = [
        without_use if s is trigger else not_awaited if s is signals else s for s in topology.stages
    ]
    assert deferrable_states(SimpleNamespace(stages=stages)) == {"monitor_cells"}  # type: ignore[arg-type]


def test_a_record_gets_only_the_states_its_topic_declares_and_an_opt_out_still_counts() -> None:
    """An opt-out touches `opted_out` only: the worker hands it no `last_invited` (a
    KeyError there once dead-lettered every opt-out), and the contact after it is skipped."""
    settings = Settings()
    topology = topology_for(settings, scorer_for(settings))
    trigger = next(s for s in topology.stages if s.name == "trigger")
    stores = {name: MemoryStore() for name in trigger.state_names}
    who = klant(701)
    given = {n: stores[n] for n in states_for(trigger, OPT_OUT.topic)}
    out = process_record(
        trigger, OPT_OUT.topic, opt_out(who, datetime(2026, 1, 1, tzinfo=UTC)), given, "0/1"
    )
    assert out.dead_letter is None and stores["opted_out"].get(who) is not None
    assert list(given) == ["opted_out"]
    contact = contact_event(klant=who)
    given = {n: stores[n] for n in states_for(trigger, CONTACT.topic)}
    out = process_record(trigger, CONTACT.topic, contact, given, "0/2")
    assert out.dead_letter is None and out.emits == []  # opted out: no invitation


class _Table:
    """A faust table's two entry points WriteBehind uses, recorded."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sent: list[tuple[int, str, Any]] = []
        self.partition = 0

    def partition_for_key(self, key: str) -> int:
        return self.partition

    def send_changelog(self, partition: int, key: str, value: Any) -> None:
        self.sent.append((partition, key, value))


def test_deferred_writes_are_visible_at_once_and_sent_once_per_key() -> None:
    table, writes = _Table(), WriteBehind()
    for n in range(5):
        writes.put(table, "zaak|web", {"n": n})
        assert table.data["zaak|web"] == {"n": n}  # the next record sees it
    table.partition = 3
    writes.put(table, "paspoort|balie", {"n": 9})
    assert table.sent == [] and len(writes) == 2
    assert asyncio.run(writes.publish()) == 2
    assert sorted(table.sent) == [(0, "zaak|web", {"n": 4}), (3, "paspoort|balie", {"n": 9})]
    assert asyncio.run(writes.publish()) == 0 and len(writes) == 0


class _GuardedTable(_Table):
    """A table guard_changelog wired: the commit's writes go straight to the producer."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[int, str, Any]] = []

    async def publish_changelog(self, partition: int, key: str, value: Any) -> None:
        self.published.append((partition, key, value))


def test_a_commit_hands_deferred_writes_to_the_producer_not_faust_s_buffer() -> None:
    guarded, plain, writes = _GuardedTable(), _Table(), WriteBehind()
    for n in range(3):
        writes.put(guarded, "k1", {"n": n})
    writes.delete(guarded, "k1")  # a tombstone in place of the pending value
    writes.put(guarded, "k2", {"n": 7})
    writes.put(plain, "k3", {"n": 1})
    assert asyncio.run(writes.publish()) == 3
    assert guarded.sent == [] and sorted(guarded.published) == [
        (0, "k1", None),
        (0, "k2", {"n": 7}),
    ]
    assert plain.sent == [(0, "k3", {"n": 1})]  # not guarded: faust's own path
    assert asyncio.run(writes.publish()) == 0


def test_writes_a_cancelled_commit_did_not_hand_over_are_sent_by_the_next() -> None:
    table, writes = _GuardedTable(), WriteBehind()

    async def cancelled_after_one(partition: int, key: str, value: Any) -> None:
        if table.published:
            writes.put(table, "c", {"v": 2})  # a record processed while the commit waited
            raise asyncio.CancelledError
        table.published.append((partition, key, value))

    table.publish_changelog = cancelled_after_one  # type: ignore[method-assign]
    for key in ("a", "b", "c"):
        writes.put(table, key, {"v": 1})
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(writes.publish())
    assert table.published == [(0, "a", {"v": 1})]
    table.publish_changelog = _GuardedTable.publish_changelog.__get__(table)  # type: ignore[method-assign]
    assert asyncio.run(writes.publish()) == 2  # the newer value of c, not the older one
    assert table.published[1:] == [(0, "c", {"v": 2}), (0, "b", {"v": 1})]


def test_a_second_bench_worker_has_its_own_data_dir_and_the_shared_key_store(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", runtime="kafka", link_key="l")
    first, second = _env(settings, 0), _env(settings, 1)
    assert first["KLANTSIGNAAL_DATA_DIR"] != second["KLANTSIGNAAL_DATA_DIR"]
    assert first["KLANTSIGNAAL_KAFKA_INSTANCE_ID"] != second["KLANTSIGNAAL_KAFKA_INSTANCE_ID"]
    assert second["KLANTSIGNAAL_KEYSTORE_URL"] == settings.keystore


def test_one_agent_per_input_group_and_stateless_stages_on_what_it_emits() -> None:
    """A contact is delivered once, to one agent running trigger, signals and monitor-feed
    in topology order; alerting and monitor-feed run on the signals and invitations the
    agent emits (the topics are still written); monitoring, keyed by service cell and with
    state of its own, keeps its own agent and topic."""
    settings = replace(Settings(), runtime="kafka", monitor_response_chart="on")
    topology = topology_for(settings, scorer_for(settings))
    plans = {p.name: p for p in plan_agents(topology)}
    assert set(plans) == {"trigger+signals+monitor-feed", "monitoring"}
    main = plans["trigger+signals+monitor-feed"]
    names = {t: [s.name for s in stages] for t, stages in main.readers.items()}
    assert names["contact-events"] == ["trigger", "signals", "monitor-feed"]
    assert names["survey-responses"] == ["signals"]
    assert set(main.topics) == {"contact-events", "opt-outs", "survey-responses", "page-feedback"}
    chained = {t: [s.name for s in stages] for t, stages in chained_readers(topology).items()}
    assert chained == {
        "scored-signals": ["alerting", "monitor-feed"],
        "survey-invitations": ["monitor-feed"],
    }
    # Every input of every stage is read by an agent or run on what the stages emit.
    for stage in topology.stages:
        for topic in stage.inputs:
            subscribed = any(stage in p.readers.get(topic, ()) for p in plans.values())
            assert subscribed != (stage.name in chained.get(topic, ())), (stage.name, topic)
    # The consumer group reads (and its lag is watched on) only the subscribed topics.
    assert consumed_topics(topology) == sorted([*main.topics, "monitor-observations"])
    assert "scored-signals" not in consumed_topics(topology)


class _FaustWait:
    """Stands in for mode's Service.wait_first: records that the tasks path ran."""

    calls = 0

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        _FaustWait.calls += 1
        for coro in coros:
            coro.close()
        return "faust"


class _Flag:
    def __init__(self, value: bool = False) -> None:
        self.value = value

    def is_set(self) -> bool:
        return self.value


class _Delivering(DirectDelivery, _FaustWait):
    def __init__(self) -> None:
        self.suspend_flow = asyncio.Event()
        self._stopped, self._crashed = _Flag(), _Flag()
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=2)
        channel = SimpleNamespace(queue=self.queue)
        self.app = SimpleNamespace(
            flow_control=SimpleNamespace(is_active=lambda: True),
            producer=SimpleNamespace(buffer=SimpleNamespace(max_messages=100, size=0)),
            topics=SimpleNamespace(
                _tp_to_callback_lock=asyncio.Lock(), _tp_index={"tp-0": [channel]}
            ),
        )
        self.delivered: list[Any] = []

    async def callback(self, message: Any) -> str:
        self.delivered.append(message)
        return "done"


def test_a_delivery_that_cannot_wait_is_awaited_without_tasks_else_faust_races_it() -> None:
    async def scenario() -> None:
        consumer = _Delivering()
        message = SimpleNamespace(tp="tp-0", offset=7)

        def drain_call() -> Any:  # as faust's drain loop calls it
            return consumer.wait_first(consumer.callback(message), consumer.suspend_flow.wait())

        result = await drain_call()
        assert result.results == ["done"] and not result.stopped
        assert consumer.delivered == [message] and _FaustWait.calls == 0
        # Anything the delivery could wait on: faust's own race against suspend_flow.
        for blocked in (
            lambda: consumer.suspend_flow.set(),
            lambda: setattr(consumer.app.producer.buffer, "size", 101),
            lambda: consumer.queue.put_nowait(1) or consumer.queue.put_nowait(2),
            lambda: setattr(consumer.app.flow_control, "is_active", lambda: False),
        ):
            fresh = _Delivering()
            consumer.__dict__.update(fresh.__dict__)
            blocked()
            before = _FaustWait.calls
            assert await drain_call() == "faust"
            assert _FaustWait.calls == before + 1
        # Other wait_first calls are faust's, untouched.
        assert await consumer.wait_first(asyncio.sleep(0), asyncio.sleep(0)) == "faust"

    asyncio.run(scenario())


class _Queue(asyncio.Queue):  # type: ignore[type-arg]
    """faust's ThrowableQueue as take_queued reads it: a queue with a deque of errors."""

    def __init__(self) -> None:
        super().__init__()
        self._errors: list[Any] = []


def _stream(generation: int = 1) -> Any:
    tracked: set[Any] = set()
    seen: list[Any] = []
    stream = SimpleNamespace(
        should_stop=False,
        channel=SimpleNamespace(queue=_Queue()),
        app=SimpleNamespace(
            flow_control=SimpleNamespace(is_active=lambda: True),
            consumer_generation_id=generation,
            topics=SimpleNamespace(acking_topics={"contact-events"}),
            consumer=SimpleNamespace(_unacked_messages=tracked),
            producer=SimpleNamespace(buffer=SimpleNamespace(max_messages=100, size=0)),
        ),
        current_event=None,
        seen=seen,
        _on_message_in=lambda tp, offset, message: seen.append(("in", offset)),
        _on_stream_event_in=lambda tp, offset, stream, event: seen.append(("event", offset)),
    )
    stream._set_current_event = lambda event: setattr(stream, "current_event", event)
    return stream


def _event(stream: Any, offset: int, generation: int = 1) -> Any:
    from faust.events import Event
    from faust.types.tuples import Message

    message = Message(
        "contact-events", 0, offset, 0.0, 0, {}, b"k", b"v", None, generation_id=generation
    )
    message.tracked = False
    return Event(stream.app, b"k", b"v", {}, message)


def test_a_queued_record_is_taken_as_faust_takes_it_and_a_stale_one_is_left_out() -> None:
    from pipeline.runtimes.kafka.queued_events import producer_buffer_busy, take_queued

    stream = _stream(generation=2)
    assert take_queued(stream) is None  # nothing queued
    fresh, stale, later = _event(stream, 5, 2), _event(stream, 6, 1), _event(stream, 7, 2)
    for event in (fresh, stale, later):
        stream.channel.queue.put_nowait(event)
    stream.app.producer.buffer.size = 100  # full: faust's producer drains it first
    assert take_queued(stream) is None and stream.channel.queue.qsize() == 3
    stream.app.producer.buffer.size = 50  # half full: the worker yields a turn, takes on
    assert producer_buffer_busy(stream) and not producer_buffer_busy(stream, full=True)
    assert take_queued(stream) is fresh
    assert stream.current_event is fresh and fresh.message.tracked
    assert stream.app.consumer._unacked_messages == {fresh.message}
    assert stream.seen == [("in", 5), ("event", 5)]
    # A record of an old consumer generation is skipped unacked and untracked, as faust
    # skips it (a rebalance replays it); the run of queued records ends there.
    assert take_queued(stream) is None
    assert not stale.message.tracked and stream.current_event is fresh
    stream.should_stop = True  # a stopping stream takes nothing more
    assert take_queued(stream) is None and stream.channel.queue.qsize() == 1
    stream.should_stop = False
    stream.channel.queue._errors.append(RuntimeError("for faust's iterator to raise"))
    assert take_queued(stream) is None and stream.channel.queue.qsize() == 1


def test_the_worker_partitions_every_key_as_the_default_partitioner(tmp_path: Path) -> None:
    """Its producer remembers key hashes (partitioner.py): the same partition as aiokafka's
    DefaultPartitioner (as the edge and Java clients) for every key and partition count,
    also for a key seen before."""
    from aiokafka.partitioner import DefaultPartitioner

    from pipeline.runtimes.kafka.partitioner import RememberingPartitioner
    from pipeline.runtimes.kafka.worker import build_app

    default, remembering = DefaultPartitioner(), RememberingPartitioner()
    keys = [os.urandom(n % 40 + 1) for n in range(2_000)] + [b"r-" + b"a" * 32, b"dienst|web"]
    for key in keys + keys[:100]:
        for n in (1, 3, 4, 12):
            parts = list(range(n))
            assert remembering(key, parts, parts) == default(key, parts, parts)
    assert remembering(None, [0, 1], [1]) == 1  # no key: an available partition
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1", kafka_seal=0)
    topology = topology_for(settings, scorer_for(settings))
    app = build_app(settings, topology)
    assert isinstance(app.producer.partitioner, RememberingPartitioner)
