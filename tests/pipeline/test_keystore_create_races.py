"""Key creation on the plain DB-API connection (`_KeyCreates` in
pipeline/runtimes/kafka/keystore.py) against a real PostgreSQL: a commit that fails after
the INSERT, and two creators of the same klant really overlapping.

The fast path runs SELECT, INSERT ... ON CONFLICT (klant) DO NOTHING RETURNING klant, a
SELECT of the klanten another process wrote in between, one commit. A failure that says
the database is away is raised at once (the worker's `Outage` retries it, the edge answers
503); any other falls back to the SQLAlchemy Core path. What must hold whatever happens: a
key is returned (and cached) only once it is committed, and a klant has exactly one key,
the one every caller gets.

Faults are real where PostgreSQL can make them: a commit refused by the server is a
deferred constraint trigger that raises at commit time (once); a commit whose reply is
lost is injected on the driver connection (its `commit` wrapped); the overlap is two
stores' connections, the first holding its INSERT's transaction open until the second's
INSERT is seen waiting for its row lock in pg_stat_activity.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.exc import OperationalError

from pipeline.runtimes.kafka import keystore
from pipeline.runtimes.kafka.in_place import Outage
from pipeline.runtimes.kafka.keystore import SqlKeyStore
from pipeline.sealing import KlantKey

pytestmark = [pytest.mark.postgres]

WAIT = 20.0  # seconds: the bound of every wait here ("does not hang", no timing claim)
FALLBACK = "the Core path takes over"  # the log line of a fall back to the Core path


def klanten(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"k-{tag}{i:024x}" for i in range(n)]


class CommitHook:
    """Wraps the driver's `commit` of every connection the engine hands out; `once(action)`
    makes the next commit call `action(real_commit)` instead of committing."""

    def __init__(self, engine: Any) -> None:
        self._next: Callable[[Callable[[], None]], None] | None = None
        self._lock = threading.Lock()
        self.fired = 0
        event.listen(engine, "checkout", self._wrap)

    def once(self, action: Callable[[Callable[[], None]], None]) -> None:
        self._next = action

    def _wrap(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if "commit" in vars(dbapi_conn):
            return  # wrapped at an earlier checkout
        real = dbapi_conn.commit

        def commit() -> None:
            with self._lock:
                action, self._next = self._next, None
            if action is None:
                return real()
            self.fired += 1
            return action(real)

        dbapi_conn.commit = commit


class NewRows:
    """Every key `_new_row` makes (klant, route, thread name): the keys a creator tried."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[tuple[str, str, str]] = []
        new_row = keystore._new_row

        def recorded(klant: str, now: Any) -> dict[str, Any]:
            row = new_row(klant, now)
            self.made.append((klant, row["route"], threading.current_thread().name))
            return row

        monkeypatch.setattr(keystore, "_new_row", recorded)

    def routes(self, thread: str | None = None) -> set[str]:
        return {route for _, route, name in self.made if thread is None or name == thread}


@pytest.fixture
def new_rows(monkeypatch: pytest.MonkeyPatch) -> NewRows:
    return NewRows(monkeypatch)


@pytest.fixture
def admin(postgres_url: str) -> Iterator[Any]:
    """A connection of the test's own (autocommit): faults, pg_stat_activity, the rows."""
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def stored(admin: Any, wanted: list[str]) -> dict[str, KlantKey]:
    rows = admin.execute(
        text("SELECT klant, route, secret FROM klant_keys WHERE klant = ANY(:k)"), {"k": wanted}
    ).all()
    assert len(rows) == len({row.klant for row in rows})  # the primary key, for the record
    return {row.klant: KlantKey(row.klant, row.route, bytes(row.secret)) for row in rows}


def refuse_commit(admin: Any, at_row: int = 1) -> None:
    """The server refuses the commit of the transaction that inserted the `at_row`-th key
    from now on (serialization_failure, SQLSTATE 40001, raised by a deferred constraint
    trigger at commit time: the INSERT itself succeeded); every other commit goes
    through."""
    admin.execute(text("CREATE SEQUENCE refused_commit"))
    admin.execute(
        text(
            f"""
            CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('refused_commit') = {at_row} THEN
                    RAISE EXCEPTION 'commit refused by the test'
                        USING ERRCODE = 'serialization_failure';
                END IF;
                RETURN NULL;
            END $$
            """
        )
    )
    admin.execute(
        text(
            "CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON klant_keys "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()"
        )
    )


def refused_so_far(admin: Any) -> int:
    """How many rows the trigger saw (the sequence's last value)."""
    return int(admin.execute(text("SELECT last_value FROM refused_commit")).scalar_one())


def wait_until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def inserts_waiting_for_a_lock(admin: Any) -> int:
    return int(
        admin.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO klant_keys%'"
            )
        ).scalar_one()
    )


