"""Retry in place: what a worker's agent needs from outside (the key store, the producer)
is retried where it failed, never skipped.

faust acks a record in its stream's `finally`, whatever the agent did with it: an error
that escapes the agent (a key store that is away while a record is opened or an output
sealed, a send the producer refuses) would skip the record, and a dead letter is no
answer either (the record was fine; the database was not). So these calls are retried
with a bounded backoff (0.25 s doubling to at most 5 s between attempts), with a warning
per attempt and a line when it works again. An outage that outlasts
`KLANTSIGNAAL_KAFKA_OUTAGE_SECONDS` (default 300) stops the worker at once, exit code 75,
without acking the record: its offset is not committed, so the restarted worker (or
another one in the group) processes it again. Stopping, not skipping: a skipped answer is
a citizen nobody calls back, and a worker that exits is seen by the operator (and
restarted by the orchestrator); one that skips is not.

Key store calls are synchronous. The lookup that opens a record whose key is not cached
runs on its agent's key-read thread (key_reads.py), retried there while the agent
awaits it: the event loop (other agents, commits, delivery callbacks) goes on, and so
`Outage` counts retries from several threads. (Once the waiting agent's queue is full,
faust's delivery waits for it, fast_delivery.py NoPauseOnFullQueue, and the other agents
only drain what they hold.) A lookup inside a stage's state access (a
key the record's own did not bring into the cache: rare) is retried on the loop and
blocks it while it waits. Consumer heartbeats run in faust's consumer thread, so the
group keeps the worker meanwhile (session timeout 10 s), and aiokafka's poll limit
(faust's `broker_max_poll_interval`, 1,000 s) is above the outage limit. A rebalance is
another matter: faust hands partitions back on the event loop and waits for the record
in hand, which a retry holds up; past the rebalance timeout (20 s) the group gives the
partitions to another worker, which processes the record again, while this one, once the
dependency answers, would go on sending outputs and table changes for partitions it no
longer owns. So a rebalance that begins during a retry (or a retry that fails while one
is under way) stops the worker at once, exit 75, from the consumer thread
(`partitions_revoked`): nothing sent, acked or committed after it.

A stop (SIGTERM, SIGINT) is the same: faust's shutdown waits for the record in hand to be
acked before it commits and leaves the group (its consumer's `wait_empty`, a warning every
10 s), so a record in a retry held a stopping worker for the rest of the outage limit (300
s), long past an orchestrator's grace period (10-30 s, then SIGKILL). So a stop that
begins during a retry (`worker_stops`, from the app's `on_stop`), or a retry that fails
once the stop began, stops the worker at once, exit 75, the record not acked; a first
attempt in flight ends within its call deadline. Without a retry the stop is faust's
graceful one (the record in hand finished, offsets committed). Not covered: a retry that
runs on the event loop itself (`retry`, a stage's key lookup), since the signal handler runs
on that loop: the stop waits for the retry's end or the outage limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

EXIT_OUTAGE = 75  # EX_TEMPFAIL: a dependency is away; start again when it is back
PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0, 5.0)  # then 5 s each time


def stop_worker(what: str, exc: BaseException) -> NoReturn:
    """Exit now, without faust's shutdown: that would ack (and commit) the record in hand."""
    log.critical(
        "%s still failing (%r); the worker stops (exit %d) rather than skip the record: "
        "it is processed again after the restart",
        what,
        exc,
        EXIT_OUTAGE,
    )
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):  # exiting anyway
            handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_OUTAGE)


class PartitionsTaken(Exception):
    """The group takes the worker's partitions while a record waits for a dependency."""


class WorkerStopping(Exception):
    """The worker is told to stop (SIGTERM) while a record waits for a dependency."""


@dataclass
class Outage:
    """How long a dependency may be away before the worker stops."""

    limit_seconds: float = 300.0
    pauses: tuple[float, ...] = PAUSES
    give_up: Callable[[str, BaseException], NoReturn] = field(default=stop_worker)
    clock: Callable[[], float] = time.monotonic
    _retrying: int = field(default=0, init=False, repr=False)  # retries under way
    # Retries run on the event loop and on the agents' key-read threads (key_reads.py):
    # the count changes under a lock (a lost update would leave a retry counted for good).
    _count_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _revoking: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def pause(self, attempt: int) -> float:
        return self.pauses[min(attempt, len(self.pauses) - 1)]

    def partitions_revoked(self, begins: bool) -> None:
        """Called from the consumer thread when a rebalance takes the worker's partitions
        (`begins`) and when faust has handed them back. A record in an in-place retry then
        stops the worker at once (see the module docstring)."""
        if not begins:
            self._revoking.clear()
            return
        self._revoking.set()
        if self._retrying:
            self.give_up(
                "a record waiting for a dependency while the group takes the partitions",
                PartitionsTaken("rebalance during an in-place retry"),
            )

    def worker_stops(self) -> None:
        """Called when the worker begins to stop (SIGTERM), before faust's shutdown waits
        for the record in hand: a record in an in-place retry stops the worker at once, and
        so does a retry that fails from now on (see the module docstring)."""
        self._stopping.set()
        if self._retrying:
            self.give_up(
                "a record waiting for a dependency while the worker stops",
                WorkerStopping("stop (SIGTERM) during an in-place retry"),
            )

    def _count(self, change: int) -> None:
        with self._count_lock:
            self._retrying += change

    def _failed(self, what: str, exc: BaseException, attempt: int, began: float) -> float:
        """Log the failure; the pause before the next attempt (or give up)."""
        waited = self.clock() - began
        if self._revoking.is_set():
            self.give_up(f"{what}, while the group takes the partitions,", exc)
        if self._stopping.is_set():
            self.give_up(f"{what}, while the worker stops,", exc)
        if waited >= self.limit_seconds:
            self.give_up(what, exc)
        pause = min(self.pause(attempt), max(0.0, self.limit_seconds - waited))
        log.warning(
            "%s failed (attempt %d, %.1f s so far): %r; retrying in place in %.2f s",
            what,
            attempt + 1,
            waited,
            exc,
            pause,
        )
        return pause

    def _recovered(self, what: str, attempt: int, began: float) -> None:
        if attempt:
            log.warning(
                "%s works again after %d failed attempt(s), %.1f s",
                what,
                attempt,
                self.clock() - began,
            )

    def retry(
        self, what: str, call: Callable[[], T], transient: Callable[[BaseException], bool]
    ) -> T:
        """call() until it works; errors that are not `transient` are raised at once."""
        attempt, began, counted = 0, self.clock(), False
        try:
            while True:
                try:
                    result = call()
                except Exception as exc:
                    if not transient(exc):
                        raise
                    if not counted:  # a retry under way (partitions_revoked)
                        self._count(1)
                        counted = True
                    time.sleep(self._failed(what, exc, attempt, began))
                    attempt += 1
                    continue
                self._recovered(what, attempt, began)
                return result
        finally:
            if counted:
                self._count(-1)

    async def retry_async(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """await call() until it works (any error: a send that failed is sent again; the
        record has a deterministic id, so a copy that did get out is deduplicated)."""
        attempt, began, counted = 0, self.clock(), False
        try:
            while True:
                try:
                    result = await call()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not counted:  # a retry under way (partitions_revoked)
                        self._count(1)
                        counted = True
                    await asyncio.sleep(self._failed(what, exc, attempt, began))
                    attempt += 1
                    continue
                self._recovered(what, attempt, began)
                return result
        finally:
            if counted:
                self._count(-1)
