"""An agent's key store reads, off the event loop: the prefetch of a run (bounded) and the
lookup of a record whose key is not cached (waited for).

Key store calls are synchronous, and on the event loop a key store that accepted the
connection and went silent (a PostgreSQL behind a black hole, a stuck server) held the
loop for the whole call deadline (KLANTSIGNAAL_KEYSTORE_CALL_TIMEOUT_SECONDS, 10 s) per
call, and for the whole outage while a lookup was retried in place: every other agent,
the offset commits and the delivery callbacks waited with it. So an agent reads keys off
the loop on two threads of its own, each started at its first read, each with its own
connection (the key store keeps one per thread for these reads): one for the prefetches,
one for the records' lookups. A lookup never queues behind a prefetch: a prefetch does
no retries (in_place.py's Outage never counts it), so a record waiting behind one the
key store left hanging would only start its own first attempt, and count as a retry
that a rebalance stops the worker for, after that prefetch's whole call deadline.

- Before a run the worker reads the keys of its records' routes in one statement
  (`Sealer.prefetch_routes`, best effort). The run waits for it at most `wait_seconds`
  (the loop is free meanwhile); past that the run goes on without it, and while a
  prefetch is still under way (the key store is slow) none is started.
- Each record is opened on the loop from the key cache only (`codec.open_input` with
  `cached_only`: `Sealer.open_cached`). A record whose key is not cached (not prefetched,
  a prefetch that came late or failed, a key due to leave the cache within the store's
  `open_margin`) is opened on the thread instead (`lookup`): its key read as before,
  retried in place there (in_place.py: past the outage limit the worker stops, exit 75,
  the record not acked), the agent awaiting it. The agent takes no other record
  meanwhile (concurrency 1: order within a partition kept, nothing skipped, nothing acked
  before it is processed); the other agents, commits and callbacks go on.
- The key then stays cached for at least the margin (2 s), so the record's state and
  outputs, looked up by klant inside the stages on the loop, find it there.

A record whose key is cached (the usual case) and a run whose routes are all cached do
not leave the loop at all. `close()` (the agent's end) lets both threads drop their
connections and return, without waiting for a read that may hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pipeline.sealing import Sealer

T = TypeVar("T")
log = logging.getLogger(__name__)

PREFETCH_WAIT_SECONDS = 0.5  # a prefetch of 64 routes takes milliseconds when all is well
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


class KeyReads:
    """An agent's key reads off the loop (see the module docstring): `await
    reads(record_keys)`, the prefetch before a run, and `await reads.lookup(call, *args)`
    for a record whose key is not cached."""

    def __init__(self, sealer: Sealer, wait_seconds: float = PREFETCH_WAIT_SECONDS) -> None:
        self._sealer = sealer
        self.wait_seconds = wait_seconds
        self._prefetches = _Reads("key-prefetch", sealer)
        self._lookups = _Reads("key-lookups", sealer)  # never behind a prefetch
        self._busy: asyncio.Future[None] | None = None  # the prefetch under way
        self.skipped = 0  # prefetches not started: the previous one was still under way
        self.late = 0  # prefetches the run stopped waiting for
        self.lookups = 0  # records opened on the thread (their keys not cached)

    async def __call__(self, keys: Iterable[bytes | None]) -> None:
        routes = self._sealer.routes_to_prefetch(keys)  # the cache only: on the loop
        if not routes:
            return
        if self._busy is not None and not self._busy.done():
            self.skipped += 1
            return
        self._busy = busy = self._prefetches.submit(lambda: self._prefetch(routes))
        try:
            await asyncio.wait_for(asyncio.shield(busy), self.wait_seconds)
        except TimeoutError:
            self.late += 1
            log.warning(
                "key prefetch still waiting for the key store after %.1f s: the run goes on, "
                "its records look their keys up one by one",
                self.wait_seconds,
            )

    async def lookup(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` on the lookup thread, awaited as long as it takes (a key store
        call with its retries in place); what it raises is raised here."""
        self.lookups += 1
        result: T = await self._lookups.submit(lambda: call(*args))
        return result

    def close(self) -> None:
        """Both threads drop their connections and return once their current read (if
        any) is over; not waited for. A later read starts a new thread."""
        self._prefetches.close()
        self._lookups.close()

    def _prefetch(self, routes: list[str]) -> None:
        try:
            self._sealer.prefetch_routes(routes)
        except Exception as exc:  # best effort (never a value logged)
            log.debug("key prefetch failed: %s", type(exc).__name__)


class _Reads:
    """One thread running the calls submitted to it, one at a time, in order."""

    def __init__(self, name: str, sealer: Sealer) -> None:
        self._name = name
        self._sealer = sealer
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        if self._thread is None:
            # The key store keeps a connection per thread for these reads. A daemon: a
            # read hanging at exit does not hold the process up.
            self._thread = threading.Thread(
                target=self._serve, args=(self._jobs,), name=self._name, daemon=True
            )
            self._thread.start()
        self._jobs.put((loop, done, call))
        return done

    def close(self) -> None:
        if self._thread is None:
            return
        self._jobs.put(None)  # the thread's last job: after whatever it has in hand
        self._thread = None
        self._jobs = queue.SimpleQueue()  # a new thread (a later read) gets a queue of its own

    def _serve(self, jobs: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            job = jobs.get()
            if job is None:  # closed: this thread's connection goes with it
                with contextlib.suppress(Exception):
                    self._sealer.release_reads()
                return
            loop, done, call = job
            try:
                outcome: tuple[Any, BaseException | None] = (call(), None)
            except BaseException as exc:  # the awaiting agent decides; the thread goes on
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, done, *outcome)


def _settle(done: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if done.done():  # cancelled: nobody waits for it any more
        return
    if exc is not None:
        done.set_exception(exc)
    else:
        done.set_result(result)
