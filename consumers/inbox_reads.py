"""What the inbox and the alerts API read from the warehouse (a read model behind one class).

Alerts are read tolerantly: columns that newer alert policies add (`uiterlijk_op`, `soort`,
`contacthistorie`) are used when present and missed gracefully when not.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from consumers.warehouse import (
    Warehouse,
    alert_details,
    alert_status_changes,
    alerts,
    contacts,
    current_alert_status,
    responses,
    sentiment_corrections,
    signals,
)
from pipeline.times import as_utc


def _aware(value: Any) -> Any:
    return as_utc(value) if isinstance(value, datetime) else value


def _row(r: Any) -> dict[str, Any]:
    return {k: _aware(v) for k, v in r._mapping.items()}


def latest_status_column() -> Any:
    """The status of an alert as the warehouse knows it: its latest change, else open
    (consumers.warehouse.current_alert_status, as v_alerts.actuele_status)."""
    return current_alert_status()


def _alerts_query(status: Any) -> Any:
    """Alerts with their details (due date, soort, contact history) and current status."""
    joined = alerts.outerjoin(alert_details, alert_details.c.alert_id == alerts.c.alert_id)
    return select(
        alerts,
        alert_details.c.soort,
        alert_details.c.uiterlijk_op,
        alert_details.c.contacthistorie,
        status.label("actuele_status"),
    ).select_from(joined)


class InboxReads:
    def __init__(self, warehouse: Warehouse):
        self.engine = warehouse.engine

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        if "\x00" in alert_id:  # no such alert; PostgreSQL refuses NUL in text
            return None
        query = _alerts_query(latest_status_column()).where(alerts.c.alert_id == alert_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _row(row) if row else None

    def alerts(
        self,
        *,
        teams: frozenset[str] | None,
        team: str | None = None,
        dienst: str | None = None,
        ernst: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Newest first; `teams` None means every team, an empty set means none."""
        if teams is not None and not teams:
            return []
        if any("\x00" in value for value in (team, dienst, ernst) if value):
            return []  # matches nothing; PostgreSQL refuses NUL in text
        current = latest_status_column()
        query = _alerts_query(current)
        if teams is not None:
            query = query.where(alerts.c.team.in_(sorted(teams)))
        if team:
            query = query.where(alerts.c.team == team)
        if dienst:
            query = query.where(alerts.c.dienst_code == dienst)
        if ernst:
            query = query.where(alerts.c.ernst == ernst)
        if status:
            query = query.where(current == status)
        if since:
            query = query.where(alerts.c.aangemaakt_op >= since.astimezone(UTC))
        query = query.order_by(alerts.c.aangemaakt_op.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def teams_and_services(self) -> tuple[list[str], list[tuple[str, str]]]:
        with self.engine.connect() as conn:
            teams = [r[0] for r in conn.execute(select(alerts.c.team).distinct()) if r[0]]
            services = conn.execute(
                select(alerts.c.dienst_code, alerts.c.dienst_naam).distinct()
            ).all()
        return sorted(teams), sorted({(c, n or c) for c, n in services if c})

    def signal(self, signal_id: str) -> dict[str, Any] | None:
        return self._one(select(signals).where(signals.c.signal_id == signal_id))

    def response(self, response_id: str | None) -> dict[str, Any] | None:
        if not response_id:
            return None
        return self._one(select(responses).where(responses.c.response_id == response_id))

    def contact(self, contact_id: str | None, klant: str | None = None) -> dict[str, Any] | None:
        """The contact; give `klant`: a contactId is only unique per channel system."""
        if not contact_id:
            return None
        query = select(contacts).where(contacts.c.contact_id == contact_id)
        if klant is not None:
            query = query.where(contacts.c.klant == klant)
        return self._one(query)

    def journey(self, klant: str, until: datetime, days: int = 30) -> list[dict[str, Any]]:
        """The klant's contacts in the `days` before `until`, oldest first."""
        since = until.astimezone(UTC) - timedelta(days=days)
        query = (
            select(contacts)
            .where(contacts.c.klant == klant)
            .where(contacts.c.plaatsgevonden_op >= since)
            .where(contacts.c.plaatsgevonden_op <= until.astimezone(UTC) + timedelta(minutes=5))
            .order_by(contacts.c.plaatsgevonden_op)
            .limit(200)
        )
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def status_history(self, alert_id: str) -> list[dict[str, Any]]:
        query = (
            select(alert_status_changes)
            .where(alert_status_changes.c.alert_id == alert_id)
            .order_by(alert_status_changes.c.op)
        )
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def add_sentiment_correction(
        self, signal_id: str, text: str, label_from: str | None, label_to: str, door: str
    ) -> str:
        correction_id = str(uuid.uuid4())
        row = {
            "id": correction_id,
            "signal_id": signal_id,
            "text": text,
            "label_from": label_from,
            "label_to": label_to,
            "door": door,
            "op": datetime.now(UTC),
        }
        with self.engine.begin() as conn:
            conn.execute(sentiment_corrections.insert().values(**row))
        return correction_id

    def _one(self, query: Any) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(query.limit(1)).first()
        return _row(row) if row else None
