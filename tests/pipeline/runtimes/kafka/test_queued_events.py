"""Records taken from an agent's queue (queued_events.py) are acked on faust's real stream
iterators, the Cython one and the pure-Python one (NO_CYTHON=1, or no compiled extension),
as the worker's agent loop takes them (worker.py `run_group`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust
import faust.streams
import pytest
from faust.events import Event
from faust.types.tuples import Message

from pipeline.runtimes.kafka.queued_events import take_queued


class ChannelStream:
    """A faust stream on an in-memory channel, as the worker's agents read one: `put`
    queues the record at an offset of `contact-events` partition 0, read by one stream."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.app = faust.App(
            name,
            broker="kafka://127.0.0.1:1",  # never connected: the stream reads a channel
            datadir=str(tmp_path),
            web_enabled=False,
            autodiscover=False,
        )
        self.app.flow_control.resume()
        self.stream = self.app.stream(self.app.channel())
        self.messages: list[Message] = []

    def put(self, offset: int) -> None:
        message = Message(
            "contact-events", 0, offset, 0.0, 0, {}, b"k", b"v", None,
            generation_id=self.app.consumer_generation_id,
        )  # fmt: skip
        message.refcount = 1  # one stream reads it, as faust's delivery counts it
        self.messages.append(message)
        self.stream.channel.queue.put_nowait(Event(self.app, b"k", b"v", {}, message))

    def acked(self, first: int = 5) -> list[bool]:
        return [m.acked for m in self.messages[:first]]


async def _agent_loop(stream: Any, put: Any) -> list[int]:
    """The worker's run_group: the event faust yields, then what waits in its queue."""
    seen: list[int] = []
    async for event in stream.events():
        seen.append(event.message.offset)
        if event.message.offset == 5:
            break
        for _ in range(64):
            queued = take_queued(stream)
            if queued is None:
                break
            await stream.ack(event)
            event = queued
            seen.append(event.message.offset)
        put(5)  # the next record: faust's iterator acks what it yielded before taking it
    return seen


@pytest.mark.parametrize("iterator", ["cython", "pure-python"])
def test_every_record_of_a_queued_run_is_acked_once_processed(
    iterator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if iterator == "pure-python":
        monkeypatch.setattr(faust.streams, "_CStreamIterator", None)
    elif faust.streams._CStreamIterator is None:
        pytest.skip("faust built without its Cython extension")

    async def scenario() -> tuple[list[int], list[bool]]:
        queued = ChannelStream("queued-events-test", tmp_path)
        for offset in range(5):
            queued.put(offset)
        seen = await asyncio.wait_for(_agent_loop(queued.stream, queued.put), 20)
        return seen, queued.acked()

    seen, acked = asyncio.run(scenario())
    assert seen == [0, 1, 2, 3, 4, 5]
    # Without the check of the iterator, the pure-Python one leaves offset 4 (the last of
    # the run) unacked for good: the commit by position never passes it.
    assert acked == [True] * 5


@pytest.mark.parametrize("holds", [False, True])
def test_a_run_that_holds_nothing_acks_each_record_before_the_next_is_processed(
    holds: bool, tmp_path: Path
) -> None:
    """The worker's run (`run_queued`) on faust's real stream: an agent that holds nothing
    (the monitoring agent) has every earlier record of a run acked when it processes the
    next, so a commit mid-run flushes its deferred table writes at most one record ahead
    of the acks; an agent holding observations acks none before they are sent (then all,
    the last by faust's iterator)."""
    from pipeline.runtimes.kafka.queued_events import run_queued

    if faust.streams._CStreamIterator is None:
        pytest.skip("faust built without its Cython extension: no queued runs")

    async def scenario() -> tuple[list[list[bool]], list[bool], list[bool]]:
        queued = ChannelStream("run-queued-test", tmp_path)
        stream, messages, put = queued.stream, queued.messages, queued.put

        acked_at: list[list[bool]] = []  # acks of the run's records as each is processed
        at_send: list[bool] = []

        async def process(event: Any, held: list[Any]) -> None:
            acked_at.append([m.acked for m in messages[:5]])
            if holds:
                held.append(event.message.offset)

        async def send_held(held: list[Any]) -> None:
            at_send.extend(m.acked for m in messages[:5])

        for offset in range(5):
            put(offset)
        async for event in stream.events():
            if event.message.offset == 5:
                break
            await run_queued(stream, event, process, send_held, 64)
            put(5)  # the next record: faust's iterator acks the run's last before it
        return acked_at, at_send, [m.acked for m in messages[:5]]

    acked_at, at_send, acked = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert len(acked_at) == 5 and acked == [True] * 5
    if holds:
        assert acked_at == [[False] * 5] * 5 and at_send == [False] * 5
    else:
        assert acked_at == [[True] * k + [False] * (5 - k) for k in range(5)]
        assert at_send == []
