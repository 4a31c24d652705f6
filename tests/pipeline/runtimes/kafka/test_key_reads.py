"""An agent's key store reads (pipeline/runtimes/kafka/key_reads.py): off the event
loop. A key store that accepted the connection and went silent (a PostgreSQL behind a
proxy that reads and answers nothing) used to hold the worker's event loop for the key
store's whole call deadline per run (the prefetch), and for the whole outage per record
whose key was not cached (its own lookup, retried in place); now the loop goes on at once:
the run waits at most the prefetch bound, and a record whose key is not cached waits for
its lookup on the agent's thread, retried in place there, and opens once the store answers
again."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import NamedTuple, NoReturn

import pytest

from pipeline.runtimes.kafka.in_place import Outage
from pipeline.runtimes.kafka.key_reads import KeyReads
from pipeline.runtimes.kafka.keystore import SqlKeyStore
from pipeline.runtimes.kafka.keystore_bounds import KeyStoreTimeouts
from pipeline.runtimes.kafka.worker import open_with_lookup_off_loop
from pipeline.sealing import NOT_CACHED, Sealer
from tests.pipeline.test_keystore_cache import Clock
from tests.support.keystore_proxy import proxied
from tests.support.tcp_proxy import CuttableProxy

CALL_SECONDS = 4.0  # the key store's call deadline here (10 s by default)
BOUNDS = KeyStoreTimeouts(connect_seconds=2, statement_ms=2000, call_seconds=CALL_SECONDS)
WAIT = 0.3  # the prefetch bound here (0.5 s by default)
Record = tuple[bytes, list[tuple[str, bytes]], bytes]


def _give_up(what: str, exc: BaseException) -> NoReturn:
    raise AssertionError(f"gave up: {what}: {exc!r}")


def records(n: int) -> list[Record]:
    out: list[Record] = []
    for i in range(n):
        klant = "k-" + uuid.uuid4().hex
        headers = [("ce_type", b"nl.klantsignaal.contact.v1"), ("ce_partitionkey", klant.encode())]
        out.append((klant.encode(), headers, f'{{"contactId":"c-{i}"}}'.encode()))
    return out


class _BehindProxy(NamedTuple):
    proxy: CuttableProxy
    plain: list[Record]
    sealed: list[Record]
    keys: list[bytes]
    outage: Outage
    store: SqlKeyStore
    worker: Sealer
    reads: KeyReads


def _worker_behind_proxy(postgres_url: str, count: int) -> _BehindProxy:
    """`count` records sealed by the edge (on the database directly), and a worker that
    reads their keys through a proxy the test can black-hole: its key store retries in
    place (outage limit 60 s) with the short BOUNDS, its key reads wait WAIT for a
    prefetch. The caller heals and cuts the proxy and closes the store."""
    proxy, url = proxied(postgres_url)
    plain = records(count)
    sealed = Sealer(SqlKeyStore(postgres_url)).seal_many(plain)  # the edge, direct
    keys = [key for key, _, _ in sealed]
    outage = Outage(limit_seconds=60, pauses=(0.1,), give_up=_give_up)
    store = SqlKeyStore(url, outage=outage, timeouts=BOUNDS)  # the worker's, via the proxy
    worker = Sealer(store)
    reads = KeyReads(worker, wait_seconds=WAIT)
    return _BehindProxy(proxy, plain, sealed, keys, outage, store, worker, reads)


async def _ticks(gaps: list[float]) -> None:
    """The longest the event loop went without giving this task a turn, tick by tick."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(0.02)
        now = loop.time()
        gaps.append(now - last)
        last = now


@pytest.mark.postgres
def test_a_key_store_that_hangs_does_not_hold_the_event_loop(postgres_url: str) -> None:
    proxy, plain, sealed, keys, _, store, worker, prefetch = _worker_behind_proxy(postgres_url, 20)

    async def scenario() -> tuple[float, list[float]]:
        loop = asyncio.get_running_loop()
        await prefetch(keys[:10])  # all well: read, and the prefetch's connection is open
        assert store.uncached_routes([k.decode() for k in keys[:10]]) == []
        proxy.black_hole()
        gaps: list[float] = []
        ticker = asyncio.create_task(_ticks(gaps))
        await asyncio.sleep(0.1)  # ticking
        began = loop.time()
        await prefetch(keys[10:])  # the store is silent: the run goes on after WAIT
        waited = loop.time() - began
        await prefetch(keys[10:])  # the last one still under way: not started again
        await asyncio.sleep(CALL_SECONDS + 2)  # the hung read is cut meanwhile
        ticker.cancel()
        return waited, gaps

    try:
        waited, gaps = asyncio.run(scenario())
        # Without the thread the loop stood still for the call deadline (4 s here).
        assert max(gaps) < CALL_SECONDS / 2, f"event loop held {max(gaps):.2f} s"
        assert waited < CALL_SECONDS / 2, f"the run waited {waited:.2f} s"
        assert (prefetch.late, prefetch.skipped) == (1, 1)
        assert store._deadline is not None and store._deadline.cuts >= 1  # the read was cut
        assert proxy.swallowed > 0
        proxy.heal()
        # The records' own lookups, as before: they open with their keys.
        assert [worker.open(*rec) for rec in sealed[10:]] == plain[10:]
        store._cache.clear()
        asyncio.run(prefetch(keys))  # and the prefetch works again on a new connection
        assert store.uncached_routes([k.decode() for k in keys]) == []
    finally:
        proxy.heal()
        proxy.cut()
        store.close()


