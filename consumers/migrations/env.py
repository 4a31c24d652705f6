"""Alembic environment of the warehouse (consumers/warehouse_migrate.py runs it).

Normally the application hands over a connection (config.attributes["connection"]), inside
its serialised transaction. For developers writing a revision, `sqlalchemy.url` works too:
    alembic -x url=sqlite:///klantsignaal-data/warehouse.db ... (see docs/warehouse.md)
Only the warehouse's own tables are compared: other modules (inbox, outboxes) keep theirs
in the same database and create them themselves.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import MetaData, create_engine

config = context.config


def target_metadata() -> list[MetaData]:
    from consumers.warehouse import metadata
    from consumers.warehouse_revisions import details_metadata
    from consumers.warehouse_schema import star_metadata

    return [metadata, details_metadata, star_metadata]


def _ours(targets: list[MetaData]) -> Any:
    names = {name for md in targets for name in md.tables}

    def include(obj: Any, name: str | None, type_: str, reflected: bool, _other: Any) -> bool:
        if type_ == "table":
            return name in names or name == "alembic_version"
        return True

    return include


def _run(connection: Any) -> None:
    targets = target_metadata()
    context.configure(
        connection=connection,
        target_metadata=targets,
        include_object=_ours(targets),
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the warehouse URL: alembic -x url=... (or use klantsignaal)")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
