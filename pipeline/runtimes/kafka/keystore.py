"""The key store of crypto-shredding on SQL (the adapter of the port
`pipeline.sealing.KeyStore`): one random key and one random route id per klant, in a
database every process of a Kafka deployment shares (SQLite file `keys.db` in the data dir
by default, PostgreSQL with KLANTSIGNAAL_KEYSTORE_URL).

`forget(klant)` deletes the row: from then on nothing can open that citizen's records on
any topic or changelog, and nothing links the route id to the klant.

Cache: a process keeps a key it read for at most `cache_seconds` (KEY_CACHE_SECONDS, 30 s)
counted from the read, however often it is used in between, so a key forgotten by another
process (`klantsignaal privacy forget`) stops opening records in a running worker or web
process within that bound; `forget` in the same process drops its cache at once. The
worker opens a record on its event loop from the cache only (`cached_route`: a key with at
least `open_margin`, 2 s, left) and reads a key it lacks off the loop (`fresh_route`,
pipeline/runtimes/kafka/key_reads.py). Keys are looked up and created in batches
(`for_klants`): the web edge's group commit creates the keys of every new klant in a
group with one INSERT and one commit.
Nothing here logs a klant, a route or a key: statement parameters are hidden, and the
engine's logger stays at WARNING (SQLAlchemy would log result rows at DEBUG).

With an `outage` (the worker's, pipeline.runtimes.kafka.in_place) lookups that fail
because the database is away (connection refused or lost, locked, read-only) are retried
in place with a bounded backoff, and the worker stops if the outage outlasts the limit;
without one (the web edge) they fail at once and the request is answered 503.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    make_url,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from pipeline.datafiles import secure_sqlite_file, sqlite_path
from pipeline.runtimes.kafka.in_place import Outage
from pipeline.runtimes.kafka.keystore_bounds import CallDeadline, KeyStoreTimeouts, pg_connect_args
from pipeline.sealing import KlantKey, Sealer

log = logging.getLogger(__name__)
KEY_CACHE_SECONDS = 30.0
# A key that opens a record in the worker has at least this long left in the cache, so the
# record's processing (its state and outputs, by klant) finds it cached: see `cached_route`.
OPEN_MARGIN_SECONDS = 2.0
CACHE_ENTRIES = 200_000  # klanten (two entries each); beyond it expired ones go, then all
_LOGGING_NAME = "klantsignaal-keystore"
_CHUNK = 400  # klanten (or routes) per statement (SQLite allows 32,766 parameters; rows have 4)

_metadata = MetaData()
klant_keys = Table(
    "klant_keys",
    _metadata,
    Column("klant", String(40), primary_key=True),
    Column("route", String(40), nullable=False, unique=True),
    Column("secret", LargeBinary(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

keystore_meta = Table(
    "keystore_meta",
    _metadata,
    Column("store_id", String(40), primary_key=True),
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA secure_delete=ON")  # a forgotten key leaves no bytes behind
    cur.close()


# SQLSTATE read_only_sql_transaction: PostgreSQL refuses writes for now (a primary being
# failed over, a standby, default_transaction_read_only). The driver raises it as an
# InternalError, not an OperationalError; SQLite's read-only database is an OperationalError.
READ_ONLY_SQLSTATE = "25006"
# serialization_failure: under REPEATABLE READ or SERIALIZABLE, the plain path's INSERT ...
# ON CONFLICT meeting a klant another transaction created after its SELECT (a row outside its
# snapshot); the Core path's INSERT, a transaction of its own, settles it.
SERIALIZATION_FAILURE = "40001"


def is_unavailable(exc: BaseException) -> bool:
    """The database is away or refuses writes for now (not a bad statement or value)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return sqlstate == READ_ONLY_SQLSTATE or bool(exc.connection_invalidated)