def outage() -> Outage:
    def give_up(what: str, exc: BaseException) -> Any:
        raise AssertionError(f"gave up: {what}: {exc!r}")

    return Outage(limit_seconds=WAIT, pauses=(0.01,), give_up=give_up)


# -- a. the commit fails after the INSERT ---------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 2], ids=["first-chunk", "second-chunk"])
def test_a_commit_the_server_refuses_returns_only_committed_keys(
    chunk: int,
    postgres_url: str,
    admin: Any,
    new_rows: NewRows,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The INSERT went through and RETURNING named every klant, then the server refused
    the commit (serialization_failure: no outage, so the Core path takes over in the same
    call). With 450 klanten (chunks of 400) the refused commit is the first chunk's or the
    second's (the first one committed and cached by then). Every key returned and cached
    is a stored one, none of the refused transaction's keys is returned or stored, and
    each klant has one key."""
    edge = SqlKeyStore(postgres_url)  # the edge's store: no outage, no retry
    wanted = klanten(450)
    refuse_commit(admin, at_row=1 if chunk == 1 else keystore._CHUNK + 1)
    with caplog.at_level(logging.WARNING, logger=keystore.__name__):
        created = edge.for_klants(wanted, create=True)
    assert FALLBACK in caplog.text  # the Core path took over, in the same call
    # Every key the store wrote, plus the one row whose commit was refused (the trigger
    # raised at the refused transaction's first row; its other rows never got that far).
    assert refused_so_far(admin) == len(wanted) + 1
    rows = stored(admin, wanted)
    assert created == rows and len(rows) == len(wanted)
    # The refused transaction's keys: made by the fast path for its chunk, never stored.
    first = [route for _, route, _ in new_rows.made[: len(wanted)]]
    refused = set(first[: keystore._CHUNK]) if chunk == 1 else set(first[keystore._CHUNK :])
    assert refused and not refused & {key.route for key in rows.values()}
    assert all(edge._cached(k) == rows[k] for k in wanted)  # the cache: committed keys only
    assert SqlKeyStore(postgres_url).for_klants(wanted, create=True) == rows  # and stays so


@pytest.mark.parametrize("server_committed", [True, False], ids=["committed", "rolled-back"])
def test_a_commit_whose_reply_is_lost_is_retried_to_the_stored_key(
    server_committed: bool, postgres_url: str, admin: Any, new_rows: NewRows
) -> None:
    """The driver reports the connection lost at commit (an OperationalError: the database
    is away), after the server committed or before it got the commit. Raised at once, not
    tried on the Core path: the edge gets the error and has nothing cached; the worker's
    store retries in place and returns the stored keys, the ones written before the reply
    was lost when the commit went through, new ones when it did not."""

    def lost(real: Callable[[], None]) -> None:
        if server_committed:
            real()
        raise psycopg.OperationalError("server closed the connection unexpectedly (test)")

    edge = SqlKeyStore(postgres_url)
    CommitHook(edge.engine).once(lost)
    wanted = klanten(3)
    with pytest.raises(OperationalError):
        edge.for_klants(wanted, create=True)
    tried = new_rows.routes()
    assert len(tried) == len(wanted)  # one INSERT, no second on the Core path
    assert all(edge._cached(k) is None for k in wanted)  # nothing returned, nothing cached
    rows = stored(admin, wanted)
    assert {key.route for key in rows.values()} == (tried if server_committed else set())
    assert edge.for_klants(wanted, create=True) == stored(admin, wanted)  # the edge's retry

    worker = SqlKeyStore(postgres_url, outage=outage())  # retried in place
    hook = CommitHook(worker.engine)
    hook.once(lost)
    again = klanten(3)
    created = worker.for_klants(again, create=True)
    assert hook.fired == 1
    rows = stored(admin, again)
    assert created == rows and len(rows) == len(again)
    made = [route for klant, route, _ in new_rows.made if klant in again]
    if server_committed:  # the retry's SELECT found what the lost commit wrote: no new key
        assert len(made) == len(again) and {key.route for key in rows.values()} == set(made)
    else:  # the retry wrote new keys; the first try's are nowhere
        assert len(made) == 2 * len(again)
        assert {key.route for key in rows.values()} == set(made[len(again) :])
    assert all(worker._cached(k) == rows[k] for k in again)


# -- b. two creators of the same klant, overlapping --------------------------------------


def race(
    url_a: str, url_b: str, admin: Any, klant: str, a_commit: Callable[[Callable[[], None]], None]
) -> tuple[SqlKeyStore, SqlKeyStore, dict[str, Any]]:
    """Creator A (its own store and connection) runs SELECT and INSERT; at its commit it
    lets creator B (another store) start and calls `a_commit(real_commit)`, which decides
    when and how A's transaction ends. What each returned (or raised), by name."""
    a, b = SqlKeyStore(url_a), SqlKeyStore(url_b)
    hook = CommitHook(a.engine)
    a_inserted = threading.Event()
    results: dict[str, Any] = {}

    def at_a_commit(real: Callable[[], None]) -> None:
        a_inserted.set()  # A's INSERT ran, its transaction open
        a_commit(real)

    hook.once(at_a_commit)

    def create(name: str, store: SqlKeyStore) -> None:
        try:
            results[name] = store.for_klants([klant], create=True)[klant]
        except BaseException as exc:  # the test asserts on it
            results[name] = exc

    thread_a = threading.Thread(target=create, args=("a", a), name="creator-a")
    thread_b = threading.Thread(target=create, args=("b", b), name="creator-b")
    thread_a.start()
    assert a_inserted.wait(WAIT), "creator A never reached its commit"
    thread_b.start()
    thread_a.join(WAIT)
    thread_b.join(WAIT)
    assert not thread_a.is_alive() and not thread_b.is_alive(), "a creator hangs"
    assert hook.fired == 1
    return a, b, results


def hold_until_b_waits(admin: Any) -> Callable[[Callable[[], None]], None]:
    """A's commit: only once B's INSERT waits for the row lock of A's uncommitted row."""

    def commit(real: Callable[[], None]) -> None:
        wait_until(
            "creator B's INSERT never waited for A's row",
            lambda: inserts_waiting_for_a_lock(admin) == 1,
        )
        real()

    return commit


def test_two_overlapping_creators_return_the_one_committed_key(
    postgres_url: str, admin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Both stores SELECT before either commits and both INSERT the klant: B's INSERT
    waits for A's open transaction, finds A's row once A commits (ON CONFLICT DO NOTHING
    returns nothing), and B reads A's key. Both return it; one row; no fall back."""
    klant = klanten(1)[0]
    with caplog.at_level(logging.WARNING, logger=keystore.__name__):
        a, b, got = race(postgres_url, postgres_url, admin, klant, hold_until_b_waits(admin))
    rows = stored(admin, [klant])
    assert got["a"] == got["b"] == rows[klant], got
    assert FALLBACK not in caplog.text  # the fast path settled it (READ COMMITTED)
    assert b._cached(klant) == a._cached(klant) == rows[klant]


def test_a_creator_whose_commit_is_refused_while_another_waits_returns_the_other_s_key(
    postgres_url: str, admin: Any, new_rows: NewRows
) -> None:
    """As above, but the server refuses A's commit (after B's INSERT began to wait): A's
    row never existed, B's INSERT goes through and B returns its own key; A falls back to
    the Core path and returns B's key, not the one it tried. One row."""
    klant = klanten(1)[0]
    SqlKeyStore(postgres_url)  # the tables, before the trigger goes on them
    refuse_commit(admin, at_row=1)
    _, _, got = race(postgres_url, postgres_url, admin, klant, hold_until_b_waits(admin))
    rows = stored(admin, [klant])
    assert got["a"] == got["b"] == rows[klant], got
    assert refused_so_far(admin) == 2  # A's row refused, B's committed
    assert rows[klant].route in new_rows.routes("creator-b")
    assert not new_rows.routes("creator-a") & {rows[klant].route}


# -- c. the same under SERIALIZABLE ----------------------------------------------------------


def serializable(url: str) -> str:
    """The URL with every transaction SERIALIZABLE, as an operator could set it (the store
    sets no isolation level itself: it takes the server's, the role's or the URL's)."""
    return (
        make_url(url)
        .update_query_dict({"options": "-c default_transaction_isolation=serializable"})
        .render_as_string(hide_password=False)
    )


def test_two_overlapping_creators_under_serializable_return_the_one_committed_key(
    postgres_url: str, admin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The same overlap with every transaction SERIALIZABLE: B's INSERT, once A commits,
    fails with serialization_failure (A's row is not in B's snapshot), so B falls back to
    the Core path, whose new transaction reads A's key. Both return it; one row."""
    url = serializable(postgres_url)
    probe = SqlKeyStore(url)
    with probe.engine.connect() as conn:
        assert conn.execute(text("SHOW transaction_isolation")).scalar_one() == "serializable"
    raw = probe.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SHOW transaction_isolation")
        assert cursor.fetchone()[0] == "serializable"  # the fast path's connection too
    finally:
        raw.close()
    klant = klanten(1)[0]
    with caplog.at_level(logging.WARNING, logger=keystore.__name__):
        a, b, got = race(url, url, admin, klant, hold_until_b_waits(admin))
    rows = stored(admin, [klant])
    assert got["a"] == got["b"] == rows[klant], got
    assert b._create_fell_back and not a._create_fell_back  # B: 40001, then the Core path
    assert "SerializationFailure" in caplog.text
