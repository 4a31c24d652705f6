"""Alembic migrations of the warehouse: a data directory written by the code of commit
a09923c (no migrations yet; tests/data/datadir-a09923c, made by make_datadir_a09923c.py)
is upgraded on SQLite and on PostgreSQL without losing or changing a row, and the upgraded
warehouse equals one rebuilt from that data directory's log by today's code."""

from __future__ import annotations

import gzip
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy import inspect as sa_inspect

from consumers.warehouse import Warehouse, metadata
from consumers.warehouse_migrate import BASELINE, alembic_config, current_revision, head_revision
from consumers.warehouse_rebuild import DIMENSIONS, REBUILT, prepare_target, rebuild
from consumers.warehouse_revisions import details_metadata
from consumers.warehouse_schema import star_metadata
from pipeline.runtimes.replay import LogReplay
from pipeline.topology import TOPICS
from tests.support.paths import REPO_ROOT, TEST_DATA
from tests.support.warehouse_compare import differences, snapshot

DATADIR = TEST_DATA / "datadir-a09923c"
TARGETS = [metadata, details_metadata, star_metadata]


def _baseline() -> MetaData:
    revision = ScriptDirectory.from_config(alembic_config()).get_revision(BASELINE)
    assert revision is not None
    return revision.module.metadata


def _restore(into: Path) -> Path:
    """The a09923c data directory (log.db, warehouse.db) restored from its SQL dumps."""
    into.mkdir(parents=True, exist_ok=True)
    for name in ("log.db", "warehouse.db"):
        with gzip.open(DATADIR / f"{name}.sql.gz", "rt", encoding="utf-8") as fh:
            conn = sqlite3.connect(into / name)
            conn.executescript(fh.read())
            conn.close()
    return into


def _old_columns() -> dict[str, list[str]]:
    """What the a09923c schema had, plus the date key the upgrade adds to the facts."""
    return {t.name: [*t.c.keys(), "datum_key"] for t in _baseline().tables.values()}


def _assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    diff = differences(a, b)
    assert not diff, "\n".join(diff[:20])


@pytest.fixture
def other_postgres(postgres_server: Any) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


def _upgraded_equals_rebuilt(upgraded_url: str, rebuilt_url: str, log_path: Path) -> None:
    target = prepare_target(rebuilt_url, replace=False)
    rebuild(LogReplay(log_path, TOPICS), target)
    only = _old_columns()
    tables = [t for t in REBUILT if t in only or t in DIMENSIONS]
    upgraded = snapshot(Warehouse(upgraded_url).engine, tables, only=only)
    _assert_same(upgraded, snapshot(target.engine, tables, only=only))


def test_upgrade_of_an_a09923c_data_directory_keeps_every_row(tmp_path: Path) -> None:
    data = _restore(tmp_path / "data")
    url = f"sqlite:///{data / 'warehouse.db'}"
    old_tables = sorted(_baseline().tables)
    before = snapshot(create_engine(url), old_tables, exclude=())
    assert sum(map(len, before.values())) > 400, "the fixture should hold a real chain's rows"
    assert current_revision(create_engine(url)) is None

    warehouse = Warehouse(url)  # what `klantsignaal run` does at start

    assert current_revision(warehouse.engine) == head_revision()
    after = snapshot(warehouse.engine, old_tables, exclude=(), only=_old_columns())
    for rows in after.values():
        for row in rows:
            row.pop("datum_key", None)
    _assert_same(before, after)
    with warehouse.engine.connect() as conn:
        missing = conn.execute(text("SELECT COUNT(*) FROM contacts WHERE datum_key IS NULL"))
        assert missing.scalar_one() == 0
    _upgraded_equals_rebuilt(url, f"sqlite:///{tmp_path / 'rebuilt.db'}", data / "log.db")


def _copy_rows(source_url: str, target_url: str) -> None:
    """The a09923c rows into the a09923c schema on PostgreSQL, as that code would store them."""
    frozen = _baseline()
    source, target = create_engine(source_url), create_engine(target_url)
    frozen.create_all(target)
    with source.connect() as src, target.begin() as dst:
        for table in frozen.sorted_tables:
            rows = [dict(r._mapping) for r in src.execute(select(table))]
            for row in rows:
                for key, value in row.items():
                    if isinstance(value, datetime) and value.tzinfo is None:
                        row[key] = value.replace(tzinfo=UTC)  # SQLite keeps UTC bare
            if rows:
                dst.execute(table.insert(), rows)
    source.dispose()
    target.dispose()


@pytest.mark.postgres
def test_upgrade_keeps_every_row_on_postgresql(
    tmp_path: Path, postgres_url: str, other_postgres: str
) -> None:
    data = _restore(tmp_path / "data")
    _copy_rows(f"sqlite:///{data / 'warehouse.db'}", postgres_url)
    old_tables = sorted(_baseline().tables)
    before = snapshot(create_engine(postgres_url), old_tables, exclude=())
    assert sum(map(len, before.values())) > 400

    warehouse = Warehouse(postgres_url)

    assert current_revision(warehouse.engine) == head_revision()
    after = snapshot(warehouse.engine, old_tables, exclude=(), only=_old_columns())
    for rows in after.values():
        for row in rows:
            row.pop("datum_key", None)
    _assert_same(before, after)
    _upgraded_equals_rebuilt(postgres_url, other_postgres, data / "log.db")


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migrated_schema_is_the_schema_of_the_code(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A column or table added to the code needs a migration: this fails until it has one."""
    url = (
        f"sqlite:///{tmp_path / 'w.db'}"
        if db == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    warehouse = Warehouse(url)
    ours = {name for md in TARGETS for name in md.tables}

    def include(_obj: Any, name: str | None, type_: str, _reflected: bool, _other: Any) -> bool:
        return type_ != "table" or name in ours

    with warehouse.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include})
        assert compare_metadata(context, TARGETS) == []
        views = {"v_responses", "v_invitations", "v_alerts"}
        for view in views:
            conn.execute(text(f"SELECT * FROM {view}")).fetchall()


def test_processes_starting_together_on_one_sqlite_file(tmp_path: Path) -> None:
    """web and sink on one data directory: the file lock runs the migrations once."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with ThreadPoolExecutor(max_workers=4) as pool:
        warehouses = list(pool.map(lambda _: Warehouse(url), range(4)))
    assert {current_revision(w.engine) for w in warehouses} == {head_revision()}
    assert all(w.count("contacts") == 0 for w in warehouses)


def test_every_table_and_column_is_documented(tmp_path: Path) -> None:
    """docs/warehouse.md has a section per table and view with a row per column."""
    doc = (REPO_ROOT / "docs" / "warehouse.md").read_text()
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    inspector = sa_inspect(warehouse.engine)
    names = [n for md in TARGETS for n in md.tables] + list(inspector.get_view_names())
    missing = []
    for name in names:
        start = doc.find(f"\n### {name}\n")
        if start < 0:
            missing.append(name)
            continue
        end = doc.find("\n### ", start + 1)
        section = doc[start : end if end > 0 else len(doc)]
        columns = [c["name"] for c in inspector.get_columns(name)]
        missing += [f"{name}.{c}" for c in columns if f"| `{c}` |" not in section]
    assert not missing, f"not in docs/warehouse.md: {missing}"