def _engine(url: str, timeouts: KeyStoreTimeouts) -> Engine:
    """The engine; on PostgreSQL with the connect and statement timeouts and keepalives."""
    options: dict[str, Any] = {}
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        query_options = parsed.query.get("options")
        url_options = query_options if isinstance(query_options, str) else None
        options["connect_args"] = pg_connect_args(timeouts, url_options)
    engine = create_engine(
        url, future=True, hide_parameters=True, logging_name=_LOGGING_NAME, **options
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _deadline(engine: Engine, timeouts: KeyStoreTimeouts) -> CallDeadline | None:
    """The call deadline (PostgreSQL only: SQLite is a local file with a busy timeout)."""
    if engine.dialect.name != "postgresql" or timeouts.call_seconds <= 0:
        return None
    return CallDeadline(engine, timeouts.call_seconds)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _new_row(klant: str, now: datetime) -> dict[str, Any]:
    return {
        "klant": klant,
        "route": "r-" + os.urandom(16).hex(),
        "secret": os.urandom(32),
        "created_at": now,
    }


class SqlKeyStore:
    """pipeline.sealing.KeyStore on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float = KEY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        outage: Outage | None = None,
        timeouts: KeyStoreTimeouts | None = None,
    ) -> None:
        self.outage = outage  # None: fail at once (the edge answers 503)
        path = sqlite_path(url)
        if path is not None:
            secure_sqlite_file(path)  # 0600: the keys open every sealed record
        # Never logged, whatever the log level: SQLAlchemy logs result rows at DEBUG (with
        # KLANTSIGNAAL_LOG_LEVEL=DEBUG that would be every klant with its key).
        logging.getLogger(f"sqlalchemy.engine.Engine.{_LOGGING_NAME}").setLevel(logging.WARNING)
        self.engine: Engine = _engine(url, timeouts or KeyStoreTimeouts())
        # A database that does not answer fails a call after the bound (keystore_bounds.py).
        self._deadline = _deadline(self.engine, timeouts or KeyStoreTimeouts())
        try:
            self._bounded(self._prepare)
        except BaseException:
            # A store that never opened leaves no watchdog thread or pool behind: the edge
            # makes a new store for each publish until one opens (a key store that is
            # down would otherwise leak a thread per request).
            if self._deadline is not None:
                self._deadline.stop()
            self.engine.dispose()
            raise
        self.cache_seconds = cache_seconds
        self.open_margin = min(OPEN_MARGIN_SECONDS, cache_seconds / 10)
        self._clock = clock  # monotonic seconds; the tests drive it
        self._cache: dict[str, tuple[float, KlantKey]] = {}
        self._lock = threading.Lock()
        self._routes = _RouteReads(self.engine)
        self._creates = _KeyCreates.for_engine(self.engine)  # None: the Core path only
        self._create_fell_back = False  # logged once

    def _prepare(self) -> None:
        """The tables (created once, under a lock across processes) and the store id."""
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(4215011)"))
            _metadata.create_all(conn)
            if conn.execute(select(keystore_meta.c.store_id)).first() is None:
                conn.execute(keystore_meta.insert().values(store_id=os.urandom(8).hex()))
        with self.engine.connect() as conn:
            # Sealed records name the store that can open them: a process configured with
            # another store (KLANTSIGNAAL_KEYSTORE_URL) must fail loudly, not read "erased".
            self.store_id: str = conn.execute(select(keystore_meta.c.store_id)).scalar_one()

    def _bounded(self, call: Callable[[], Any]) -> Any:
        return call() if self._deadline is None else self._deadline.bounded(call)

    # -- cache ----------------------------------------------------------------------------
    def _cached(self, name: str) -> KlantKey | None:
        hit = self._cache.get(name)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        return None

    def _cached_for(self, name: str, margin: float) -> KlantKey | None:
        """As `_cached`, for a key still cached `margin` seconds from now."""
        hit = self._cache.get(name)
        if hit is not None and hit[0] > self._clock() + margin:
            return hit[1]
        return None

    def _remember(self, key: KlantKey, read_at: float) -> KlantKey:
        """Cache a key read from the store at `read_at` (monotonic): valid until then plus
        the bound. Only reads call this, never cache hits: use does not extend the bound."""
        until = read_at + self.cache_seconds
        with self._lock:
            if len(self._cache) > 2 * CACHE_ENTRIES:
                now = self._clock()
                for name in [n for n, (t, _) in self._cache.items() if t <= now]:
                    del self._cache[name]
                if len(self._cache) > 2 * CACHE_ENTRIES:
                    self._cache.clear()
            self._cache[key.klant] = self._cache["@" + key.route] = (until, key)
        return key

    # -- reads and writes -----------------------------------------------------------------
    def _select(self, where: Any) -> list[KlantKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(klant_keys).where(where)).all()
        return [KlantKey(row.klant, row.route, bytes(row.secret)) for row in rows]

    def _insert(self, klants: Sequence[str]) -> None:
        """New keys for these klanten; a klant another process gave a key first keeps it."""
        now = datetime.now(UTC)
        rows = [_new_row(klant, now) for klant in klants]
        dialect = self.engine.dialect.name
        if dialect in ("sqlite", "postgresql"):
            insert = (sqlite if dialect == "sqlite" else postgresql).insert(klant_keys)
            with self.engine.begin() as conn:
                conn.execute(insert.on_conflict_do_nothing(), rows)
            return
        for row in rows:  # other databases: one by one, a conflict means "theirs first"
            try:
                with self.engine.begin() as conn:
                    conn.execute(klant_keys.insert().values(**row))
            except IntegrityError:
                pass

    def _guarded(self, what: str, call: Callable[[], Any]) -> Any:
        if self.outage is None:
            return self._bounded(call)
        return self.outage.retry(f"key store ({what})", lambda: self._bounded(call), is_unavailable)

    def for_klants(self, klants: Iterable[str], create: bool) -> dict[str, KlantKey]:
        wanted = list(klants)
        what = "creating keys" if create else "reading keys"
        found: dict[str, KlantKey] = self._guarded(what, lambda: self._for_klants(wanted, create))
        return found

    def _after_failed_create(self, exc: Exception) -> None:
        """The plain connection's key creation failed. A database that is away, locked or
        read-only is raised at once as SQLAlchemy's error (is_unavailable: the callers
        retry it); trying the Core path too would only double the time to fail (a lock
        wait: 10.8 -> 23.1 s on SQLite). Anything else (a serialization failure, a driver
        quirk) goes on on the Core path, logged once by type (never a value)."""
        wrapped = exc
        if not isinstance(exc, DBAPIError):
            dbapi = self.engine.dialect.loaded_dbapi
            wrapped = DBAPIError.instance(
                None, None, exc, dbapi.Error, hide_parameters=True, dialect=self.engine.dialect
            )
        orig = getattr(wrapped, "orig", None)
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if sqlstate != SERIALIZATION_FAILURE and is_unavailable(wrapped):
            raise wrapped from exc
        if not self._create_fell_back:
            self._create_fell_back = True
            log.warning(
                "key creation on the plain connection failed (%s): the Core path "
                "takes over for this call",
                type(exc).__name__,
            )

    def _for_klants(self, klants: Iterable[str], create: bool) -> dict[str, KlantKey]:
        """The keys of these klanten (created for the ones without when `create`): cache
        hits first, then per chunk of the rest one SELECT and, for the new ones, one
        INSERT and one SELECT (on the plain connection, `_KeyCreates`, that SELECT only
        of klanten another process created in between).

        With `create` (sealing new records at the edge) the cache is not used: a key
        another process forgot may still be cached here, and a record sealed with it
        could never be opened, an accepted event lost. One SELECT per group commit."""
        found: dict[str, KlantKey] = {}
        missing: list[str] = []
        for klant in dict.fromkeys(klants):
            hit = None if create else self._cached(klant)
            if hit is not None:
                found[klant] = hit
            else:
                missing.append(klant)
        if create and self._creates is not None and missing:
            try:
                for chunk in _chunks(missing, _CHUNK):
                    read_at = self._clock()
                    for key in self._creates.keys(chunk, datetime.now(UTC)):
                        found[key.klant] = self._remember(key, read_at)
                return found
            except Exception as exc:
                self._after_failed_create(exc)  # away: raised; anything else: Core path
        for chunk in _chunks(missing, _CHUNK):
            read_at = self._clock()
            rows = {k.klant: k for k in self._select(klant_keys.c.klant.in_(chunk))}
            new = [klant for klant in chunk if klant not in rows]
            if new and create:
                self._insert(new)
                read_at = self._clock()
                rows |= {k.klant: k for k in self._select(klant_keys.c.klant.in_(new))}
            for key in rows.values():
                found[key.klant] = self._remember(key, read_at)
        return found

    def for_klant(self, klant: str, create: bool) -> KlantKey | None:
        return self._cached(klant) or self.for_klants([klant], create).get(klant)

    def for_route(self, route: str) -> KlantKey | None:
        hit = self._cached("@" + route)
        if hit is not None:
            return hit
        key: KlantKey | None = self._guarded("reading a key", lambda: self._for_route(route))
        return key

    def _for_route(self, route: str) -> KlantKey | None:
        read_at = self._clock()
        try:
            # A worker opens every record of a citizen it has not seen for cache_seconds:
            # on a plain driver connection; through SQLAlchemy's pool ~10x slower.
            row = self._routes.one(route)
            rows = [KlantKey(row[0], row[1], bytes(row[2]))] if row else []
        except Exception:  # connection lost, database restarted: the pooled path reconnects
            self._routes.reset()
            rows = self._select(klant_keys.c.route == route)
        return self._remember(rows[0], read_at) if rows else None

    def cached_route(self, route: str) -> KlantKey | None:
        """The key of a route from the cache only (no database call): None when it is not
        cached, or cached for less than `open_margin` more seconds. The worker opens a
        record with it on its event loop and reads a key it does not give off the loop
        (`fresh_route`), so the record's own state and outputs (looked up by klant, on the
        loop, moments later) find the key cached rather than call the store there."""
        hit = self._cache.get("@" + route)  # `_cached_for`, inline: once per record
        if hit is not None and hit[0] > self._clock() + self.open_margin:
            return hit[1]
        return None

    def fresh_route(self, route: str) -> KlantKey | None:
        """As `for_route`, but a key cached for less than `open_margin` more seconds is read
        again (retried in place like `for_route`): the worker's lookup off its event loop."""
        hit = self.cached_route(route)
        if hit is not None:
            return hit
        key: KlantKey | None = self._guarded("reading a key", lambda: self._for_route(route))
        return key

    def uncached_routes(self, routes: Iterable[str]) -> list[str]:
        """These routes, once each, but those whose key is cached (no database call), as
        `cached_route` sees it (a key due to expire within `open_margin` is read again)."""
        margin = self.open_margin
        return [r for r in dict.fromkeys(routes) if self._cached_for("@" + r, margin) is None]

    def prefetch_routes(self, routes: Iterable[str]) -> int:
        """Read the keys of the routes not cached yet in one statement per chunk and cache
        them (as `for_route` would, one by one): the worker calls it for the records
        waiting in an agent's queue. Best effort: a failure is left to the lookups of the
        records themselves (retried in place there). How many keys were read."""
        missing = self.uncached_routes(routes)
        if len(missing) < 2:
            return 0  # one is looked up by its record as before
        read = 0
        try:
            for chunk in _chunks(missing, _CHUNK):
                read_at = self._clock()
                rows = self._bounded(lambda chunk=chunk: self._routes.many(chunk))
                for row in rows:
                    self._remember(KlantKey(row[0], row[1], bytes(row[2])), read_at)
                read += len(rows)
        except Exception as exc:  # the records' own lookups retry (never a value logged)
            self._routes.reset()
            log.debug("key prefetch failed: %s", type(exc).__name__)
        return read

    def release_reads(self) -> None:
        """Drop the calling thread's route-read connection (a key-read thread ending)."""
        self._routes.reset()

    def forget(self, klant: str) -> int:
        """Delete the klant's key (crypto-shredding); how many rows went."""
        with self.engine.begin() as conn:
            n = conn.execute(delete(klant_keys).where(klant_keys.c.klant == klant)).rowcount
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:  # the deleted key out of the WAL file too
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        with self._lock:
            self._cache.clear()
        return n

    def close(self) -> None:
        if self._deadline is not None:
            self._deadline.stop()
        self._routes.reset()
        self.engine.dispose()


