"""EventLog.read (pipeline/runtimes/embedded.py) gives what the plain query gives: the first
`limit` records of the topics after an offset, in offset order; for several topics it finds
the cut-off offset by the index first, then reads up to it. Checked against that query on
logs of interleaved topics (dense, sparse, absent), every position and limit, and with an
append between its two statements."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.runtimes.embedded import EventLog, LogRecord

TOPICS = ("contacts", "invitations", "observations", "opt-outs", "signals")


def _plain(conn: sqlite3.Connection, topics: tuple[str, ...], after: int, limit: int):
    marks = ",".join("?" * len(topics))
    rows = conn.execute(
        f"SELECT offset, topic, key, value FROM log WHERE topic IN ({marks}) AND offset > ? "
        "ORDER BY offset LIMIT ?",
        (*topics, after, limit),
    ).fetchall()
    return [LogRecord._make(row) for row in rows]


@settings(max_examples=60, deadline=None)
@given(
    log=st.lists(st.sampled_from(TOPICS[:4]), max_size=120),
    topics=st.lists(st.sampled_from(TOPICS), min_size=1, max_size=5, unique=True),
    after=st.integers(min_value=-1, max_value=130),
    limit=st.integers(min_value=1, max_value=60),
)
def test_read_gives_what_the_plain_query_gives(
    tmp_path_factory, log: list[str], topics: list[str], after: int, limit: int
) -> None:
    event_log = EventLog(tmp_path_factory.mktemp("log") / "log.db")
    conn = event_log._connection()
    with event_log.transaction() as tx:
        event_log.append_many(tx, [(t, f"k{i % 7}", f'{{"n":{i}}}') for i, t in enumerate(log)])
    wanted = _plain(conn, tuple(topics), after, limit)
    assert event_log.read(conn, topics, after, limit) == wanted


def test_a_record_appended_between_the_two_statements_is_not_read(tmp_path: Path) -> None:
    event_log = EventLog(tmp_path / "log.db")
    with event_log.transaction() as tx:
        event_log.append_many(tx, [("contacts", "k", "1"), ("signals", "k", "2")] * 3)
    reader = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    statements: list[str] = []

    def _trace(statement: str) -> None:
        statements.append(statement)
        if len(statements) == 1:  # after the cut-off, before the records: another writer
            with event_log.transaction() as tx:
                event_log.append(tx, "contacts", "k", "late")

    reader.set_trace_callback(_trace)
    got = EventLog.read(reader, ["contacts", "signals"], 0, 4)
    assert [r.offset for r in got] == [1, 2, 3, 4]
    assert len(statements) == 2
    reader.set_trace_callback(None)
    assert [r.value for r in EventLog.read(reader, ["contacts", "signals"], 4, 10)] == [
        "1",
        "2",
        "late",
    ]
