"""The warehouse as the questionnaire's read model (pipeline/citizen_ports.QuestionnaireReads)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from consumers.warehouse import Warehouse, contacts, invitations, responses
from consumers.warehouse_revisions import latest_details
from pipeline.citizen_ports import InvitationView, PreviousAnswers
from pipeline.times import as_utc


class WarehouseQuestionnaireReads:
    def __init__(self, warehouse: Warehouse):
        self.engine = warehouse.engine

    def invitation(self, token: str) -> InvitationView | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(invitations).where(invitations.c.token == token)).first()
            if row is None:
                return None
            inv = row._mapping
            taal = conn.execute(
                select(contacts.c.taal)
                .where(contacts.c.contact_id == inv["contact_id"], contacts.c.klant == inv["klant"])
                .limit(1)
            ).scalar()
        return InvitationView(
            invitation_id=inv["invitation_id"],
            contact_id=inv["contact_id"],
            klant=inv["klant"],
            dienst_naam=inv["dienst_naam"],
            expires_at=as_utc(inv["expires_at"]),
            taal=taal,
        )

    def previous_answers(self, invitation_id: str) -> PreviousAnswers | None:
        with self.engine.connect() as conn:
            details = latest_details(conn, invitation_id)
            query = select(responses).where(responses.c.invitation_id == invitation_id)
            rows = [dict(r._mapping) for r in conn.execute(query)]
        if not rows:
            return None
        latest = max(
            rows, key=lambda r: as_utc(r["answered_at"]) or datetime.min.replace(tzinfo=UTC)
        )
        first = details["first_answered_at"] if details else as_utc(latest["answered_at"])
        return PreviousAnswers(
            response_id=latest["response_id"],
            revisie=int(details["revisie"]) if details else 1,
            first_answered_at=first,  # type: ignore[arg-type]
            values=_form_values(latest, details),
        )


def _form_values(row: dict[str, Any], details: dict[str, Any] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in ("ces", "nps", "rapportcijfer"):
        if row.get(name) is not None:
            values[name] = str(row[name])
        if row.get(f"{name}_opmerking"):
            values[f"{name}_opmerking"] = row[f"{name}_opmerking"]
    if details and details.get("contact_via"):
        values["contact"] = details["contact_via"]
    elif row.get("terugbel_toestemming") is False:
        values["contact"] = "nee"
    return values