class _RouteReads:
    """Key lookups by route on one raw DB-API connection per thread, each read its own
    transaction, rolled back at once (a snapshot held open would hide a `forget`). One
    route or many: the same statement, `route IN (...)` with a mark per route."""

    _MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # one mark for every value

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._one = self._statement(1)  # the per-record lookup's, made once

    def one(self, route: str) -> Any:
        sql, params = self._one
        rows = self._rows(sql, params((route,)))
        return rows[0] if rows else None

    def many(self, routes: Sequence[str]) -> list[Any]:
        """The rows of these routes (those the store has), in one statement."""
        sql, params = self._statement(len(routes))
        return self._rows(sql, params(routes))

    def _rows(self, sql: str, params: Any) -> list[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._engine.raw_connection()
        cursor = conn.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()
            conn.rollback()

    def _statement(self, n: int) -> tuple[str, Callable[[Sequence[str]], Any]]:
        """The statement for n routes, and what makes its parameters from the routes."""
        style = self._engine.dialect.paramstyle
        sql = "SELECT klant, route, secret FROM klant_keys WHERE route IN ({})"
        if style == "named":
            names = [f"v{i}" for i in range(n)]
            marks = ", ".join(f":{v}" for v in names)
            return sql.format(marks), lambda r: dict(zip(names, r, strict=True))
        if style == "numeric":
            return sql.format(", ".join(f":{i + 1}" for i in range(n))), tuple
        return sql.format(", ".join([self._MARKS[style]] * n)), tuple

    def reset(self) -> None:
        """Drop this thread's connection (after a failure: never reused)."""
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()


def _sqlite_version(engine: Engine) -> tuple[int, ...]:
    """The version of the SQLite library the engine's connections run on: as SQLAlchemy
    read it from the driver at the engine's first connection (the store's `_prepare`),
    else from the driver module the engine uses. Not the stdlib `sqlite3` module's: the
    engine's driver (pysqlcipher's sqlcipher3, say) may link another SQLite."""
    dialect = engine.dialect
    version = dialect.server_version_info or getattr(dialect.dbapi, "sqlite_version_info", ())
    return tuple(version)


class _KeyCreates:
    """The keys of a group of klanten, the new ones created, on a plain DB-API connection
    from the pool (the web edge's group commit seals every group this way): one SELECT of
    the existing keys, one INSERT of the new ones (ON CONFLICT (klant) DO NOTHING
    RETURNING the klanten it wrote), a SELECT only of those another process created in
    between, one commit. The same rows as the Core path (its SELECT, INSERT, SELECT of
    every new klant), without SQLAlchemy's execution machinery, ~0.8 ms of CPU less per
    group on the slow test host (a group held a median 6.5 requests at 500 requests/s,
    11 at saturation, in the bench's edge phase). SQLite (3.35+: RETURNING) and
    PostgreSQL only.

    ON CONFLICT (klant) skips only a klant that has a key by the time of the INSERT
    (another process's key counts, never ours); any other conflict (a route: 128 random
    bits) raises. The SELECT after it finds that key because it sees what other
    transactions committed before it: PostgreSQL at READ COMMITTED (its default: a
    snapshot per statement), SQLite with its one writer at a time (the INSERT opens the
    transaction). Under REPEATABLE READ or SERIALIZABLE PostgreSQL refuses such an INSERT
    with a serialization failure instead. After any error the connection is dropped and
    the error raised: the caller (`SqlKeyStore._after_failed_create`) raises a database
    that is away, locked or read-only at once and gives anything else to the Core path."""

    _MARKS = _RouteReads._MARKS

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._mark = self._MARKS[engine.dialect.paramstyle]
        created_at = klant_keys.c.created_at.type.dialect_impl(engine.dialect)
        self._stamp = created_at.bind_processor(engine.dialect) or (lambda value: value)

    @classmethod
    def for_engine(cls, engine: Engine) -> _KeyCreates | None:
        dialect = engine.dialect
        if dialect.paramstyle not in cls._MARKS:
            return None
        if dialect.name == "postgresql":
            return cls(engine)
        if dialect.name == "sqlite" and _sqlite_version(engine) >= (3, 35):
            return cls(engine)
        return None

    def _select(self, cursor: Any, klants: Sequence[str]) -> list[KlantKey]:
        marks = ", ".join([self._mark] * len(klants))
        cursor.execute(
            f"SELECT klant, route, secret FROM klant_keys WHERE klant IN ({marks})",
            tuple(klants),
        )
        return [KlantKey(row[0], row[1], bytes(row[2])) for row in cursor.fetchall()]

    def keys(self, klants: Sequence[str], now: datetime) -> list[KlantKey]:
        """The keys of these klanten (at most _CHUNK), created for those without one."""
        conn = self._engine.raw_connection()  # from the pool, back to it after the call
        cursor = None
        try:
            cursor = conn.cursor()
            keys = self._select(cursor, klants)
            have = {key.klant for key in keys}
            rows = [_new_row(klant, now) for klant in klants if klant not in have]
            if not rows:
                conn.rollback()  # no transaction left open (a snapshot would hide a forget)
                return keys
            row_marks = "(" + ", ".join([self._mark] * 4) + ")"
            stamp = self._stamp(now)
            params = [
                value
                for row in rows
                for value in (row["klant"], row["route"], row["secret"], stamp)
            ]
            cursor.execute(
                "INSERT INTO klant_keys (klant, route, secret, created_at) VALUES "
                + ", ".join([row_marks] * len(rows))
                + " ON CONFLICT (klant) DO NOTHING RETURNING klant",
                params,
            )
            written = {row[0] for row in cursor.fetchall()}
            keys += [
                KlantKey(row["klant"], row["route"], row["secret"])
                for row in rows
                if row["klant"] in written
            ]
            theirs = [row["klant"] for row in rows if row["klant"] not in written]
            if theirs:  # another process gave them a key first: that one counts
                keys += self._select(cursor, theirs)
            conn.commit()  # durable before any record sealed with these keys is sent
            return keys
        except BaseException:
            with contextlib.suppress(Exception):
                conn.invalidate()  # after a failure: never reused
            raise
        finally:
            if cursor is not None:
                with contextlib.suppress(Exception):
                    cursor.close()
            conn.close()  # back to the pool (an invalidated one is discarded)


KeyStore = SqlKeyStore  # the name the import sites knew


def sealer_for(settings: object, outage: Outage | None = None) -> Sealer | None:
    """The sealer of a Kafka deployment (None when KLANTSIGNAAL_KAFKA_SEAL=0); with an
    outage, key store lookups are retried in place (the worker's)."""
    if not getattr(settings, "kafka_seal", 1):
        return None
    timeouts = KeyStoreTimeouts.from_settings(settings)
    store = SqlKeyStore(settings.keystore, outage=outage, timeouts=timeouts)  # type: ignore[attr-defined]
    return Sealer(store)
