"""The key prefetch of an agent's run, off the event loop and bounded.

Before a run of records the worker reads the keys of their routes in one statement
(`Sealer.prefetch_routes`, best effort: a record whose key is not cached looks it up
itself, retried in place). Key store calls are synchronous, and on the event loop a key
store that accepted the connection and went silent (a PostgreSQL behind a black hole, a
stuck server) held the loop for the whole call deadline
(KLANTSIGNAAL_KEYSTORE_CALL_TIMEOUT_SECONDS, 10 s) per run: every other agent, the offset
commits and the delivery callbacks waited with it. Now the read runs on a thread of its
own and the run waits for it at most `wait_seconds` (the loop is free meanwhile); past
that the run goes on without it, and while a prefetch is still under way (the key store
is slow) none is started. The records' own lookups are unchanged (on the loop, retried
in place, bounded by the call deadline). A run whose routes are all cached (the usual
case) does not leave the loop at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Iterable
from typing import Any

from pipeline.sealing import Sealer

log = logging.getLogger(__name__)

PREFETCH_WAIT_SECONDS = 0.5  # a prefetch of 64 routes takes milliseconds when all is well


class KeyPrefetch:
    """`await prefetch(record_keys)` before a run (see the module docstring)."""

    def __init__(self, sealer: Sealer, wait_seconds: float = PREFETCH_WAIT_SECONDS) -> None:
        self._sealer = sealer
        self.wait_seconds = wait_seconds
        self._jobs: queue.SimpleQueue[tuple[Any, asyncio.Future[None], list[str]]] = (
            queue.SimpleQueue()
        )
        self._busy: asyncio.Future[None] | None = None  # the prefetch under way
        self._thread: threading.Thread | None = None
        self.skipped = 0  # prefetches not started: the previous one was still under way
        self.late = 0  # prefetches the run stopped waiting for

    async def __call__(self, keys: Iterable[bytes | None]) -> None:
        routes = self._sealer.routes_to_prefetch(keys)  # the cache only: on the loop
        if not routes:
            return
        if self._busy is not None and not self._busy.done():
            self.skipped += 1
            return
        loop = asyncio.get_running_loop()
        self._busy = busy = loop.create_future()
        if self._thread is None:
            # One thread for good: the key store keeps a connection per thread for these
            # reads. A daemon: a read hanging at exit does not hold the process up.
            self._thread = threading.Thread(target=self._serve, name="key-prefetch", daemon=True)
            self._thread.start()
        self._jobs.put((loop, busy, routes))
        try:
            await asyncio.wait_for(asyncio.shield(busy), self.wait_seconds)
        except TimeoutError:
            self.late += 1
            log.warning(
                "key prefetch still waiting for the key store after %.1f s: the run goes on, "
                "its records look their keys up one by one",
                self.wait_seconds,
            )

    def _serve(self) -> None:
        while True:
            loop, busy, routes = self._jobs.get()
            try:
                self._sealer.prefetch_routes(routes)
            except Exception as exc:  # best effort (never a value logged)
                log.debug("key prefetch failed: %s", type(exc).__name__)
            finally:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(_settle, busy)


def _settle(busy: asyncio.Future[None]) -> None:
    if not busy.done():
        busy.set_result(None)
