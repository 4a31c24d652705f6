"""The warehouse's bulk inserts on SQLite: the statement SQLAlchemy Core would run, compiled
once per table and column set, and the rows bound as Core binds them (the column types' own
bind processors), handed to the driver as one executemany of tuples.

Core's `conn.execute(insert, rows)` compiles from its cache and then builds every row's
parameters through its generic machinery (per row: a dict of every bind, a processor call
per key, a tuple): about a fifth of the embedded pipeline's warehouse sink. The statement
and the bound values are the same (tests/consumers/test_warehouse_insert.py compares what
reaches the driver). Whatever this path does not cover goes through Core unchanged:
other databases (PostgreSQL's driver batches Core's executemany itself), rows with
differing keys, a table column with a default the rows leave out, and a value a bind
processor refuses (Core raises its own error for it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import sqlite

_Binder = tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]]


class BulkInserts:
    """INSERT ... ON CONFLICT DO NOTHING of prepared rows (dicts of column values)."""

    def __init__(self, engine: Engine):
        self.dialect = engine.dialect
        self.fast = engine.dialect.name == "sqlite" and engine.dialect.positional
        self._binders: dict[tuple[str, tuple[str, ...]], _Binder | None] = {}

    def insert_ignore(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> bool:
        """Runs the insert and returns True, or returns False: then Core must run it."""
        binder = self._binder(table, tuple(rows[0])) if self.fast and rows else None
        params = _bound(binder, rows) if binder is not None else None
        if binder is None or params is None:
            return False
        conn.exec_driver_sql(binder[0], params)
        return True

    def _binder(self, table: Table, keys: tuple[str, ...]) -> _Binder | None:
        cache_key = (table.name, keys)
        if cache_key not in self._binders:
            self._binders[cache_key] = self._compile(table, keys)
        return self._binders[cache_key]

    def _compile(self, table: Table, keys: tuple[str, ...]) -> _Binder | None:
        names = set(keys)
        if not names <= set(table.c.keys()):
            return None  # Core decides what an unknown key means
        left_out = [c for c in table.c if c.key not in names]
        if any(c.default is not None or c.onupdate is not None for c in left_out):
            return None  # Core fills such a column per row: leave that to it
        stmt = sqlite.insert(table).on_conflict_do_nothing()
        compiled = stmt.compile(dialect=self.dialect, column_keys=list(keys))
        order = compiled.positiontup or ()
        if sorted(order) != sorted(keys):
            return None
        binds = tuple(
            (name, table.c[name].type.dialect_impl(self.dialect).bind_processor(self.dialect))
            for name in order
        )
        return str(compiled), binds


def _bound(binder: _Binder, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]] | None:
    """Each row's values in the statement's order, through the column types' processors;
    None when a row has other keys than the first or a processor refuses a value. A value
    that is the very object of the row before (`stored_at`: one per batch) reuses its
    processed form (processors are functions of the value alone)."""
    names = [name for name, _ in binder[1]]
    if any(len(row) != len(names) for row in rows):
        return None  # a row with extra keys: Core decides (it uses the first row's keys)
    processed = [(i, proc) for i, (_, proc) in enumerate(binder[1]) if proc is not None]
    values_of = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    last: dict[int, tuple[Any, Any]] = {}
    out: list[tuple[Any, ...]] = []
    try:
        for row in rows:
            values = values_of(row)
            if processed:
                values = list(values)
                for i, proc in processed:
                    value = values[i]
                    seen = last.get(i)
                    if seen is not None and seen[0] is value:
                        values[i] = seen[1]
                    else:
                        values[i] = proc(value)
                        last[i] = (value, values[i])
                values = tuple(values)
            out.append(values)
    except Exception:  # noqa: BLE001 - Core raises its own error for the same value
        return None
    return out


__all__ = ["BulkInserts"]
