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
        app = faust.App(
            "queued-events-test",
            broker="kafka://127.0.0.1:1",  # never connected: the stream reads a channel
            datadir=str(tmp_path),
            web_enabled=False,
            autodiscover=False,
        )
        app.flow_control.resume()
        stream = app.stream(app.channel())
        messages: list[Message] = []

        def put(offset: int) -> None:
            message = Message(
                "contact-events", 0, offset, 0.0, 0, {}, b"k", b"v", None,
                generation_id=app.consumer_generation_id,
            )  # fmt: skip
            message.refcount = 1  # one stream reads it, as faust's delivery counts it
            messages.append(message)
            stream.channel.queue.put_nowait(Event(app, b"k", b"v", {}, message))

        for offset in range(5):
            put(offset)
        seen = await asyncio.wait_for(_agent_loop(stream, put), 20)
        return seen, [m.acked for m in messages[:5]]

    seen, acked = asyncio.run(scenario())
    assert seen == [0, 1, 2, 3, 4, 5]
    # Without the check of the iterator, the pure-Python one leaves offset 4 (the last of
    # the run) unacked for good: the commit by position never passes it.
    assert acked == [True] * 5
