"""Handing a fetched record to the agents without four asyncio tasks per record (issue 10).

faust's drain loop hands each fetched record over with
`wait_first(callback(message), suspend_flow.wait())`, so that a rebalance can break off a
delivery that waits (for flow control, a full queue or a full producer buffer). mode's
`wait_first` wraps each of the two, and the service's stopped and crashed events, in a
task, waits on all four and cancels three: per record, about as much work as handing it
over. Most deliveries never wait. When nothing the delivery could wait on holds (the flow
is not suspended or stopping, flow control is active, the producer buffer is under its
limit, faust's callback lock is free and no queue of the record's partition is full), the
delivery runs to its end without giving up the event loop, so the rebalance it was raced
against cannot come in between: it is awaited directly, with the same result. Otherwise,
and for every other `wait_first`, faust's own runs.

And a full agent queue no longer pauses partitions: faust takes a partition out of its
active set when a queue passes its high-water mark and puts it back when the queue
drains. A fetch then leaves out, or drops, records of a partition paused meanwhile,
which offsets fix 5 has to notice and fetch again (a seek back, more than once while
the batch in hand still delivers). With one agent for all input partitions
(agent_plan.py) its queue is under pressure whenever there is a backlog, so that churn
ran constantly. Now a full queue simply makes the delivery wait for room (faust's own
path for a full queue), which holds up the fetch loop: the same back-pressure, without
dropping what was fetched.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mode.services import WaitResults

_EVENT_WAIT = asyncio.Event.wait.__code__


class DirectDelivery:
    """Mixin for faust's Consumer (before it in the bases): the drain loop's per-record
    `wait_first` without tasks when the delivery cannot wait."""

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        if timeout is None and len(coros) == 2:
            message = self._plain_delivery(*coros)
            if message is not None and self._cannot_wait(message):
                coros[1].close()  # suspend_flow.wait(), never started
                result = await coros[0]
                return WaitResults([coros[0]], [result], False)
        return await super().wait_first(*coros, timeout=timeout)  # type: ignore[misc]

    def _plain_delivery(self, deliver: Any, suspended: Any) -> Any:
        """The message, when the call is the drain loop's `callback(message)` raced against
        `suspend_flow.wait()` (both coroutines not yet started); else None."""
        frame = getattr(suspended, "cr_frame", None)
        if getattr(suspended, "cr_code", None) is not _EVENT_WAIT or frame is None:
            return None
        if frame.f_locals.get("self") is not self.suspend_flow:  # type: ignore[attr-defined]
            return None
        started = getattr(deliver, "cr_frame", None)
        return started.f_locals.get("message") if started is not None else None

    def _cannot_wait(self, message: Any) -> bool:
        """Nothing the delivery of `message` (faust's Conductor.on_message, 0.15) could wait
        on. Any doubt (another faust with other internals): False, faust's own path."""
        try:
            return self._nothing_to_wait_on(message)
        except AttributeError:
            return False

    def _nothing_to_wait_on(self, message: Any) -> bool:
        if self.suspend_flow.is_set():  # type: ignore[attr-defined]
            return False
        if self._stopped.is_set() or self._crashed.is_set():  # type: ignore[attr-defined]
            return False
        app = self.app  # type: ignore[attr-defined]
        if not app.flow_control.is_active():
            return False
        buffer = app.producer.buffer
        if buffer.max_messages and buffer.size > buffer.max_messages:
            return False
        conductor = app.topics
        if conductor._tp_to_callback_lock.locked():
            return False
        channels = conductor._tp_index.get(message.tp)
        return bool(channels) and not any(channel.queue.full() for channel in channels)


class NoPauseOnFullQueue:
    """Mixin for faust's Consumer: a full agent queue makes the delivery wait (back
    pressure) instead of pausing the partition, whose fetched records faust would drop."""

    def on_buffer_full(self, tp: Any) -> None:
        return None

    def on_buffer_drop(self, tp: Any) -> None:
        return None
