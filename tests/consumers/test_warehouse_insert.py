"""The warehouse's SQLite bulk inserts (consumers/warehouse_insert.py) send the driver what
SQLAlchemy Core sends it: the same statements with the same bound values, batch by batch,
over the warehouse scenario (late, out-of-order, duplicate, revised and invalid events,
every event table), and the resulting tables are equal row for row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from consumers.warehouse import Warehouse, WarehouseSink, contacts
from consumers.warehouse_insert import BulkInserts
from pipeline.ports import SinkRecord
from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog
from pipeline.sentiment import lexicon_scorer
from pipeline.settings import Settings
from pipeline.topology import TOPICS, build_topology
from tests.support.warehouse_compare import differences, snapshot
from tests.support.warehouse_scenario import play

TABLES = (
    "contacts",
    "contact_sources",
    "invitations",
    "responses",
    "response_details",
    "signals",
    "alerts",
    "alert_details",
    "page_feedback",
    "alert_status_changes",
    "dispatch_outcomes",
    "dead_letters",
    "dim_datum",
    "dim_dienst",
    "dim_kanaal",
    "dim_team",
)


def _recorded(warehouse: Warehouse) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """(statement, rows) of every INSERT that reaches the driver."""
    seen: list[tuple[str, list[tuple[Any, ...]]]] = []

    @event.listens_for(warehouse.engine, "before_cursor_execute")
    def _record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool):
        if statement.lstrip().upper().startswith("INSERT"):
            rows = params if many else [params]
            seen.append((statement, [tuple(row) for row in rows]))

    return seen


class _Both:
    """A sink that stores every batch in two warehouses, with the same `stored_at`."""

    name = "warehouse"

    def __init__(self, fast: Warehouse, core: Warehouse):
        self.sinks = (WarehouseSink(fast, TOPICS), WarehouseSink(core, TOPICS))
        self.topics = self.sinks[0].topics
        self.stored_topics = self.sinks[0].stored_topics

    def handle(self, records: Sequence[SinkRecord]) -> None:
        for sink in self.sinks:
            sink.handle(records)


def test_bulk_inserts_send_what_core_sends(tmp_path: Path, monkeypatch: Any) -> None:
    fast = Warehouse(f"sqlite:///{tmp_path / 'fast.db'}")
    core = Warehouse(f"sqlite:///{tmp_path / 'core.db'}")
    core._inserts.fast = False  # every insert through Core, as before
    fixed = datetime(2026, 11, 30, 12, 0, 1, 234567, tzinfo=UTC)

    class _Now(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # noqa: ARG003 - stored_at, both the same
            return fixed

    monkeypatch.setattr("consumers.warehouse.datetime", _Now)
    sent_fast, sent_core = _recorded(fast), _recorded(core)
    data_dir = tmp_path / "pipeline"
    log = EventLog(data_dir / "log.db")
    runtime = EmbeddedRuntime(
        log,
        build_topology(Settings(data_dir=data_dir, link_key="k"), lexicon_scorer()),
        sinks=[_Both(fast, core)],
        batch_size=37,
    )
    play(runtime.publish, runtime.run_until_idle, log.records, contacts=80)

    assert sent_fast == sent_core
    inserted = {statement.split()[2] for statement, _ in sent_fast}
    assert {"contacts", "signals", "alerts", "dead_letters", "dispatch_outcomes"} <= inserted
    diff = differences(snapshot(fast.engine, TABLES), snapshot(core.engine, TABLES))
    assert not diff, "\n".join(diff[:20])
    assert snapshot(fast.engine, ["contacts"])["contacts"]


def test_what_the_fast_path_does_not_cover_goes_through_core(tmp_path: Path) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    inserts = BulkInserts(warehouse.engine)
    row = {"event_id": "e1", "stored_at": datetime(2026, 1, 1, tzinfo=UTC)}
    row |= {"contact_id": "c1", "klant": "k1", "kanaal": "telefoon"}
    with warehouse.engine.begin() as conn:
        # Rows with other keys than the first, and a value the DateTime type refuses.
        assert not inserts.insert_ignore(conn, contacts, [row, {**row, "team": "T"}])
        assert not inserts.insert_ignore(conn, contacts, [{**row, "stored_at": "gisteren"}])
        assert not inserts.insert_ignore(conn, contacts, [{**row, "onbekend": 1}])
        assert inserts.insert_ignore(conn, contacts, [row, {**row, "event_id": "e2"}])
        assert inserts.insert_ignore(conn, contacts, [row])  # a replay: ignored
    assert warehouse.count("contacts") == 2