def _heal_after(proxy: CuttableProxy, seconds: float) -> None:
    """The network comes back after `seconds` (a timer thread: not the loop's doing)."""
    timer = threading.Timer(seconds, proxy.heal)
    timer.daemon = True
    timer.start()


@pytest.mark.postgres
def test_a_record_whose_key_is_not_cached_waits_for_it_off_the_loop(postgres_url: str) -> None:
    """The worker opens a record (`open_with_lookup_off_loop`, as its agents do) while the
    store is silent: once with a key nobody prefetched (a lone record: a prefetch reads two or
    more), once behind a prefetch that came late. Each record waits for its key, retried
    in place through the cut connections, and opens when the store answers again; the
    event loop meanwhile never stood still for long. (With the lookup on the loop, as
    before, the loop stood still for the whole outage.)"""
    proxy, plain, sealed, keys, _, store, worker, reads = _worker_behind_proxy(postgres_url, 6)
    silent = CALL_SECONDS + 1.0  # the store answers again after this: past one cut at least

    async def scenario() -> tuple[list[object], list[float], list[float]]:
        loop = asyncio.get_running_loop()
        # read on the thread
        assert await open_with_lookup_off_loop(worker, reads, *sealed[0]) == plain[0]
        # cached: on the loop
        assert await open_with_lookup_off_loop(worker, reads, *sealed[0]) == plain[0]
        assert reads.lookups == 1
        gaps: list[float] = []
        ticker = asyncio.create_task(_ticks(gaps))
        await asyncio.sleep(0.1)  # ticking
        opened: list[object] = []
        waited: list[float] = []
        # 1. A record whose key nobody prefetched.
        proxy.black_hole()
        _heal_after(proxy, silent)
        began = loop.time()
        opened.append(await open_with_lookup_off_loop(worker, reads, *sealed[1]))
        waited.append(loop.time() - began)
        # 2. A run whose prefetch came late: its records wait behind it, then for their own.
        proxy.black_hole()
        _heal_after(proxy, silent)
        began = loop.time()
        await reads(keys[2:])
        opened += [await open_with_lookup_off_loop(worker, reads, *rec) for rec in sealed[2:]]
        waited.append(loop.time() - began)
        await asyncio.sleep(0.1)  # the ticker's turn after the last record
        ticker.cancel()
        return opened, waited, gaps

    try:
        cuts = store._deadline.cuts if store._deadline is not None else 0
        opened, waited, gaps = asyncio.run(scenario())
        assert opened == plain[1:]  # every record opened, none skipped or erased
        # Each waited for the store (it did not go on without its key) ...
        assert min(waited) >= CALL_SECONDS, f"waited {waited}"
        assert store._deadline is not None and store._deadline.cuts > cuts  # cut, retried
        assert reads.late == 1 and reads.lookups >= 3
        # ... and the loop went on meanwhile (on the loop: the whole outage, >= 5 s here).
        assert max(gaps) < CALL_SECONDS / 4, f"event loop held {max(gaps):.2f} s"
        assert proxy.swallowed > 0
    finally:
        proxy.heal()
        proxy.cut()
        store.close()


def test_a_run_whose_keys_are_cached_stays_on_the_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    plain = records(5)
    sealed = Sealer(SqlKeyStore(url)).seal_many(plain)
    keys = [key for key, _, _ in sealed]
    store = SqlKeyStore(url)
    prefetch = KeyReads(Sealer(store))
    asyncio.run(prefetch(keys[:1] + [None, b"k-not-a-route"]))  # one: its record looks it up
    assert prefetch._prefetches._thread is None
    asyncio.run(prefetch(keys))
    assert store.uncached_routes([k.decode() for k in keys]) == []  # read off the loop
    assert prefetch._prefetches._thread is not None
    prefetch.close()  # no thread now: one started by what follows would be seen
    asyncio.run(prefetch(keys))  # all cached: no thread hop (none would start)
    assert prefetch._prefetches._thread is None

    async def open_all() -> list[object]:
        return [await open_with_lookup_off_loop(prefetch._sealer, prefetch, *rec) for rec in sealed]

    assert asyncio.run(open_all()) == plain  # cached: opened on the loop, no thread hop
    assert prefetch._lookups._thread is None and prefetch.lookups == 0
    store.close()


