"""The key store's cache and batches (crypto-shredding, pipeline/runtimes/kafka/keystore.py):
a key forgotten by another process stops opening records within the cache bound however
often it is used; keys of a group are found and created in one round trip and agree with
what other processes see; no klant, route or key ever reaches a log line or an error."""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy import select as select_rows
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from pipeline.runtimes.kafka.codec import open_record
from pipeline.runtimes.kafka.keystore import SqlKeyStore, _KeyCreates, is_unavailable, klant_keys
from pipeline.sealing import ERASED, Sealer

BOUND = 0.6  # seconds a key may stay cached (30 s in production)


def klant(i: int) -> str:
    return f"k-{i:032x}"


def record(k: str, n: int = 0) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
    headers = [("ce_type", b"nl.klantsignaal.contact.v1"), ("ce_partitionkey", k.encode())]
    return k.encode(), headers, f'{{"contactId":"c-{n}"}}'.encode()


def statements(store: SqlKeyStore) -> list[str]:
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def driver_statements(store: SqlKeyStore) -> list[str]:
    """Every SELECT and INSERT the SQLite driver runs for the store from now on, on pooled
    and plain connections alike (`before_cursor_execute` sees only the pooled ones)."""
    seen: list[str] = []

    def trace(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(
            lambda sql: seen.append(sql) if sql.startswith(("SELECT", "INSERT")) else None
        )

    event.listen(store.engine, "connect", trace)
    store.engine.dispose()  # new connections, traced
    return seen


class Clock:
    """Monotonic seconds the test moves by hand: the bound is checked without real time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_forgotten_key_stops_opening_within_the_bound_however_often_used(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    clock = Clock()
    web = Sealer(SqlKeyStore(url, cache_seconds=BOUND, clock=clock))  # a busy process
    cli = SqlKeyStore(url)  # `klantsignaal privacy forget`, another process
    sealed = web.seal(*record(klant(1)))
    read_at = clock.now
    assert web.open(*sealed) == record(klant(1))
    clock.now += BOUND / 2  # the key was read a while before the forget
    assert cli.forget(klant(1)) == 1
    while clock.now < read_at + BOUND - 0.01:  # in use all the time: cache hits ...
        assert web.open(*sealed) == record(klant(1))
        clock.now += 0.01
    clock.now = read_at + BOUND + 0.001  # ... never longer than the bound from the read
    assert web.open(*sealed) is ERASED
    # The citizen's next contact gets a new key; the old records stay unreadable.
    again = web.seal(*record(klant(1), 2))
    assert again[0] != sealed[0]
    assert web.open(*again) == record(klant(1), 2)
    assert web.open(*sealed) is ERASED


def test_a_record_accepted_right_after_forget_is_sealed_with_a_live_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    edge = Sealer(SqlKeyStore(url))  # the web edge; the key stays cached here for 30 s
    first = edge.seal_many([record(klant(1))])[0]
    assert SqlKeyStore(url).forget(klant(1)) == 1  # `privacy forget` in another process
    new = edge.seal_many([record(klant(1), 2)])[0]  # the citizen's next contact, accepted
    # Sealed with the deleted key it could never be opened: the worker and sinks would
    # drop an event the edge had acknowledged.
    worker = Sealer(SqlKeyStore(url))
    assert worker.open(*new) == record(klant(1), 2)
    assert new[0] != first[0] and worker.open(*first) is ERASED


def test_a_group_is_sealed_with_one_key_lookup_and_opens_everywhere(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    edge = Sealer(SqlKeyStore(url))
    edge.seal(*record(klant(5)))  # one known klant, cached
    seen = driver_statements(edge.keys)  # type: ignore[arg-type]
    group = [record(klant(i), i) for i in range(1000)] + [record(klant(7), 9)]
    group.append((b"paspoort|telefoon", [], b"{}"))  # not keyed by a klant: as it is
    sealed = edge.seal_many(group)
    # 1000 klanten, 400 per chunk: a SELECT and an INSERT (RETURNING what it wrote) per
    # chunk, not a query per klant, and no SELECT again after the INSERT.
    assert [sql.split()[0] for sql in seen] == ["SELECT", "INSERT"] * 3, seen
    assert sealed[-1] == group[-1]
    routes = {s[0] for s in sealed[:-1]}
    assert len(routes) == 1000  # one route per klant, the repeat on the same one
    worker = Sealer(SqlKeyStore(url))  # another process sharing the store
    for original, wire in zip(group[:-1], sealed[:-1], strict=True):
        assert klant(0).encode() not in wire[2]
        assert worker.open(*wire) == original
    assert edge.keys.for_klant(klant(7), create=False).route.encode() == sealed[7][0]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_keys_created_on_the_plain_connection_are_the_stored_ones(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The edge creates keys on a plain driver connection (`_KeyCreates`): the rows are
    the ones the Core path writes (created_at read back as a time), a klant another
    process gave a key between our SELECT and our INSERT keeps that key, and every key
    returned is the stored one."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'keys.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    edge, other = SqlKeyStore(url), SqlKeyStore(url)
    assert edge._creates is not None  # this path, not the Core one
    tag = uuid.uuid4().hex[:8]
    wanted = [f"k-{tag}{i:024x}" for i in range(5)]
    known = other.for_klants(wanted[:1], create=True)  # existed before
    select = edge._creates._select
    raced: dict[str, Any] = {}

    def select_then_race(cursor: Any, klants: Any) -> Any:
        found = select(cursor, klants)
        if not raced:  # after our first SELECT, before our INSERT
            raced.update(other.for_klants(wanted[3:4], create=True))
        return found

    edge._creates._select = select_then_race  # type: ignore[method-assign]
    created = edge.for_klants(wanted, create=True)
    assert set(created) == set(wanted)
    assert created[wanted[0]] == known[wanted[0]]
    assert created[wanted[3]] == raced[wanted[3]]  # theirs, not the one we generated
    stored = SqlKeyStore(url).for_klants(wanted, create=False)
    assert stored == created
    with edge.engine.connect() as conn:
        stamps = conn.execute(
            select_rows(klant_keys.c.created_at).where(klant_keys.c.klant.in_(wanted))
        ).scalars()
        assert all(isinstance(stamp, datetime) for stamp in stamps)


def test_the_plain_key_creation_goes_by_the_sqlite_of_the_engine_s_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_KeyCreates` needs RETURNING (SQLite 3.35+): whether it may be used is decided by
    the SQLite the engine's driver runs on (read at the engine's first connection), not
    by the stdlib `sqlite3` module's, which another driver need not share."""
    store = SqlKeyStore(f"sqlite:///{tmp_path / 'keys.db'}")
    dialect = store.engine.dialect
    assert dialect.server_version_info is not None  # read when the store prepared its tables
    assert _KeyCreates.for_engine(store.engine) is not None  # this host: 3.35 or later
    monkeypatch.setattr(dialect, "server_version_info", (3, 34, 1))  # the driver's: too old
    assert _KeyCreates.for_engine(store.engine) is None
    monkeypatch.setattr(dialect, "server_version_info", (3, 45, 0))
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))  # only the stdlib's old
    assert _KeyCreates.for_engine(store.engine) is not None
    store.close()


