"""Trigger: decide which contacts get a questionnaire invitation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from pipeline.stages.base import Clock, Emit, State, emit, iso, parse_time, system_clock
from schemas.cloudevents import CloudEvent, derived_id
from schemas.models import Contact, Invitation
from schemas.types import CONTACT, INVITATION


@dataclass(frozen=True)
class TriggerRules:
    quarantine_days: int = 90
    valid_days: int = 14
    # Channels where no questionnaire makes sense (a letter cannot show a link).
    excluded_channels: frozenset[str] = frozenset({"brief"})


def link_token(link_key: str, klant: str, contact_id: str) -> str:
    """Unguessable but deterministic, so a replayed contact yields the same link.

    contactId is only unique per channel system, so the klant is part of the identity.
    """
    message = f"invitation:{klant}:{contact_id}".encode()
    digest = hmac.new(link_key.encode(), message, hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:24]).decode().rstrip("=")


def skip_reason(contact: Contact, last_invited: dict | None, rules: TriggerRules) -> str | None:
    """Why this contact gets no invitation, or None when it is eligible."""
    if not contact.indicatie_contact_gelukt:
        return "contact niet gelukt"
    if contact.vertrouwelijk:
        return "vertrouwelijk contact"
    if contact.kanaal in rules.excluded_channels:
        return f"kanaal {contact.kanaal} uitgesloten"
    if contact.bereikbaarheid is not None and not contact.bereikbaarheid.enquete_toestemming:
        return "geen toestemming voor enquête"
    if last_invited is not None and last_invited.get("contactId") != contact.contact_id:
        # abs(): contacts may arrive out of order; an older one is just as close to the last.
        since = parse_time(contact.plaatsgevonden_op) - parse_time(last_invited["at"])
        if abs(since) < timedelta(days=rules.quarantine_days):
            return f"quarantaine: al uitgenodigd op {last_invited['at']}"
    # The same contact again (a replay after a crash) is invited again: same ids, deduped.
    return None


@dataclass
class TriggerStage:
    link_key: str
    rules: TriggerRules = field(default_factory=TriggerRules)
    source: str = "/klantsignaal/trigger"
    clock: Clock = system_clock
    name: str = "trigger"
    inputs: tuple[str, ...] = (CONTACT.topic,)
    outputs: tuple[str, ...] = (INVITATION.topic,)
    state_names: tuple[str, ...] = ("last_invited",)

    def process(self, topic: str, event: CloudEvent, state: Mapping[str, State]) -> list[Emit]:
        contact = Contact.from_dict(event.data)
        invited = state["last_invited"]
        if skip_reason(contact, invited.get(contact.klant), self.rules) is not None:
            return []
        created = self.clock()
        dispatch = contact.bereikbaarheid.kanalen if contact.bereikbaarheid else ()
        invitation = Invitation(
            invitation_id=derived_id("invitation", contact.klant, contact.contact_id),
            contact_id=contact.contact_id,
            klant=contact.klant,
            token=link_token(self.link_key, contact.klant, contact.contact_id),
            kanaal=contact.kanaal,
            dienst=contact.dienst,
            team=contact.team,
            dispatch=tuple(dispatch) or ("inline",),
            created_at=iso(created),
            expires_at=iso(created + timedelta(days=self.rules.valid_days)),
        )
        last = invited.get(contact.klant)
        if last is None or parse_time(last["at"]) <= parse_time(contact.plaatsgevonden_op):
            # Keep the latest invitation: quarantine counts from there.
            invited.put(
                contact.klant, {"at": contact.plaatsgevonden_op, "contactId": contact.contact_id}
            )
        return [
            emit(
                INVITATION,
                invitation,
                source=self.source,
                key=contact.klant,
                event_id=invitation.invitation_id,
            )
        ]
