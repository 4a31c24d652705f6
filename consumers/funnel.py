"""The response funnel per channel or service: invited, delivered, opened, started, answered,
opted out — computed in the warehouse (see docs/dispatch.md#funnel for the definitions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, case, cast, exists, func, select

from consumers.warehouse import (
    Warehouse,
    _insert_ignore,
    dispatch_outcomes,
    invitations,
    opt_outs,
    questionnaire_visits,
    responses,
)

STAGES = ("opened", "started")
GROUPS = {"kanaal": (invitations.c.kanaal,), "dienst": (invitations.c.dienst_code,)}
FIGURES = ("invited", "delivered", "opened", "started", "answered", "optedOut")


class SqlVisitRecorder:
    """The VisitRecorder port (pipeline.ports) on the warehouse table questionnaire_visits."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    def record_visit(self, invitation_id: str, stage: str, at: datetime | None = None) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}")
        row = {"invitation_id": invitation_id, "stage": stage, "op": at or datetime.now(UTC)}
        engine = self.warehouse.engine
        with engine.begin() as conn:
            conn.execute(_insert_ignore(engine, questionnaire_visits), [row])


def _flag(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def funnel(
    warehouse: Warehouse,
    by: str,
    where: Sequence[Any] = (),
    teams: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Rows per kanaal or dienst (code) plus totals; an invitation counts once per figure.

    `where`: extra conditions on the invitations table (the dashboard's filters).
    `teams`: count only invitations of these teams (a team-limited reader); None: all."""
    inv = invitations.c
    answered = exists().where(responses.c.invitation_id == inv.invitation_id)
    visits = questionnaire_visits.c
    opened = exists().where(visits.invitation_id == inv.invitation_id)
    started = exists().where(visits.invitation_id == inv.invitation_id, visits.stage == "started")
    delivered = exists().where(
        dispatch_outcomes.c.invitation_id == inv.invitation_id,
        dispatch_outcomes.c.uitkomst == "delivered",
    )
    inline = cast(inv.dispatch, String).like('%"inline"%')
    opted = exists().where(opt_outs.c.invitation_id == inv.invitation_id)
    (key,) = GROUPS[by]
    query = (
        select(
            key,
            func.count(),
            _flag(delivered | inline),
            _flag(opened | started | answered),
            _flag(started | answered),
            _flag(answered),
            _flag(opted),
        )
        .where(*where)
        .group_by(key)
        .order_by(key)
    )
    opted_out_citizens = select(func.count(func.distinct(opt_outs.c.klant)))
    if teams is not None:
        query = query.where(inv.team.in_(sorted(teams)))
        # Only opt-outs given on an invitation of these teams; the rest belong to no team.
        opted_out_citizens = opted_out_citizens.where(
            exists().where(
                inv.invitation_id == opt_outs.c.invitation_id, inv.team.in_(sorted(teams))
            )
        )
    with warehouse.engine.connect() as conn:
        rows = [
            {by: r[0], **{name: int(v or 0) for name, v in zip(FIGURES, r[1:], strict=True)}}
            for r in conn.execute(query)
        ]
        all_opt_outs = conn.execute(opted_out_citizens).scalar()
    for row in rows:
        row["responseRate"] = round(row["answered"] / row["invited"], 4) if row["invited"] else None
    totals = {name: sum(r[name] for r in rows) for name in FIGURES}
    totals["responseRate"] = (
        round(totals["answered"] / totals["invited"], 4) if totals["invited"] else None
    )
    # Opt-outs given without an invitation (e.g. at the KCC) belong to no channel row.
    totals["optedOutCitizens"] = int(all_opt_outs or 0)
    return {"by": by, "rows": rows, "totals": totals}
