"""`klantsignaal warehouse rebuild`: a live chain with late, out-of-order, duplicate and
invalid events, then a rebuild from its log (embedded) or its topics (Kafka) into a fresh
database, compared row for row with the live warehouse (all event-derived tables, ordered
by key; only `stored_at`, the arrival time, is left out) on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from consumers.warehouse import Warehouse, WarehouseSink
from consumers.warehouse_rebuild import REBUILT, NotEmpty, prepare_target, rebuild
from pipeline.cli import main
from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog
from pipeline.runtimes.replay import LogReplay
from pipeline.sentiment import load_scorer
from pipeline.settings import Settings
from pipeline.topology import TOPICS, build_topology
from tests.consumers.test_warehouse_migrations import _restore
from tests.support.paths import REPO_ROOT
from tests.support.warehouse_compare import differences, snapshot
from tests.support.warehouse_scenario import play

REPO = REPO_ROOT


def _assert_same(live: dict[str, Any], rebuilt: dict[str, Any]) -> None:
    diff = differences(live, rebuilt)
    assert not diff, "\n".join(diff[:20])


def _caught_up(runtime: EmbeddedRuntime, timeout: float = 60.0) -> None:
    """Until every stage and sink has read every record on its topics."""
    conn = runtime.log._connection()
    readers = [(s.name, s.inputs) for s in runtime.topology.stages]
    readers += [(s.name, s.topics) for s in runtime.sinks]
    deadline = time.monotonic() + timeout
    while True:
        behind = []
        for name, topics in readers:
            marks = ",".join("?" * len(topics))
            (last,) = conn.execute(
                f"SELECT COALESCE(MAX(offset), 0) FROM log WHERE topic IN ({marks})",
                tuple(topics),
            ).fetchone()
            if last > EventLog.offset(conn, name):
                behind.append(name)
        if not behind:
            return
        assert time.monotonic() < deadline, f"{behind} not caught up after {timeout} s"
        time.sleep(0.05)


def _live_embedded(data_dir: Path, url: str) -> Warehouse:
    """The chain as `klantsignaal run` runs it: the runtime's own thread, the sink in it;
    small batches, so the live batches differ from the rebuild's."""
    warehouse = Warehouse(url)
    log = EventLog(data_dir / "log.db")
    runtime = EmbeddedRuntime(
        log,
        build_topology(Settings(data_dir=data_dir, link_key="test-link-key"), load_scorer()),
        sinks=[WarehouseSink(warehouse, TOPICS)],
        batch_size=37,
    )
    runtime.start()
    try:
        play(runtime.publish, lambda: _caught_up(runtime), log.records, contacts=100)
    finally:
        runtime.stop()
    return warehouse


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLANTSIGNAAL_")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "warehouse", "rebuild", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fresh_postgres(postgres_server: Any) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


