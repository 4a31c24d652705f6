"""Read models of the dashboard over the warehouse (SQLAlchemy; SQLite or PostgreSQL).

`FilteredMeasuresRead` is the measures' read model with the dashboard's filters (kanaal,
dienst, teams) added as WHERE clauses to every query it runs, whatever the table: a table
with the column is filtered on it, a table without it contributes nothing under that filter
(page feedback has no team; its kanaal is the website).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Join, Table, false, func, select

from consumers.measures_read import WEBSITE, SqlMeasuresReadModel
from consumers.warehouse import contacts, page_feedback, signals
from pipeline.dashboard.themes import Comment


@dataclass(frozen=True)
class Filters:
    kanaal: str | None = None
    dienst: str | None = None
    teams: frozenset[str] | None = None  # None: all teams

    def conditions(self, table: Table) -> list[Any]:
        return self.conditions_on([table])

    def conditions_on(self, tables: list[Table]) -> list[Any]:
        """Each filter on the first of `tables` having its column; when none has it, the
        query yields nothing under that filter (page feedback's kanaal is the website)."""
        out: list[Any] = []
        wanted = (
            ("kanaal", self.kanaal, lambda c: c == self.kanaal),
            ("dienst_code", self.dienst, lambda c: c == self.dienst),
            ("team", self.teams, lambda c: c.in_(sorted(self.teams or ()))),
        )
        for name, value, condition in wanted:
            if value is None:
                continue
            column = next((t.c[name] for t in tables if name in t.c), None)
            if column is not None:
                out.append(condition(column))
            elif not (name == "kanaal" and value == WEBSITE):
                out.append(false())
        return out


def _tables(from_clause: Any) -> list[Table]:
    """The tables of a FROM item in join order (a Join is walked left to right)."""
    if isinstance(from_clause, Table):
        return [from_clause]
    if isinstance(from_clause, Join):
        return [*_tables(from_clause.left), *_tables(from_clause.right)]
    return []


def restrict(query: Any, filters: Filters) -> Any:
    for from_clause in query.get_final_froms():
        conditions = filters.conditions_on(_tables(from_clause))
        if conditions:
            query = query.where(*conditions)
    return query


@dataclass
class FilteredMeasuresRead(SqlMeasuresReadModel):
    filters: Filters = Filters()

    def _rows(self, query: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        yield from super()._rows(restrict(query, self.filters), *args, **kwargs)


@dataclass
class SqlComments:
    """The CommentSource port: scrubbed comments of answers, by service, in a time window."""

    engine: Engine
    filters: Filters
    since: datetime
    until: datetime

    def _query(self, *columns: Any) -> Any:
        s = signals.c
        query = select(*columns).where(
            s.opmerking.is_not(None),
            s.opmerking != "",
            s.dienst_code.is_not(None),
            s.ontvangen_op >= self.since,
            s.ontvangen_op < self.until,
        )
        return restrict(query, self.filters)

    def comments(self) -> list[Comment]:
        s = signals.c
        query = self._query(s.dienst_naam, s.dienst_code, s.opmerking).order_by(s.signal_id)
        with self.engine.connect() as conn:
            return [Comment(naam or code, text) for naam, code, text in conn.execute(query)]

    def version(self) -> Hashable:
        s = signals.c
        with self.engine.connect() as conn:
            count, last = conn.execute(self._query(func.count(), func.max(s.stored_at))).one()
        return (count, str(last))


def choices(engine: Engine, teams: frozenset[str] | None) -> dict[str, list[str]]:
    """The values the filters offer: kanalen, diensten (code) and teams in the warehouse."""
    c = contacts.c
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for name, column in (("kanaal", c.kanaal), ("dienst", c.dienst_code), ("team", c.team)):
            query = select(column).where(column.is_not(None)).distinct().order_by(column)
            out[name] = [str(v) for (v,) in conn.execute(query)]
        has_feedback = conn.execute(select(page_feedback.c.event_id).limit(1)).first()
    if has_feedback and teams is None and WEBSITE not in out["kanaal"]:
        out["kanaal"] = sorted([*out["kanaal"], WEBSITE])  # page feedback counts as kanaal
    if teams is not None:
        out["team"] = [t for t in out["team"] if t in teams]
    return out
