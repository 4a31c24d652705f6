"""Trigger: decide which contacts get a questionnaire invitation, by which route and when.

The rules, in order (the first that applies says no):
1. the contact did not succeed, is confidential, or the citizen gave no consent — a
   contact *without* `bereikbaarheid` counts as no consent (see docs/invitation-policy.md);
2. the citizen opted out (an opt-out event for the klant, on any channel, ever before);
3. quarantine: another invitation for this klant within `quarantine_days`, on any channel;
4. the invitation policy: channel/service eligible, in the sample, an allowed route.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pipeline.invitation_policy import Decision, InvitationPolicy
from pipeline.stages.base import Clock, Emit, Rejected, State, emit, system_clock
from pipeline.times import iso, parse_time
from schemas.cloudevents import CloudEvent, derived_id
from schemas.models import Contact, Invitation, OptOut, parsed
from schemas.types import CONTACT, INVITATION, OPT_OUT

# Invitation moments kept per klant for the quarantine check (the newest ones).
MAX_REMEMBERED_INVITATIONS = 50


def link_token(link_key: str, klant: str, contact_id: str) -> str:
    """Unguessable but deterministic, so a replayed contact yields the same link.

    contactId is only unique per channel system, so the klant is part of the identity.
    """
    message = f"invitation:{klant}:{contact_id}".encode()
    # hmac.digest: the one-shot HMAC in C (the same digest as hmac.new(...).digest()).
    digest = hmac.digest(link_key.encode(), message, "sha256")
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def consent_problem(contact: Contact) -> str | None:
    if not contact.indicatie_contact_gelukt:
        return "contact niet gelukt"
    if contact.vertrouwelijk:
        return "vertrouwelijk contact"
    if contact.bereikbaarheid is None:
        return "geen toestemming bekend (geen bereikbaarheid)"
    if not contact.bereikbaarheid.enquete_toestemming:
        return "geen toestemming voor enquête"
    return None


def quarantine_problem(
    contact: Contact, invited: list[dict[str, Any]], quarantine_days: int
) -> str | None:
    """Another invitation for this klant closer than the quarantine, in either direction
    (contacts may arrive out of order). The same contact again (a replay) is no problem:
    it yields the same invitation id, which consumers deduplicate."""
    when = parse_time(contact.plaatsgevonden_op)
    window = timedelta(days=quarantine_days)
    for entry in invited:
        if entry["contactId"] == contact.contact_id:
            return None
    for entry in invited:
        if abs(when - parse_time(entry["at"])) < window:
            return f"quarantaine: al uitgenodigd op {entry['at']}"
    return None


def skip_reason(
    contact: Contact,
    invited: list[dict[str, Any]],
    opted_out: dict[str, Any] | None,
    quarantine_days: int,
) -> str | None:
    """Why this contact gets no invitation before the policy is asked, or None."""
    problem = consent_problem(contact)
    if problem:
        return problem
    if opted_out is not None:
        return f"afgemeld op {opted_out['at']}"
    return quarantine_problem(contact, invited, quarantine_days)


def remember_invitation(
    state: State, klant: str, invited: list[dict[str, Any]], contact: Contact
) -> None:
    if any(e["contactId"] == contact.contact_id for e in invited):
        return
    entries = [*invited, {"at": contact.plaatsgevonden_op, "contactId": contact.contact_id}]
    entries.sort(key=lambda e: parse_time(e["at"]))
    state.put(klant, {"invitations": entries[-MAX_REMEMBERED_INVITATIONS:]})


def _invited(raw: dict[str, Any] | None) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if "invitations" in raw:
        return list(raw["invitations"])
    return [raw]  # state written before the policy: {"at", "contactId"}


@dataclass
class TriggerStage:
    link_key: str
    policy: InvitationPolicy = field(default_factory=InvitationPolicy)
    source: str = "/klantsignaal/trigger"
    clock: Clock = system_clock
    name: str = "trigger"
    inputs: tuple[str, ...] = (CONTACT.topic, OPT_OUT.topic)
    outputs: tuple[str, ...] = (INVITATION.topic,)
    state_names: tuple[str, ...] = ("last_invited", "opted_out")
    # An opt-out touches only `opted_out`: `last_invited` is a state of contacts alone,
    # so the Kafka worker may defer its changelog writes (pipeline.stages.base.states_for).
    state_use: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            CONTACT.topic: ("last_invited", "opted_out"),
            OPT_OUT.topic: ("opted_out",),
        }
    )

    def __post_init__(self) -> None:
        # Load the public-holiday calendar at start-up (~0.5 s), not on the first contact.
        self.policy.office_hours.next_open(self.clock())

    def process(self, topic: str, event: CloudEvent, state: Mapping[str, State]) -> list[Emit]:
        if event.type == OPT_OUT.name:
            self._opt_out(OptOut.from_dict(event.data), state["opted_out"])
            return []
        if event.type != CONTACT.name:
            raise Rejected(f"onverwacht type {event.type} op {topic}")
        contact = parsed(Contact, event.data)
        invited = _invited(state["last_invited"].get(contact.klant))
        opted_out = state["opted_out"].get(contact.klant)
        if skip_reason(contact, invited, opted_out, self.policy.quarantine_days):
            return []
        decision = self._decide(contact)
        if not decision.invite:
            return []
        remember_invitation(state["last_invited"], contact.klant, invited, contact)
        invitation = self._invitation(contact, decision)
        return [
            emit(
                INVITATION,
                invitation,
                source=self.source,
                key=contact.klant,
                event_id=invitation.invitation_id,
            )
        ]

    @staticmethod
    def _opt_out(opt_out: OptOut, opted_out: State) -> None:
        known = opted_out.get(opt_out.klant)
        # Keep the first: "from then on" starts at the earliest opt-out.
        if known is None or parse_time(opt_out.gegeven_op) < parse_time(known["at"]):
            opted_out.put(opt_out.klant, {"at": opt_out.gegeven_op, "optOutId": opt_out.opt_out_id})

    def _decide(self, contact: Contact) -> Decision:
        offered = contact.bereikbaarheid.kanalen if contact.bereikbaarheid else ()
        return self.policy.decide(
            klant=contact.klant,
            kanaal=contact.kanaal,
            dienst=contact.dienst.code,
            # A channel system that names no route can still show the link itself.
            offered=tuple(offered) or ("inline",),
            now=self.clock(),
        )

    def _invitation(self, contact: Contact, decision: Decision) -> Invitation:
        assert decision.route and decision.send_at and decision.expires_at
        return Invitation(
            invitation_id=derived_id("invitation", contact.klant, contact.contact_id),
            contact_id=contact.contact_id,
            klant=contact.klant,
            token=link_token(self.link_key, contact.klant, contact.contact_id),
            kanaal=contact.kanaal,
            dienst=contact.dienst,
            team=contact.team,
            dispatch=(decision.route,),
            created_at=iso(self.clock()),
            expires_at=iso(decision.expires_at),
            taal=contact.taal,
            send_at=iso(decision.send_at),
            reminder_at=iso(decision.reminder_at) if decision.reminder_at else None,
        )