def _urls(db: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    if db == "sqlite":
        return f"sqlite:///{tmp_path / 'live.db'}", f"sqlite:///{tmp_path / 'rebuilt.db'}"
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("fresh_postgres")


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rebuild_from_the_log_equals_the_live_warehouse(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    live_url, target_url = _urls(db, tmp_path, request)
    data_dir = tmp_path / "data"
    live = _live_embedded(data_dir, live_url)
    assert live.count("dead_letters") >= 1 and live.count("alert_status_changes") == 2

    done = _cli("--data-dir", str(data_dir), "--into", target_url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warehouse: 100%" in done.stderr  # the progress bar reached the end
    rebuilt = Warehouse(target_url)
    _assert_same(snapshot(live.engine, REBUILT), snapshot(rebuilt.engine, REBUILT))
    if db == "postgres":
        return  # refusing and --replace do not depend on the database: checked once

    with pytest.raises(NotEmpty, match="niet leeg"):
        prepare_target(target_url, replace=False)
    replaced = _cli("--data-dir", str(data_dir), "--into", target_url, "--replace")
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    _assert_same(snapshot(live.engine, REBUILT), snapshot(rebuilt.engine, REBUILT))


def _store_in_order(url: str, records: list[Any], rng: random.Random | None) -> Warehouse:
    warehouse = Warehouse(url)
    sink = WarehouseSink(warehouse, TOPICS)
    if rng is None:
        sink.handle(records)
        return warehouse
    shuffled = records[:]
    rng.shuffle(shuffled)
    while shuffled:  # random batch sizes, and every batch twice (a replay after a crash)
        n = rng.randint(1, 40)
        batch, shuffled = shuffled[:n], shuffled[n:]
        sink.handle(batch)
        sink.handle(batch)
    return warehouse


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_any_order_and_batching_gives_the_same_warehouse(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Out-of-order events: every record of a real chain's log, in log order as one batch
    and in two random orders in random batches, each delivered twice."""
    log_path = _restore(tmp_path / "data") / "log.db"
    records = [r for batch in LogReplay(log_path, TOPICS).batches() for r in batch.records]
    urls = [f"sqlite:///{tmp_path / f'w{i}.db'}" for i in range(3)]
    if db == "postgres":
        urls = [request.getfixturevalue("postgres_url"), request.getfixturevalue("fresh_postgres")]
    first = _store_in_order(urls[0], records, None)
    expected = snapshot(first.engine, REBUILT)
    for i, url in enumerate(urls[1:]):
        other = _store_in_order(url, records, random.Random(i))
        _assert_same(expected, snapshot(other.engine, REBUILT))
    _assert_late_events_land_right(first)


def _assert_late_events_land_right(warehouse: Warehouse) -> None:
    with warehouse.engine.connect() as conn:

        def one(sql: str) -> Any:
            return conn.execute(text(sql)).one()

        # The status change published before its alert, and the later one before the earlier.
        assert one("SELECT actuele_status FROM v_alerts WHERE alert_id = 'a-late-1'")[0] == (
            "afgehandeld"
        )
        # The older contact with the old name came later: the newer name stays.
        assert one("SELECT dienst_naam FROM dim_dienst WHERE dienst_code = 'afval'")[0] == (
            "Afvalinzameling (nieuw)"
        )
        # Revision 2 arrived before revision 1: revision 2 stays, the first answer time too.
        nps, revisie, first = one(
            "SELECT r.nps, d.revisie, d.first_answered_at FROM responses r JOIN "
            "response_details d ON d.response_id = r.response_id "
            "WHERE r.invitation_id = 'i-revised'"
        )
        assert (nps, revisie) == (0, 2) and str(first).startswith("2026-11-20 11:30")
        # The response that came before its contact is there; the contact once, not twice.
        assert one("SELECT COUNT(*) FROM responses WHERE invitation_id LIKE 'i-orphan-%'")[0] == 1
        assert one("SELECT COUNT(*) FROM contacts WHERE dienst_code = 'afval'")[0] == 2
        assert one("SELECT COUNT(*) FROM dead_letters WHERE reason LIKE '%kanaal%'")[0] >= 1
        assert one("SELECT COUNT(*) FROM contacts WHERE datum_key IS NULL")[0] == 0


def test_rebuild_refuses_a_missing_log_and_a_full_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(FileNotFoundError):
        LogReplay(tmp_path / "nothing" / "log.db", TOPICS)
    target = prepare_target(f"sqlite:///{tmp_path / 'w.db'}", replace=False)
    replay = LogReplay(_restore(tmp_path / "d") / "log.db", TOPICS)
    assert rebuild(replay, target).read == replay.total > 400
    with pytest.raises(NotEmpty, match="niet leeg"):
        prepare_target(f"sqlite:///{tmp_path / 'w.db'}", replace=False)
    # The command says so and exits with 2, for a missing log as for a non-empty target.
    command = ["warehouse", "rebuild", "--into", f"sqlite:///{tmp_path / 'w.db'}"]
    assert main([*command, "--data-dir", str(tmp_path / "nothing")]) == 2
    assert main([*command, "--data-dir", str(tmp_path / "d")]) == 2
    assert "niet leeg" in capsys.readouterr().err
