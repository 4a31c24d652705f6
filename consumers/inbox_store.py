"""The inbox store: the current status of each alert, callback notes and the audit trail.

The write side of the inbox (the warehouse gets the same status changes as events, a little
later). Notes may hold personal details a caseworker typed: they are scrubbed, they stay
here and never go on a topic. The audit trail is append-only: rows are only ever inserted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    update,
)

from consumers.alert_workflow import Action, AlertState
from consumers.warehouse import create_tables, make_engine
from pipeline.privacy import scrub
from pipeline.times import as_utc

_metadata = MetaData()
alert_state = Table(
    "inbox_alert_state",
    _metadata,
    Column("alert_id", String(100), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("toegewezen_aan", String(100)),
    Column("version", Integer, nullable=False),
    Column("gewijzigd_op", DateTime(timezone=True), nullable=False),
)
audit = Table(
    "inbox_audit",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(100), nullable=False, index=True),
    Column("op", DateTime(timezone=True), nullable=False),
    Column("door", String(100), nullable=False),
    Column("wat", String(300), nullable=False),
)
notes = Table(
    "inbox_notes",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(100), nullable=False, index=True),
    Column("op", DateTime(timezone=True), nullable=False),
    Column("door", String(100), nullable=False),
    Column("uitkomst", String(20)),
    Column("tekst", Text, nullable=False),
)


class ChangedMeanwhile(Exception):
    """Someone else changed the alert between reading and writing it."""


@dataclass(frozen=True)
class Stored:
    state: AlertState
    version: int


class InboxStore:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        create_tables(self.engine, _metadata)

    def state(self, alert_id: str) -> Stored:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(alert_state).where(alert_state.c.alert_id == alert_id)
            ).first()
        if row is None:
            return Stored(AlertState(), 0)
        return Stored(AlertState(row.status, row.toegewezen_aan), row.version)

    def states(self, alert_ids: Iterable[str]) -> dict[str, AlertState]:
        ids = list(alert_ids)
        if not ids:
            return {}
        query = select(alert_state).where(alert_state.c.alert_id.in_(ids))
        with self.engine.connect() as conn:
            return {r.alert_id: AlertState(r.status, r.toegewezen_aan) for r in conn.execute(query)}

    def record(
        self,
        alert_id: str,
        before: Stored,
        after: AlertState,
        action: Action,
        what: str,
        note: str | None,
        at: datetime,
        publish: Callable[[], None],
    ) -> None:
        """Store the new state, the audit row and the note; `publish` runs inside the same
        transaction, so a failed publish leaves nothing behind. ChangedMeanwhile when the
        alert moved on since `before` was read."""
        values = {
            "status": after.status,
            "toegewezen_aan": after.toegewezen_aan,
            "gewijzigd_op": at,
        }
        with self.engine.begin() as conn:
            if before.version == 0:
                exists = conn.execute(
                    select(alert_state.c.alert_id).where(alert_state.c.alert_id == alert_id)
                ).first()
                if exists:
                    raise ChangedMeanwhile
                conn.execute(alert_state.insert().values(alert_id=alert_id, version=1, **values))
            else:
                done = conn.execute(
                    update(alert_state)
                    .where(alert_state.c.alert_id == alert_id)
                    .where(alert_state.c.version == before.version)
                    .values(version=before.version + 1, **values)
                )
                if done.rowcount != 1:
                    raise ChangedMeanwhile
            conn.execute(
                audit.insert().values(alert_id=alert_id, op=at, door=action.door, wat=what)
            )
            if note and note.strip():
                conn.execute(
                    notes.insert().values(
                        alert_id=alert_id,
                        op=at,
                        door=action.door,
                        uitkomst=action.uitkomst,
                        tekst=scrub(note.strip())[:2000],
                    )
                )
            publish()

    def log(self, alert_id: str, door: str, what: str) -> None:
        """An audit row on its own: someone looked at something."""
        with self.engine.begin() as conn:
            conn.execute(
                audit.insert().values(alert_id=alert_id, op=datetime.now(UTC), door=door, wat=what)
            )

    def audit_trail(self, alert_id: str) -> list[dict[str, Any]]:
        query = select(audit).where(audit.c.alert_id == alert_id).order_by(audit.c.id)
        with self.engine.connect() as conn:
            return [{**r._mapping, "op": as_utc(r.op)} for r in conn.execute(query)]

    def forget(self, alert_ids: Iterable[str]) -> int:
        """Erase the callback notes of these alerts (a citizen's right to erasure); the audit
        trail holds no citizen data and stays. Returns how many notes were removed."""
        ids = list(alert_ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            return int(conn.execute(notes.delete().where(notes.c.alert_id.in_(ids))).rowcount)

    def notes(self, alert_id: str) -> list[dict[str, Any]]:
        query = select(notes).where(notes.c.alert_id == alert_id).order_by(notes.c.id)
        with self.engine.connect() as conn:
            return [{**r._mapping, "op": as_utc(r.op)} for r in conn.execute(query)]
