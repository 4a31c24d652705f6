"""Performing an action on an alert: the workflow rule, the inbox store write, the audit row
and the `nl.klantsignaal.alert-status.v1` event, all or nothing. Used by the inbox pages
and by the alerts API (tokens with scope alerts:write)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consumers.alert_workflow import ACTIONS_NL, OUTCOMES, Action, AlertState, apply
from consumers.inbox_store import InboxStore
from pipeline.ports import Publisher
from schemas.cloudevents import new_event
from schemas.models import AlertStatus
from schemas.types import ALERT_STATUS


def iso_ms(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds: two actions in one second keep their order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audit_text(act: Action, after: AlertState) -> str:
    what = ACTIONS_NL[act.handeling]
    if act.handeling == "toewijzen":
        return f"{what} aan {after.toegewezen_aan}"
    if act.handeling == "terugbelpoging":
        return f"{what}: {OUTCOMES[act.uitkomst or '']}"
    if act.handeling == "afhandelen":
        return f"{what}: {act.categorie}"
    return what


@dataclass
class AlertActions:
    store: InboxStore
    publisher: Publisher

    def perform(
        self, alert: dict[str, Any], act: Action, note: str | None, source: str
    ) -> AlertState:
        """The new state; ActionRefused or ChangedMeanwhile leave everything as it was."""
        before = self.store.state(alert["alert_id"])
        after = apply(before.state, act)
        at = datetime.now(UTC)
        change = AlertStatus(
            alert_id=alert["alert_id"],
            team=alert["team"],
            status=after.status,
            handeling=act.handeling,
            door=act.door,
            op=iso_ms(at),
            uitkomst=act.uitkomst if act.handeling == "terugbelpoging" else None,
            categorie=act.categorie if act.handeling == "afhandelen" else None,
            toegewezen_aan=after.toegewezen_aan,
        )
        event = new_event(
            ALERT_STATUS.name,
            change.to_dict(),
            source=source,
            key=alert["alert_id"],
            event_id=str(uuid.uuid4()),
        )
        self.store.record(
            alert["alert_id"],
            before,
            after,
            act,
            audit_text(act, after),
            note,
            at,
            lambda: self.publisher.publish(ALERT_STATUS.topic, [event]),
        )
        return after
