"""The embedded runtime's pass: all stages in one transaction (a savepoint each), the sinks'
offsets written with the next pass. A failing stage is rolled back alone; a crash before
a sink's offset is written replays its batch, which the warehouse stores once."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from consumers.warehouse import Warehouse, WarehouseSink
from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog, SQLiteState
from pipeline.sentiment import lexicon_scorer
from pipeline.settings import Settings
from pipeline.stages.base import StateUnavailable
from pipeline.topology import DEAD_LETTER, TOPICS, build_topology
from schemas.types import CONTACT, INVITATION, MONITOR_OBSERVATION
from tests.support.events import contact_event, klant
from tests.support.observations import observations


def _runtime(
    tmp_path: Path, warehouse: Warehouse | None = None, max_hold_s: float = 0.2
) -> EmbeddedRuntime:
    settings = Settings(data_dir=tmp_path, link_key="k")
    sinks = [WarehouseSink(warehouse, TOPICS)] if warehouse else []
    topology = build_topology(settings, lexicon_scorer())
    log = EventLog(tmp_path / "log.db")
    return EmbeddedRuntime(log, topology, sinks=sinks, max_hold_s=max_hold_s)


def _offsets(runtime: EmbeddedRuntime) -> dict[str, int]:
    rows = runtime.log._connection().execute("SELECT consumer, offset FROM offsets")
    return dict(rows.fetchall())


# 0: every stage in a transaction of its own (the lock bound reached after each stage).
@pytest.mark.parametrize("max_hold_s", [0.2, 0.0])
def test_a_stage_failing_in_the_runtime_is_rolled_back_alone_and_redone_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_hold_s: float
) -> None:
    runtime = _runtime(tmp_path, max_hold_s=max_hold_s)
    contacts = [contact_event(klant=klant(i)) for i in range(1, 6)]
    runtime.publish(CONTACT.topic, contacts)
    real_append = EventLog.append_many

    def failing_append(conn: Any, rows: Any) -> None:
        if any(topic == MONITOR_OBSERVATION.topic for topic, _, _ in rows):
            raise OSError("disk says no")
        real_append(conn, rows)

    monkeypatch.setattr(EventLog, "append_many", staticmethod(failing_append))
    with pytest.raises(OSError):
        runtime.step()
    # The trigger ran before monitor-feed: its invitations and offset are committed; the
    # failing stage left nothing (no observations, offset not moved).
    invitations = runtime.log.records(INVITATION.topic)
    assert len(invitations) == 5
    assert runtime.log.records(MONITOR_OBSERVATION.topic) == []
    assert "monitor-feed" not in _offsets(runtime)
    monkeypatch.setattr(EventLog, "append_many", staticmethod(real_append))
    runtime.run_until_idle()
    # Exactly what a run without the failure writes: nothing twice, nothing missing.
    clean = _runtime(tmp_path / "clean")
    clean.publish(CONTACT.topic, contacts)
    clean.run_until_idle()
    for topic in (INVITATION.topic, MONITOR_OBSERVATION.topic):
        ids = [r["id"] for r in runtime.log.records(topic)]
        assert ids == [r["id"] for r in clean.log.records(topic)], topic
        assert ids and len(ids) == len(set(ids)), topic


def test_an_error_that_rolls_back_the_whole_pass_is_raised_as_itself_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = _runtime(tmp_path)
    contacts = [contact_event(klant=klant(i)) for i in range(1, 6)]
    runtime.publish(CONTACT.topic, contacts)
    real_append = EventLog.append_many

    def full_disk(conn: Any, rows: Any) -> None:
        if any(topic == MONITOR_OBSERVATION.topic for topic, _, _ in rows):
            conn.execute("ROLLBACK")  # what SQLite does itself on SQLITE_FULL or SQLITE_IOERR
            raise sqlite3.OperationalError("database or disk is full")
        real_append(conn, rows)

    monkeypatch.setattr(EventLog, "append_many", staticmethod(full_disk))
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        runtime.step()
    assert runtime.log.records(INVITATION.topic) == []  # the whole pass is gone, trigger too
    monkeypatch.setattr(EventLog, "append_many", staticmethod(real_append))
    runtime.run_until_idle()
    ids = [r["id"] for r in runtime.log.records(INVITATION.topic)]
    assert len(ids) == len(set(ids)) == 5


def test_a_state_that_cannot_be_reached_rolls_the_stage_back_and_it_is_redone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """StateUnavailable (not the record's fault) is raised by process_record: the stage's
    savepoint is rolled back, its offset stays, no dead letter; the next pass redoes it."""
    runtime = _runtime(tmp_path)
    runtime.publish(CONTACT.topic, [contact_event(klant=klant(i)) for i in range(1, 6)])
    real_get = SQLiteState.get

    def unreachable(self: SQLiteState, key: str) -> Any:
        if self._namespace == "last_invited":
            raise StateUnavailable("key store: ProgrammingError")
        return real_get(self, key)

    monkeypatch.setattr(SQLiteState, "get", unreachable)
    with pytest.raises(StateUnavailable):
        runtime.step()
    assert runtime.log.records(DEAD_LETTER) == []
    assert runtime.log.records(INVITATION.topic) == []
    assert "trigger" not in _offsets(runtime)
    monkeypatch.setattr(SQLiteState, "get", real_get)
    runtime.run_until_idle()
    ids = [r["id"] for r in runtime.log.records(INVITATION.topic)]
    assert len(ids) == len(set(ids)) == 5
    assert runtime.log.records(DEAD_LETTER) == []


def test_sink_offsets_land_with_the_next_pass_and_a_crash_before_replays_once(
    tmp_path: Path,
) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    runtime = _runtime(tmp_path, warehouse)
    runtime.publish(CONTACT.topic, [contact_event(klant=klant(i)) for i in range(1, 4)])
    runtime.step()  # stages, then the sink stores; its offset is not written yet
    assert warehouse.count("contacts") == 3
    assert "warehouse" not in _offsets(runtime)
    # A crash now (the runtime object is gone, nothing flushed): a new runtime replays.
    again = _runtime(tmp_path, warehouse)
    again.run_until_idle()
    assert warehouse.count("contacts") == 3
    assert warehouse.count("invitations") == 3
    last = runtime.log._connection().execute("SELECT max(offset) FROM log").fetchone()[0]
    assert _offsets(again)["warehouse"] == last  # idle: every offset is written
    # stop() writes what the sinks stored since the last pass.
    again.publish(CONTACT.topic, [contact_event(klant=klant(9))])
    again.step()
    again.stop()
    last = runtime.log._connection().execute("SELECT max(offset) FROM log").fetchone()[0]
    assert _offsets(again)["warehouse"] == last


def test_more_than_a_batch_is_done_in_one_pass_and_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rounds: what a stage left over (more than its batch) and what the stages after it
    make of it go into the same transaction while the lock bound allows."""
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    settings = Settings(data_dir=tmp_path, link_key="k")
    runtime = EmbeddedRuntime(
        EventLog(tmp_path / "log.db"),
        build_topology(settings, lexicon_scorer()),
        sinks=[WarehouseSink(warehouse, TOPICS)],
        batch_size=10,
        sink_batch_size=1000,
        max_hold_s=60.0,
    )
    runtime.publish(CONTACT.topic, [contact_event(klant=klant(i)) for i in range(1, 26)])
    transactions = 0
    real = EventLog.transaction

    def counted(self: EventLog) -> Any:
        nonlocal transactions
        transactions += 1
        return real(self)

    monkeypatch.setattr(EventLog, "transaction", counted)
    runtime.step()
    assert transactions == 1
    assert len(runtime.log.records(INVITATION.topic)) == 25  # three batches of the trigger
    records = runtime.log.records(MONITOR_OBSERVATION.topic)
    assert len(observations(records)) == 50  # contacts + invitations
    assert len(records) < 25  # coalesced: a record per cell and batch
    assert warehouse.count("contacts") == 25 and warehouse.count("invitations") == 25
    assert runtime.run_until_idle() == 0  # nothing left over