def test_a_key_about_to_leave_the_cache_is_read_again_before_it_opens_a_record(
    tmp_path: Path,
) -> None:
    """A record opens on the loop only with a key cached at least `open_margin` more, so
    its state and outputs (by klant, on the loop) find the key still cached; a key closer
    to its bound is read again off the loop, and counts as missing for the prefetch. The
    plain `open` (sinks, replay) keeps using a key up to its bound, as before."""
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    plain = records(2)
    sealed = Sealer(SqlKeyStore(url)).seal_many(plain)
    clock = Clock()
    store = SqlKeyStore(url, cache_seconds=30, clock=clock)
    worker = Sealer(store)
    reads = KeyReads(worker)
    route, klant = sealed[0][0].decode(), plain[0][0].decode()
    # read off the loop
    assert asyncio.run(open_with_lookup_off_loop(worker, reads, *sealed[0])) == plain[0]
    assert reads.lookups == 1 and store.open_margin == 2.0
    clock.now += 30 - 2.5  # 2.5 s left: opens from the cache
    assert asyncio.run(open_with_lookup_off_loop(worker, reads, *sealed[0])) == plain[0]
    assert reads.lookups == 1
    clock.now += 1.0  # 1.5 s left: read again first, off the loop
    assert worker.open_cached(*sealed[0]) is NOT_CACHED
    assert worker.open(*sealed[0]) == plain[0]  # the plain open: cached up to the bound
    assert store.uncached_routes([route]) == [route]
    assert asyncio.run(open_with_lookup_off_loop(worker, reads, *sealed[0])) == plain[0]
    assert reads.lookups == 2
    assert store.cached_route(route) is not None  # a fresh 30 s ...
    clock.now += 29.0
    assert store.for_klant(klant, create=False) is not None  # ... and the klant's with it
    store.close()


@pytest.mark.postgres
def test_a_record_s_lookup_does_not_queue_behind_a_hanging_prefetch(postgres_url: str) -> None:
    """A prefetch the store left hanging (the run stopped waiting for it) does not hold a
    record's own lookup: the lookup starts at once, on its own thread and connection, and
    is an in-place retry (which a rebalance stops the worker for) once its first attempt
    is cut, one call deadline on. (On the prefetch's thread it started only when the
    prefetch was cut, one deadline later, and was no retry for two: a rebalance then saw
    none and the worker did not stop.)"""
    proxy, plain, sealed, keys, outage, store, worker, reads = _worker_behind_proxy(postgres_url, 6)
    started: list[float] = []
    fresh_route = store.fresh_route

    def lookup_started(route: str) -> object:  # on the thread: when the record's read begins
        started.append(time.monotonic())
        return fresh_route(route)

    store.fresh_route = lookup_started  # type: ignore[method-assign]

    async def scenario() -> tuple[float, float, int, object]:
        await reads(keys[4:])  # all well: the prefetch thread's connection is open
        proxy.black_hole()
        await reads(keys[1:4])  # the store is silent: the run goes on after WAIT
        assert reads.late == 1
        began = time.monotonic()
        record = asyncio.create_task(open_with_lookup_off_loop(worker, reads, *sealed[0]))
        await asyncio.sleep(CALL_SECONDS + 1.5)  # past the first attempt's cut
        retrying = outage._retrying  # what a rebalance beginning now would see
        proxy.heal()
        opened = await record
        return began, started[0] if started else float("inf"), retrying, opened

    try:
        began, lookup_began, retrying, opened = asyncio.run(scenario())
        assert lookup_began - began < CALL_SECONDS / 4, (
            f"the record's lookup began {lookup_began - began:.2f} s after it was asked for"
        )
        assert retrying == 1, "the record's lookup was not in an in-place retry yet"
        assert opened == plain[0]
    finally:
        proxy.heal()
        proxy.cut()
        reads.close()
        store.close()


def test_close_lets_the_read_threads_drop_their_connections_and_return(tmp_path: Path) -> None:
    """`close()` (the agent's end): each thread finishes what it has, releases its key-read
    connection and returns; a read after that starts a new thread."""
    store = SqlKeyStore(f"sqlite:///{tmp_path / 'keys.db'}")
    plain = records(3)
    sealed = Sealer(store).seal_many(plain)
    store._cache.clear()
    worker = Sealer(store)
    reads = KeyReads(worker, wait_seconds=5)
    released: list[str] = []
    release = store.release_reads

    def release_reads() -> None:
        released.append(threading.current_thread().name)
        release()

    store.release_reads = release_reads  # type: ignore[method-assign]

    async def scenario() -> list[threading.Thread | None]:
        await reads([key for key, _, _ in sealed[1:]])  # the prefetch thread
        # the lookup thread
        assert await open_with_lookup_off_loop(worker, reads, *sealed[0]) == plain[0]
        threads = [reads._prefetches._thread, reads._lookups._thread]
        reads.close()
        for thread in threads:
            thread.join(5)
        store._cache.clear()
        # a new thread
        assert await open_with_lookup_off_loop(worker, reads, *sealed[0]) == plain[0]
        reads.close()
        return threads

    try:
        threads = asyncio.run(scenario())
        assert None not in threads and not any(t and t.is_alive() for t in threads)
        assert sorted(released[:2]) == ["key-lookups", "key-prefetch"]
    finally:
        store.close()
