"""Row-for-row snapshots of warehouse tables, comparable across runs and databases."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, MetaData, Table, select


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLite gives naive UTC, PostgreSQL aware
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value


def snapshot(
    engine: Engine,
    tables: Iterable[str],
    *,
    exclude: Iterable[str] = ("stored_at",),
    only: dict[str, list[str]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Every row of each table, ordered by primary key, without the `exclude` columns
    (`only`: per table, the columns to keep)."""
    skip = set(exclude)
    meta = MetaData()
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for name in tables:
            table = Table(name, meta, autoload_with=conn)
            keep = [c for c in table.c if c.name not in skip]
            if only and name in only:
                keep = [c for c in keep if c.name in only[name]]
            order = list(table.primary_key.columns) or keep
            rows = conn.execute(select(*keep).order_by(*order))
            out[name] = [{k: _norm(v) for k, v in r._mapping.items()} for r in rows]
    return out


def differences(
    a: dict[str, list[dict[str, Any]]], b: dict[str, list[dict[str, Any]]]
) -> list[str]:
    """Human-readable differences (empty when equal), at most three rows per table."""
    out = []
    for name in sorted(set(a) | set(b)):
        rows_a, rows_b = a.get(name, []), b.get(name, [])
        if len(rows_a) != len(rows_b):
            out.append(f"{name}: {len(rows_a)} rows vs {len(rows_b)}")
        shown = 0
        for x, y in zip(rows_a, rows_b, strict=False):
            if x != y and shown < 3:
                diff = {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)}
                out.append(f"{name}: {diff}")
                shown += 1
    return out
