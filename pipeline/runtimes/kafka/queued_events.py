"""Records already waiting in an agent's queue, taken without a trip through the event loop.

faust's stream iterator hands an agent one event per turn of the event loop: before each
event it yields to the loop (`await asyncio.sleep(0)`, an epoll call with every ready
callback run), takes the event through its iterator and acks it afterwards. With a
backlog the agent's queue holds hundreds of records, and that round trip per record was
a large part of what the worker spends outside the stages (docs/kafka.md, Performance).

`take_queued` takes the next event waiting in the stream's queue the way faust's own
iterator does (faust 0.15 `_prepare_event`): a record of an old consumer generation, or
taken while flow control is off (a rebalance), is left out unacked exactly as faust
leaves it out; otherwise the message is tracked as unacked and made the stream's current
event. The caller processes it and acks the previous one (`Stream.ack`, faust's own);
the stream's iterator acks the last one as it acks the event it yielded. So every
record is acked once, after it was processed, in partition order, and the offset
bookkeeping (offsets.py) sees exactly what it saw before. A run of queued records is
bounded (`QUEUED_RUN_MAX` in the worker) and ends when faust's producer buffer is full
(above its limit faust's delivery stops to drain it), so producer, fetcher and commit
tasks still get the loop between runs; from half full on, the worker gives the loop one
turn per record within the run (its task then sends a changelog write), so a run (whose
monitor observations go out coalesced at its end) is not cut short by a busy buffer.

That last ack is the Cython iterator's (faust's default): it acks the stream's *current*
event. faust's pure-Python iterator (`NO_CYTHON=1`, or a faust built without its
extension) acks the event it took itself, so the last record of every run would stay
unacked for good (the commit never passes it); with that iterator nothing is taken here.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import faust.streams
from faust.types import EventT


def take_queued(stream: Any) -> Any:
    """The next event already in `stream`'s queue, made its current event; None when the
    queue is empty (or holds an error for the iterator to raise), the stream is stopping,
    faust's producer buffer (table changelog writes, drained by a task of its own) is
    full, or the event must be skipped (old generation, flow stopped: faust skips it
    unacked)."""
    if stream.should_stop or faust.streams._CStreamIterator is None:
        return None  # stopping, or an iterator that would not ack the last one taken here
    if producer_buffer_busy(stream, full=True):
        return None  # let faust's producer drain its buffer of changelog writes first
    queue = stream.channel.queue
    if queue._errors or queue.empty():
        return None
    event = queue.get_nowait()
    if not isinstance(event, EventT):  # not from a topic: leave it to faust's iterator
        raise TypeError(f"unexpected value in an agent queue: {type(event).__name__}")
    app = stream.app
    message = event.message
    if not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id:
        return None  # as faust: skipped, not tracked, not acked (a rebalance replays it)
    if message.topic in app.topics.acking_topics and not message.tracked:
        message.tracked = True
        app.consumer._unacked_messages.add(message)
        stream._on_message_in(message.tp, message.offset, message)
    stream._on_stream_event_in(message.tp, message.offset, stream, event)
    stream._set_current_event(event)
    return event


def waiting_keys(stream: Any, event: Any, limit: int) -> list[bytes | None]:
    """The record keys of `event` and of up to `limit` events waiting behind it in the
    stream's queue (read, not taken): what a run may process next."""
    waiting = getattr(stream.channel.queue, "_queue", None) or ()
    keys = [event.message.key]
    for queued in itertools.islice(waiting, limit):
        message = getattr(queued, "message", None)
        if message is not None:
            keys.append(message.key)
    return keys


def producer_buffer_busy(stream: Any, full: bool = False) -> bool:
    """faust's producer buffer of table changelog writes is half full (`full`: at its
    limit): its own task should drain it (it gets the event loop when the agent yields)."""
    buffer = stream.app.producer.buffer
    limit = buffer.max_messages if full else buffer.max_messages / 2
    return bool(buffer.max_messages and buffer.size >= limit)


async def run_queued(
    stream: Any,
    event: Any,
    process: Callable[[Any, list[Any]], Awaitable[None]],
    send_held: Callable[[list[Any]], Awaitable[None]],
    limit: int,
) -> None:
    """A run: the event faust's iterator yielded, then up to `limit` queued ones, each
    through `process(event, held)`. What `process` adds to `held` (the monitor's
    observations) goes out through `send_held` at the end of the run, before any record
    of the run is acked. While `held` is empty (an agent that holds nothing, such as the
    monitoring agent) each record is acked as soon as the next is taken, as faust's own
    iterator acks: deferred table writes flushed at a commit mid-run (table_writes.py)
    then reflect acked records plus at most the one in hand. The last record of a run is
    acked by faust's iterator, as the event it yielded (take_queued made it current)."""
    held: list[Any] = []
    unacked = [event]
    await process(event, held)
    for _ in range(limit):
        if producer_buffer_busy(stream):
            # faust's changelog buffer is half full: a turn of the loop per record lets
            # its task send a write, and the run goes on (until the buffer is full).
            await asyncio.sleep(0)
        queued = take_queued(stream)
        if queued is None:
            break
        if not held:  # nothing of the run waits to be sent: ack what is done now
            for done in unacked:
                await stream.ack(done)
            unacked.clear()
        unacked.append(queued)
        await process(queued, held)
    if held:
        await send_held(held)
    for done in unacked[:-1]:
        await stream.ack(done)