def test_a_locked_key_store_fails_once_not_on_both_paths(tmp_path: Path) -> None:
    """A lock held by another writer: the plain connection's INSERT waits its busy timeout
    and the error is raised as SQLAlchemy's (the callers retry what `is_unavailable` says),
    without the Core path waiting the same timeout again (which doubled the time to fail:
    10.8 -> 23.1 s at the default timeout)."""
    path = tmp_path / "keys.db"
    store = SqlKeyStore(f"sqlite:///{path}")
    store.for_klants([klant(1)], create=True)  # the table exists, a key is there
    event.listen(
        store.engine,
        "connect",
        lambda dbapi_conn, _r: dbapi_conn.execute("PRAGMA busy_timeout=200"),
    )
    seen = driver_statements(store)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than we wait
    try:
        with pytest.raises(OperationalError) as raised:
            store.for_klants([klant(2)], create=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert is_unavailable(raised.value)
    assert "locked" in str(raised.value.orig)
    inserts = [sql for sql in seen if sql.startswith("INSERT")]
    assert len(inserts) == 1, inserts  # the plain path's only; the Core path did not try
    assert store.for_klants([klant(2)], create=True)[klant(2)].klant == klant(2)  # then works


def test_two_processes_creating_the_same_klanten_agree(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    stores = [SqlKeyStore(url) for _ in range(2)]
    wanted = [klant(i) for i in range(300)]
    results: list[dict[str, Any]] = [{}, {}]

    def create(i: int) -> None:
        results[i] = stores[i].for_klants(wanted, create=True)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results[0] == results[1]
    assert set(results[0]) == set(wanted)
    with stores[0].engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM klant_keys")).scalar_one() == 300
    assert stores[1].for_klants([klant(999)], create=False) == {}


def test_no_klant_route_or_key_in_logs_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)  # as echo=True would
    try:
        store = SqlKeyStore(f"sqlite:///{tmp_path / 'keys.db'}")
        sealer = Sealer(store)
        sealed = sealer.seal_many([record(klant(i)) for i in range(3)])
        key = store.for_klant(klant(1), create=False)
        assert key is not None
        tampered = sealed[1][:2] + (sealed[1][2][:-1] + b"\x00",)
        assert open_record(sealer, *tampered) == tampered  # logs a warning, stays sealed
        store.forget(klant(1))
        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE klant_keys"))
        with pytest.raises(SQLAlchemyError) as failed:
            store.for_klants([klant(8)], create=True)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    logged = "\n".join(r.getMessage() for r in caplog.records) + str(failed.value)
    assert "sealed record not opened" in logged  # the capture works
    secrets = [klant(i) for i in range(3)] + [klant(8), key.route, key.secret.hex()]
    for secret in secrets + [s[0].decode() for s in sealed]:
        assert secret not in logged


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_prefetched_routes_open_records_without_a_lookup_each_and_keep_the_bound(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The worker reads the keys of the records waiting in an agent's queue in one statement
    (`Sealer.prefetch`): each record then opens from the cache, with the key it would have
    read one by one; a route the store does not have stays unknown (ERASED when opened),
    and a prefetched key stays cached only for the bound from its read."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'keys.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    edge = Sealer(SqlKeyStore(url))
    sealed = edge.seal_many([record(klant(i), i) for i in range(30)])
    clock = Clock()
    store = SqlKeyStore(url, cache_seconds=BOUND, clock=clock)
    worker, seen = Sealer(store), statements(store)
    reads: list[int] = []
    many = store._routes.many
    store._routes.many = lambda routes: reads.append(len(routes)) or many(routes)  # type: ignore[method-assign]
    gone = b"r-" + b"0" * 32
    worker.prefetch([key for key, _, _ in sealed] + [gone, None, b"k-not-a-route"])
    assert reads == [31]  # one statement for the 30 routes and the unknown one
    one = store._routes.one
    store._routes.one = lambda route: pytest.fail("looked up one by one")  # type: ignore[method-assign]
    found = [worker.open(*rec) for rec in sealed]
    assert found == [record(klant(i), i) for i in range(30)]
    assert seen == []  # nor through the pool
    store._routes.one = one  # type: ignore[method-assign]
    assert worker.open(gone, sealed[0][1], sealed[0][2]) is ERASED
    cli = SqlKeyStore(url)
    assert cli.forget(klant(3)) == 1
    assert worker.open(*sealed[3]) == record(klant(3), 3)  # cached: within the bound
    clock.now += BOUND + 0.01
    worker.prefetch([key for key, _, _ in sealed])  # read again: klant 3 is not there
    assert worker.open(*sealed[3]) is ERASED
    assert worker.open(*sealed[4]) == record(klant(4), 4)


@pytest.mark.parametrize("paramstyle", ["qmark", "named", "numeric"])
def test_route_reads_one_and_many_find_the_same_rows_in_every_paramstyle(
    paramstyle: str, tmp_path: Path
) -> None:
    """The plain-connection reads by route (`_RouteReads`): one route and many go through
    one statement builder; each paramstyle the builder knows finds the same rows (SQLite
    here, PostgreSQL's pyformat in the prefetch test above)."""
    from sqlalchemy import create_engine

    from pipeline.runtimes.kafka.keystore import _RouteReads

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    keys = SqlKeyStore(url).for_klants([klant(i) for i in range(3)], create=True)
    routes = [keys[klant(i)].route for i in range(3)]
    reads = _RouteReads(create_engine(url, paramstyle=paramstyle))
    gone = "r-" + "0" * 32
    assert reads.one(routes[1])[:2] == (klant(1), routes[1])
    assert reads.one(gone) is None
    found = {row[1]: row[0] for row in reads.many([*routes, gone])}
    assert found == {routes[i]: klant(i) for i in range(3)}
    reads.reset()
