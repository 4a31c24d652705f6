"""The hold of context_first.py against faust's own pause and resume, without a broker: a
held answers partition stays out of the active set through faust's recovery resume and a
fix-5 pause/resume, and comes back when its contacts partition is processed to the end
offset read after the assignment, or when that partition stalls."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from pipeline.runtimes.kafka.agent_plan import consumed_topics
from pipeline.runtimes.kafka.context_first import ContextFirst, ContextFirstConsumer
from pipeline.sentiment import lexicon_scorer
from pipeline.settings import Settings
from pipeline.topology import build_topology

ANSWERS, CONTACTS, FEEDBACK = (
    TP("p-survey-responses", 0),
    TP("p-contact-events", 0),
    TP("p-page-feedback", 0),
)


class _FaustLike:
    """faust's Consumer as far as the hold sees it (pause/resume keep an active set)."""

    def __init__(self, plan: ContextFirst) -> None:
        self.app = SimpleNamespace(context_first=plan, rebalancing=False)
        self._paused_partitions: set[Any] = set()
        self.active: set[Any] = set()
        self._committed_offset: dict[Any, int] = {}
        self.processed: dict[Any, int] = {}
        self.ends = {CONTACTS: 10}
        self.flow_active = True
        self.should_stop = False

    def pause_partitions(self, tps: Any) -> None:
        self.active.difference_update(tps)
        self._paused_partitions.update(tps)

    def resume_partitions(self, tps: Any) -> None:
        self.active.update(tps)
        self._paused_partitions.difference_update(tps)

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        self._paused_partitions.intersection_update(assigned)
        self.active = set(assigned) - self._paused_partitions
        self.pause_partitions(assigned)  # faust's app pauses all, recovery resumes them

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.active.difference_update(revoked)

    def safe_offset(self, tp: Any) -> int | None:
        return self.processed.get(tp)

    async def highwaters(self, *tps: Any) -> dict[Any, int]:
        return {tp: self.ends[tp] for tp in tps}


class _Consumer(ContextFirstConsumer, _FaustLike):
    def __init__(self, plan: ContextFirst) -> None:
        self._init_context_first()
        super().__init__(plan)


def _consumer(stall: float = 30.0) -> _Consumer:
    return _Consumer(ContextFirst({ANSWERS.topic: (CONTACTS.topic,)}, stall))


async def _until(check: Any, timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_the_plan_holds_answers_for_contacts_only() -> None:
    settings = Settings(kafka_topic_prefix="p-")
    topology = build_topology(settings, lexicon_scorer())
    plan = ContextFirst.for_topology(settings, topology, consumed_topics(topology))
    assert plan.after == {ANSWERS.topic: (CONTACTS.topic,)}
    assert plan.holds_for({ANSWERS, CONTACTS, FEEDBACK}) == {ANSWERS: (CONTACTS,)}


def test_answers_wait_through_faust_resumes_until_contacts_reach_their_end() -> None:
    async def scenario() -> None:
        consumer = _consumer()
        await consumer.on_partitions_assigned({ANSWERS, CONTACTS, FEEDBACK})
        consumer.resume_partitions({ANSWERS, CONTACTS, FEEDBACK})  # faust's recovery
        assert consumer.active == {CONTACTS, FEEDBACK}
        consumer.pause_partitions([ANSWERS])  # offsets.py fix 5 seeking back
        consumer.resume_partitions([ANSWERS])
        consumer.processed[CONTACTS] = 9
        await asyncio.sleep(0.2)
        assert ANSWERS not in consumer.active  # one contact short of the end
        consumer.processed[CONTACTS] = 10
        await _until(lambda: ANSWERS in consumer.active)
        assert ANSWERS not in consumer._paused_partitions

    asyncio.run(scenario())


def test_a_release_before_faust_resumes_leaves_the_resume_to_faust() -> None:
    async def scenario() -> None:
        consumer = _consumer()
        consumer._committed_offset[CONTACTS] = 10  # nothing to replay
        await consumer.on_partitions_assigned({ANSWERS, CONTACTS})
        await _until(lambda: not consumer._held)
        assert ANSWERS not in consumer.active  # still paused by faust's recovery
        consumer.resume_partitions({ANSWERS, CONTACTS})
        assert consumer.active == {ANSWERS, CONTACTS}

    asyncio.run(scenario())


def test_a_stalled_contacts_partition_releases_its_answers_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        consumer = _consumer(stall=0.3)
        await consumer.on_partitions_assigned({ANSWERS, CONTACTS})
        consumer.resume_partitions({ANSWERS, CONTACTS})
        consumer.processed[CONTACTS] = 4
        await _until(lambda: ANSWERS in consumer.active)

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert "without progress" in caplog.text


def test_a_revoke_ends_the_hold_without_resuming() -> None:
    async def scenario() -> None:
        consumer = _consumer()
        await consumer.on_partitions_assigned({ANSWERS, CONTACTS})
        consumer.resume_partitions({ANSWERS, CONTACTS})
        await consumer.on_partitions_revoked({ANSWERS, CONTACTS})
        consumer.processed[CONTACTS] = 10
        await asyncio.sleep(0.2)
        assert consumer.active == set() and not consumer._held

    asyncio.run(scenario())


def test_a_hold_that_fails_releases_its_answers(caplog: pytest.LogCaptureFixture) -> None:
    """A watch that raises (a bug in the bookkeeping it reads) must not leave the answers
    partition paused until the next rebalance: it releases them, logged."""

    def broken(tp: Any) -> int | None:
        raise RuntimeError("bookkeeping bug")

    async def scenario() -> None:
        consumer = _consumer()
        consumer.safe_offset = broken  # type: ignore[method-assign]
        await consumer.on_partitions_assigned({ANSWERS, CONTACTS})
        consumer.resume_partitions({ANSWERS, CONTACTS})  # faust's recovery
        await _until(lambda: ANSWERS in consumer.active)
        assert not consumer._held

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert "releasing them" in caplog.text
