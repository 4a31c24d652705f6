"""Bringing a warehouse database to the current schema with Alembic, at every start.

The web, the sink and `klantsignaal run` call `upgrade_schema` when they open the
warehouse. Starts are serialised: on PostgreSQL by an advisory lock held for the
transaction (web and sink start together in docker-compose), on SQLite by a lock file next
to the database. A database made before migrations existed (tables, no `alembic_version`)
is adopted: missing baseline tables are created as `create_all` did, it is stamped with the
baseline revision and then upgraded like any other; no row is touched but by migrations.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text

log = logging.getLogger(__name__)
# Alembic says "Context impl SQLiteImpl" at every start; our own line says what changed.
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
BASELINE = "0001_baseline"
_PG_LOCK = 4215001  # the same lock create_tables takes for the other tables


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an alembic.ini: the migrations ship in the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    # For the service account only, like every file in the data directory (0600).
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def serialised(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other process's schema change runs beside."""
    with _file_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK})
        yield conn


def _adopt_unversioned(conn: Connection) -> None:
    """A warehouse from before migrations: complete its baseline tables and stamp it."""
    names = set(inspect(conn).get_table_names())
    if "alembic_version" in names:
        return
    config = alembic_config(conn)
    baseline = ScriptDirectory.from_config(config).get_revision(BASELINE)
    assert baseline is not None
    frozen: MetaData = baseline.module.metadata
    if not names & set(frozen.tables):
        return  # a new database: the migrations build it from the start
    log.info("warehouse made before migrations: stamping it %s, then upgrading", BASELINE)
    frozen.create_all(conn, checkfirst=True)
    command.stamp(config, BASELINE)


def upgrade_schema(engine: Engine, also: Sequence[MetaData] = ()) -> None:
    """Upgrade to the newest revision; then create any table of `also` that is missing
    (a table added to the code without a migration is still created, as before)."""
    with serialised(engine) as conn:
        _adopt_unversioned(conn)
        before = MigrationContext.configure(conn).get_current_revision()
        if before != head_revision():
            log.info("warehouse schema at %s; upgrading to %s", before, head_revision())
            command.upgrade(alembic_config(conn), "head")
        for tables in also:
            tables.create_all(conn, checkfirst=True)
