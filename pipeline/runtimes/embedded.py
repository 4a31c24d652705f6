"""The embedded runtime: one process, an append-only log and the state in SQLite (WAL).

Every stage step (read records, run the stage, append its output, save its state, move its
offset) is all or nothing, so a crash never loses or duplicates what a stage did. One pass
runs every stage in ONE SQLite transaction, each stage in a savepoint (one fsync per pass
instead of one per stage). Sinks write elsewhere (the warehouse) and are idempotent on
event id, so at-least-once delivery to them is enough: a sink's offset is written with the
next pass's transaction, and a crash before that replays the sink's last batch.
"""

from __future__ import annotations

import logging
import marshal
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.ops.metrics import sink_stored
from pipeline.ports import Sink
from pipeline.processing import (
    Output,
    coalesced,
    dead_letter_json,
    outputs,
    positioned,
    process_record,
    record_items,
    sink_record,
)
from pipeline.topology import DEAD_LETTER, Topology
from schemas import jsonfast
from schemas.cloudevents import CloudEvent

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    offset INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key TEXT,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_topic ON log (topic, offset);
CREATE TABLE IF NOT EXISTS offsets (consumer TEXT PRIMARY KEY, offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state (
    namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
"""


class LogRecord(NamedTuple):
    """One log row (a named tuple: built in C for every row read, unlike a dataclass)."""

    offset: int
    topic: str
    key: str | None
    value: str


class EventLog:
    """Append-only topics in one SQLite file, with consumer offsets and key-value state."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()  # sqlite3 connections must stay in their thread
        # executescript manages its own transaction.
        self._connection().executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged append survives power loss, not only a process crash.
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # some errors (disk full, I/O) already rolled it back
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def append(conn: sqlite3.Connection, topic: str, key: str | None, value: str) -> int:
        cur = conn.execute(
            "INSERT INTO log (topic, key, value) VALUES (?, ?, ?)", (topic, key, value)
        )
        return int(cur.lastrowid or 0)

    @staticmethod
    def append_many(conn: sqlite3.Connection, rows: Sequence[tuple[str, str | None, str]]) -> None:
        """Append (topic, key, value) rows in order."""
        conn.executemany("INSERT INTO log (topic, key, value) VALUES (?, ?, ?)", rows)

    @staticmethod
    def read(
        conn: sqlite3.Connection, topics: Sequence[str], after: int, limit: int
    ) -> list[LogRecord]:
        """The first `limit` records of `topics` after offset `after`, in offset order.

        One topic: its index gives them in order. Several: `topic IN (...) ... ORDER BY
        offset LIMIT n` made SQLite collect EVERY matching record after `after`, values
        included, and sort them, for n of them (a reader behind by a backlog sorted the
        whole backlog per batch). Instead the index alone finds the offset of the n-th
        (offsets only), and the records up to it are read in offset order, filtered by
        topic (`+topic`: not by the index). The same records: offsets only grow, so a
        record appended between the two statements lies beyond that offset."""
        if len(topics) == 1:
            rows = conn.execute(
                "SELECT offset, topic, key, value FROM log WHERE topic = ? AND offset > ? "
                "ORDER BY offset LIMIT ?",
                (topics[0], after, limit),
            ).fetchall()
            return list(map(LogRecord._make, rows))
        marks = ",".join("?" * len(topics))
        (upto,) = conn.execute(
            f"SELECT max(offset) FROM (SELECT offset FROM log WHERE topic IN ({marks}) "
            "AND offset > ? ORDER BY offset LIMIT ?)",
            (*topics, after, limit),
        ).fetchone()
        if upto is None:
            return []
        rows = conn.execute(
            f"SELECT offset, topic, key, value FROM log WHERE +topic IN ({marks}) "
            "AND offset > ? AND offset <= ? ORDER BY offset",
            (*topics, after, upto),
        ).fetchall()
        return list(map(LogRecord._make, rows))

    @staticmethod
    def offset(conn: sqlite3.Connection, consumer: str) -> int:
        row = conn.execute("SELECT offset FROM offsets WHERE consumer = ?", (consumer,)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def commit_offset(conn: sqlite3.Connection, consumer: str, offset: int) -> None:
        conn.execute(
            "INSERT INTO offsets (consumer, offset) VALUES (?, ?) "
            "ON CONFLICT (consumer) DO UPDATE SET offset = excluded.offset",
            (consumer, offset),
        )

    def records(self, topic: str) -> list[dict[str, Any]]:
        """All values on a topic (for tests, the CLI and operators)."""
        conn = self._connection()
        rows = conn.execute("SELECT value FROM log WHERE topic = ? ORDER BY offset", (topic,))
        return [jsonfast.loads(r[0]) for r in rows]


_NONE = object()  # SQLiteState._read_back: no value kept for the key


class SQLiteState:
    """A stage's state inside the step's transaction. Writes are collected and written
    together by `flush` (one executemany), before the step commits; reads see them.
    `prefetch` reads the stored values of a batch's keys in one query per 500 keys (the
    transaction holds the write lock, so they cannot change underneath); `get` still
    gives a fresh value on every call: decoded, or once after a put the value its NaN
    check decoded from the same JSON (stages mutate what they get).

    `hand_over` (a stage's `handed_over_states`): the value a put hands over is kept as it
    is, and the next `get` of the key hands that same object back, after taking a copy
    the record's changes cannot reach (marshal: exact, NaN included, and several times
    cheaper than writing JSON, checking it for NaN and reading it back; a failed record
    leaves that copy, which the next `get` decodes). JSON is written once per key, at
    `flush`. Only for a stage that neither keeps nor shares what it puts (its own dicts
    and lists of JSON types: the monitor's cells, windows and queue chunks, read and
    rewritten for every observation of a batch)."""

    def __init__(self, conn: sqlite3.Connection, namespace: str, hand_over: bool = False):
        self._conn = conn
        self._namespace = namespace
        self._hand_over = hand_over
        self._owned: dict[str, dict[str, Any]] = {}  # hand_over: put, not yet JSON
        self._copies: dict[str, bytes] = {}  # hand_over: handed back, its copy (marshal)
        self._unwritten: dict[str, str | None] = {}  # None: delete
        self._stored: dict[str, str | None] = {}  # prefetched: the stored JSON, or None
        # key -> the latest value put, decoded from its JSON by the put's NaN check
        # (jsonfast.dumps_read_back): handed out once by `get` instead of decoding again.
        self._read_back: dict[str, Any] = {}

    def prefetch(self, keys: Iterable[str]) -> None:
        wanted = [k for k in dict.fromkeys(keys) if k not in self._stored]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT key, value FROM state WHERE namespace = ? AND key IN ({marks})",
                (self._namespace, *chunk),
            )
            found = dict(rows.fetchall())
            for key in chunk:
                self._stored[key] = found.get(key)

    def get(self, key: str) -> dict[str, Any] | None:
        owned = self._owned.pop(key, None)
        if owned is not None:  # hand_over: the object put, handed back, a copy kept
            self._copies[key] = marshal.dumps(owned)
            return owned
        copy = self._copies.get(key)
        if copy is not None:  # handed back, not put again (its record failed, or no change)
            return marshal.loads(copy)  # type: ignore[no-any-return]
        if key in self._unwritten and self._unwritten[key] is None:
            return None
        back = self._read_back.pop(key, _NONE)
        if back is not _NONE:
            return back  # loads of the latest JSON, made by its put; nobody else holds it
        value = self._unwritten.get(key)
        if value is None:
            if key in self._stored:
                value = self._stored[key]
            else:
                row = self._conn.execute(
                    "SELECT value FROM state WHERE namespace = ? AND key = ?",
                    (self._namespace, key),
                ).fetchone()
                value = row[0] if row else None
                self._stored[key] = value  # the lock is held: asked again, it is the same
        return jsonfast.loads(value) if value is not None else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self._hand_over:
            self._owned[key] = value
            self._copies.pop(key, None)
            return
        text, back = jsonfast.dumps_read_back(value)
        self._unwritten[key] = text.decode()
        if back is jsonfast.NOT_READ:
            self._read_back.pop(key, None)
        else:
            self._read_back[key] = back

    def delete(self, key: str) -> None:
        self._unwritten[key] = None
        self._owned.pop(key, None)
        self._copies.pop(key, None)
        self._read_back.pop(key, None)

    def flush(self) -> None:
        for key, copy in self._copies.items():
            self._unwritten[key] = jsonfast.dumps_str(marshal.loads(copy))
        for key, value in self._owned.items():
            self._unwritten[key] = jsonfast.dumps_str(value)
        self._owned.clear()
        self._copies.clear()
        items = self._unwritten.items()
        self._conn.executemany(
            "INSERT INTO state (namespace, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            [(self._namespace, key, value) for key, value in items if value is not None],
        )
        gone = [(self._namespace, key) for key, value in items if value is None]
        if gone:
            self._conn.executemany("DELETE FROM state WHERE namespace = ? AND key = ?", gone)
        self._stored.update(self._unwritten)
        self._unwritten.clear()


def _encode(event: CloudEvent) -> str:
    return jsonfast.dumps_str(event.to_structured())


def _decode(value: str) -> CloudEvent | str:
    try:
        return CloudEvent.from_structured(jsonfast.loads(value))
    except Exception as exc:  # whatever is in the log, the stage must move past it
        return f"geen geldig CloudEvent in het log: {type(exc).__name__}"


class EmbeddedRuntime:
    """Drives the topology's stages and the sinks over an EventLog, in a background thread."""

    def __init__(
        self,
        event_log: EventLog,
        topology: Topology,
        sinks: Sequence[Sink] = (),
        batch_size: int = 500,
        sink_batch_size: int | None = None,
        max_hold_s: float = 0.2,
    ):
        self.log = event_log
        self.topology = topology
        self.sinks = tuple(sinks)
        self.batch_size = batch_size
        # A stage's batch makes several records (invitations, signals, observations): sinks
        # take bigger batches, one warehouse transaction for what a stage pass wrote.
        self.sink_batch_size = sink_batch_size or 4 * batch_size
        self._sink_done: dict[str, int] = {}  # stored by the sink, offset not yet written
        self.max_hold_s = max_hold_s  # longest write-lock hold of a pass (see _stage_transaction)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._decode_cache: dict[int, tuple[str, CloudEvent | str]] = {}
        self._thread: threading.Thread | None = None

    # -- Publisher port -------------------------------------------------------------------
    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        self.publish_many({topic: events})

    def publish_many(self, batches: Mapping[str, Sequence[CloudEvent]]) -> None:
        rows = [
            (topic, event.partitionkey, _encode(event))
            for topic, events in batches.items()
            for event in events
        ]
        with self.log.transaction() as conn:
            self.log.append_many(conn, rows)  # one statement for the batch, in order
        self._wake.set()

    # -- processing -----------------------------------------------------------------------
    def _run_stage(self, conn: sqlite3.Connection, stage: Any) -> int:
        """One stage over its next batch, inside the step's transaction."""
        records = self.log.read(
            conn, stage.inputs, self.log.offset(conn, stage.name), self.batch_size
        )
        if not records:
            return 0
        handed = getattr(stage, "handed_over_states", ())
        states = {name: SQLiteState(conn, name, name in handed) for name in stage.state_names}
        keys = [rec.key for rec in records if rec.key is not None]
        beside = getattr(stage, "keys_beside", None)  # keys a stage keeps beside the record's
        if beside is not None:
            keys += [k for key in dict.fromkeys(keys) for k in beside(key, "log")]
        for state in states.values():
            state.prefetch(keys)  # stages key their state by the record's key (klant, cell)
        outs: list[Output] = []
        for rec in records:
            of_rec: list[Output] = []
            # A coalesced record of observations is its items, each on its own.
            for decoded, position, raw in record_items(
                rec.topic, self._decoded(rec), str(rec.offset), {"value": rec.value}
            ):
                outcome = process_record(stage, rec.topic, decoded, states, position, raw)
                of_rec += outputs(outcome, stage.name, rec.key)
            outs += positioned(of_rec, "log", rec.offset)  # observations: where they came from
        appends: list[tuple[str, str | None, str]] = []
        made: list[CloudEvent | None] = []  # the event of each append (None: a dead letter)
        for out in coalesced(outs):  # the batch's monitor observations: a record per cell
            value = _encode(out.event) if out.event else dead_letter_json(out.dead_letter)
            appends.append((out.topic, out.key, value))
            made.append(out.event)
        # Same transaction as the reads: collected writes land together, in order.
        for state in states.values():
            state.flush()
        self.log.append_many(conn, appends)
        if appends:  # before the offset's upsert, which may insert a row of its own
            self._remember_appended(conn, appends, made)
        self.log.commit_offset(conn, stage.name, records[-1].offset)
        return len(records)

    def _remember_appended(
        self,
        conn: sqlite3.Connection,
        appends: Sequence[tuple[str, str | None, str]],
        made: Sequence[CloudEvent | None],
    ) -> None:
        """The events a stage just appended go into the decode cache under their offsets,
        so the stages and sinks after it in this pass do not decode the JSON made from them
        (the same event: its data holds only JSON types). One statement appended them with
        the write lock held, so their offsets are consecutive up to the last one; the cache
        compares the value anyway."""
        last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        first = last - len(appends) + 1
        for i, ((_, _, value), event) in enumerate(zip(appends, made, strict=True)):
            if event is not None:
                self._decode_cache[first + i] = (value, event)

    def _run_stages(self) -> int:
        """Every stage at least once, in as few transactions as the lock bound allows."""
        done, stages = 0, list(self.topology.stages)
        while stages:
            n, stages = self._stage_transaction(stages)
            done += n
        return done

    def _stage_transaction(self, stages: list[Any]) -> tuple[int, list[Any]]:
        """Stages in ONE transaction (one fsync, not one per stage), each in a savepoint: a
        stage that fails is rolled back alone, the stages before it are committed, and the
        failure is raised after the commit (as one transaction per stage did). While a
        round found records and the lock bound is not reached, another round over every
        stage follows in the same transaction: what a stage left over (more than a batch)
        or what an earlier stage made of this round's output is handled with the same
        fsync and the same sink pass. Once the write lock has been held `max_hold_s`, the
        rest goes into the next transaction, so a publisher (an HTTP request) never waits
        for more than about that. The sinks' stored offsets are written in the same
        transaction. Returns (records, stages left)."""
        done = 0
        with self.log.transaction() as conn:
            began = time.monotonic()
            for name, offset in self._sink_done.items():
                self.log.commit_offset(conn, name, offset)
            while True:
                n, rest, failure, timed_out = self._stage_round(conn, stages, began)
                done += n
                if failure is not None or timed_out or n == 0:
                    break
                stages = list(self.topology.stages)  # another round, same transaction
        self._sink_done.clear()
        if failure is not None:
            raise failure
        return done, rest

    def _stage_round(
        self, conn: sqlite3.Connection, stages: list[Any], began: float
    ) -> tuple[int, list[Any], Exception | None, bool]:
        """The stages in order, each in a savepoint; stops at a failure (rolled back) or at
        the lock bound. Returns (records, stages not run, failure, bound reached)."""
        done = 0
        for i, stage in enumerate(stages):
            conn.execute("SAVEPOINT stage")
            try:
                done += self._run_stage(conn, stage)
            except Exception as exc:
                if not conn.in_transaction:
                    raise  # SQLite rolled back the whole pass (disk full, I/O error)
                conn.execute("ROLLBACK TO stage")
                conn.execute("RELEASE stage")
                return done, [], exc, False
            conn.execute("RELEASE stage")
            if time.monotonic() - began >= self.max_hold_s:
                return done, stages[i + 1 :], None, True
        return done, [], None, False

    def _sink_position(self, conn: sqlite3.Connection, sink: Sink) -> int:
        done = self._sink_done.get(sink.name)
        return done if done is not None else self.log.offset(conn, sink.name)

    def _sink_read(self, sink: Sink) -> tuple[list[LogRecord], int]:
        """The sink's next records, and how far its position may move once it stored them.

        A sink may name the topics it stores anything of (`stored_topics`: the warehouse has
        no rows for monitor observations); only those are read. When that read ends before
        its limit, nothing of those topics is left up to the log's end as the same read
        transaction sees it, so the position moves there (an idle sink is at the end, as
        when it read every topic)."""
        conn = self.log._connection()
        topics = getattr(sink, "stored_topics", sink.topics)
        position = self._sink_position(conn, sink)
        conn.execute("BEGIN")  # one snapshot for both reads (WAL)
        try:
            records = self.log.read(conn, topics, position, self.sink_batch_size)
            if len(records) == self.sink_batch_size:
                return records, records[-1].offset
            end = conn.execute("SELECT coalesce(max(offset), 0) FROM log").fetchone()[0]
            return records, max(int(end), records[-1].offset if records else position)
        finally:
            conn.execute("COMMIT")

    def _run_sink(self, sink: Sink) -> int:
        records, upto = self._sink_read(sink)
        if not records:
            if upto > self._sink_position(self.log._connection(), sink):
                self._sink_done[sink.name] = upto  # only records it does not read came
            return 0
        batch = []
        for rec in records:
            decoded = None if rec.topic == DEAD_LETTER else self._decoded(rec)
            item = sink_record(rec.topic, str(rec.offset), decoded, rec.value, {"value": rec.value})
            if item is not None:
                batch.append(item)
        # Offset only after the sink stored the batch: a crash in between replays it. It is
        # written with the next pass's stage transaction (or at stop): a crash before that
        # replays the batch too, which idempotent sinks ignore.
        sink.handle(batch)
        sink_stored(sink.name, batch)
        self._sink_done[sink.name] = upto
        return len(records)

    def flush_offsets(self) -> None:
        """Write the offsets of what the sinks stored (the next pass does this too)."""
        if self._sink_done:
            with self.log.transaction() as conn:
                for name, offset in self._sink_done.items():
                    self.log.commit_offset(conn, name, offset)
            self._sink_done.clear()

    def _decoded(self, rec: LogRecord) -> CloudEvent | str:
        """A record decoded once per step: contacts are read by three stages and the sinks.
        (Stages and sinks only read an event; the value is compared, so a reused offset of a
        rolled-back append can never return another record's event.)"""
        cached = self._decode_cache.get(rec.offset)
        if cached is not None and cached[0] == rec.value:
            return cached[1]
        decoded = _decode(rec.value)
        self._decode_cache[rec.offset] = (rec.value, decoded)
        return decoded

    def step(self) -> int:
        """One pass over every stage and sink; returns how many records were handled."""
        self._decode_cache.clear()
        done = self._run_stages()
        for sink in self.sinks:
            try:
                done += self._run_sink(sink)
            except Exception:
                # A sink outage (database down) must not stop the stages; retry next pass.
                log.exception("sink %s failed; will retry", sink.name)
        return done

    def run_until_idle(self, max_passes: int = 10_000) -> int:
        total = 0
        for _ in range(max_passes):
            n = self.step()
            total += n
            if n == 0:
                break
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.step()
            except Exception:
                log.exception("embedded runtime step failed; retrying")
                busy = 0
            if not busy:
                self._wake.wait(0.5)
                self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name="klantsignaal-embedded", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                return  # still in a pass: its next transaction writes the offsets
        self.flush_offsets()
