"""The measures' read model over the warehouse tables (SQLAlchemy; SQLite or PostgreSQL).

Implements pipeline.measures.ports.MeasuresReadModel. Answers are the scored response
signals (they carry kanaal, dienst and team from the joined contact). `teams` limits every
row to those teams (a team-limited reader); page feedback has no team and is then left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, exists, func, select

from consumers.warehouse import (
    alert_details,
    alert_status_changes,
    alerts,
    contacts,
    invitations,
    page_feedback,
    responses,
    signals,
)
from pipeline.measures.ports import (
    AlertRow,
    AnswerRow,
    ContactRow,
    Dimension,
    InvitationRow,
    PageFeedbackRow,
)
from pipeline.times import as_utc

WEBSITE = "website"  # page feedback is given on the website
NO_SERVICE = "zonder-dienst"


def _group(table: Any, by: Dimension) -> Any:
    return {"kanaal": table.c.kanaal, "dienst": table.c.dienst_code, "team": table.c.team}[by]


@dataclass
class SqlMeasuresReadModel:
    engine: Engine
    # None: every team. Keyword-only, so subclasses may add positional fields after engine.
    teams: frozenset[str] | None = field(default=None, kw_only=True)

    def _rows(self, query: Any, table: Any = None) -> Iterator[Any]:
        if self.teams is not None and table is not None:
            query = query.where(table.c.team.in_(sorted(self.teams)))
        with self.engine.connect() as conn:
            yield from conn.execute(query)

    def answers(self, by: Dimension) -> Iterator[AnswerRow]:
        group = _group(signals, by)
        query = select(
            group,
            signals.c.ontvangen_op,
            signals.c.nps,
            signals.c.ces,
            signals.c.ces_schaal,
            signals.c.rapportcijfer,
        ).where(
            signals.c.bron == "response", group.is_not(None), signals.c.ontvangen_op.is_not(None)
        )
        for g, at, nps, ces, schaal, cijfer in self._rows(query, signals):
            yield AnswerRow(g, as_utc(at), nps, ces, schaal, cijfer)

    def invitations(self, by: Dimension) -> Iterator[InvitationRow]:
        group = _group(invitations, by)
        answered = exists().where(responses.c.invitation_id == invitations.c.invitation_id)
        query = select(group, invitations.c.created_at, answered).where(
            group.is_not(None), invitations.c.created_at.is_not(None)
        )
        for g, at, was_answered in self._rows(query, invitations):
            yield InvitationRow(g, as_utc(at), bool(was_answered))

    def contacts(self, by: Dimension) -> Iterator[ContactRow]:
        group = _group(contacts, by)
        query = select(
            group, contacts.c.plaatsgevonden_op, contacts.c.klant, contacts.c.dienst_code
        ).where(group.is_not(None), contacts.c.plaatsgevonden_op.is_not(None))
        for g, at, klant, dienst in self._rows(query, contacts):
            yield ContactRow(g, as_utc(at), klant, dienst or "")

    def page_feedback(self, by: Dimension) -> Iterator[PageFeedbackRow]:
        if by == "team" or self.teams is not None:
            return  # page feedback belongs to no team
        query = select(
            page_feedback.c.dienst_code, page_feedback.c.gegeven_op, page_feedback.c.beoordeling
        ).where(page_feedback.c.gegeven_op.is_not(None))
        for dienst, at, beoordeling in self._rows(query):
            group = WEBSITE if by == "kanaal" else (dienst or NO_SERVICE)
            yield PageFeedbackRow(group, as_utc(at), beoordeling)

    def alerts(self, by: Dimension) -> Iterator[AlertRow]:
        group = _group(alerts, by)
        changes = alert_status_changes.c

        def first(condition: Any) -> Any:
            return (
                select(func.min(changes.op))
                .where(changes.alert_id == alerts.c.alert_id, condition)
                .scalar_subquery()
            )

        query = (
            select(
                group,
                alerts.c.aangemaakt_op,
                alert_details.c.uiterlijk_op,
                alerts.c.terugbel_toestemming,
                first(changes.handeling == "terugbelpoging"),
                first(changes.status == "afgehandeld"),
            )
            .select_from(
                alerts.outerjoin(alert_details, alert_details.c.alert_id == alerts.c.alert_id)
            )
            .where(group.is_not(None))
        )
        for g, created, due, wanted, attempt, handled in self._rows(query, alerts):
            yield AlertRow(
                g,
                as_utc(created),
                as_utc(due),
                bool(wanted),
                as_utc(attempt),
                as_utc(handled),
            )
