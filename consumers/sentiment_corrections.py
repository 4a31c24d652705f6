"""Caseworkers' "sentiment klopt niet" corrections, read from the warehouse for retraining.

The table `sentiment_corrections` is written by the inbox (scrubbed comment in `text`, the
label the caseworker chose in `label_to`: neg|neu|pos). This adapter only reads it; a
warehouse without the table simply has no corrections yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import MetaData, Table, create_engine, inspect, select

TABLE = "sentiment_corrections"
LABELS = frozenset({"neg", "neu", "pos"})


def read_corrections(url: str) -> list[tuple[str, str]]:
    """(text, label_to) of every correction, oldest first; [] when the table is absent."""
    engine = create_engine(url, future=True, hide_parameters=True)
    try:
        if not inspect(engine).has_table(TABLE):
            return []
        table = Table(TABLE, MetaData(), autoload_with=engine)
        cols = table.c
        query = select(cols.text, cols.label_to)
        order = [c for c in ("op", "created_at", "id") if c in cols]  # op: when it was made
        if order:
            query = query.order_by(cols[order[0]])
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    finally:
        engine.dispose()
    return [(t, lab) for t, lab in rows if isinstance(t, str) and t.strip() and lab in LABELS]


def correction_source(url: str) -> Callable[[], Iterable[tuple[str, str]]]:
    """The warehouse adapter for `klantsignaal sentiment retrain`."""
    return lambda: read_corrections(url)
