"""Join: keep each klant's recent contacts as context and join responses with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.contacthistory import recent_contacts
from pipeline.stages.base import Rejected, State
from pipeline.times import parse_time
from schemas import jsonfast
from schemas.fastinit import fast_init
from schemas.models import Contact, Dienst, Response

# A klant with very many contacts must not grow state without bound.
MAX_CONTACTS_PER_KLANT = 50
# Responses waiting for their contact; more than this for one klant is not a race but a fault.
MAX_PENDING_PER_KLANT = 20
# And in bytes (compact JSON): an answer carries up to four comments of 2,000 characters
# (up to 4 bytes each), so a count alone let one klant's `pending` state pass the 1 MiB a
# Kafka changelog record may have, which stops every worker that meets it (docs/kafka.md,
# "A table change too large to send"). Waiting answers at most MAX_PENDING_BYTES, those
# kept for replays of the contacts that took them at most MAX_TAKEN_BYTES (the newest
# contact's always kept): a klant's whole `pending` value stays under ~400 KiB, ~530 KiB
# sealed.
MAX_PENDING_BYTES = 128 * 1024
MAX_TAKEN_BYTES = 256 * 1024


@fast_init  # one __dict__ update, not a setattr per field (one per answer)
@dataclass(frozen=True)
class ContactContext:
    contact_id: str
    kanaal: str
    dienst: Dienst
    team: str
    plaatsgevonden_op: str
    gelukt: bool | None = None  # None in state written before this was kept

    def to_state(self) -> dict[str, Any]:
        return {
            "kanaal": self.kanaal,
            "dienst": self.dienst.to_dict(),
            "team": self.team,
            "plaatsgevondenOp": self.plaatsgevonden_op,
            "gelukt": self.gelukt,
        }

    @classmethod
    def from_state(cls, contact_id: str, raw: dict[str, Any]) -> ContactContext:
        return cls(
            contact_id=contact_id,
            kanaal=raw["kanaal"],
            dienst=Dienst.from_dict(raw["dienst"]),
            team=raw["team"],
            plaatsgevonden_op=raw["plaatsgevondenOp"],
            gelukt=raw.get("gelukt"),
        )


@dataclass(frozen=True)
class JoinedResponse:
    response: Response
    context: ContactContext


def remember_contact(contacts: State, contact: Contact) -> None:
    known = contacts.get(contact.klant) or {}
    known[contact.contact_id] = ContactContext(
        contact.contact_id,
        contact.kanaal,
        contact.dienst,
        contact.team,
        contact.plaatsgevonden_op,
        contact.indicatie_contact_gelukt,
    ).to_state()
    if len(known) > MAX_CONTACTS_PER_KLANT:
        newest = sorted(known.items(), key=lambda kv: parse_time(kv[1]["plaatsgevondenOp"]))
        known = dict(newest[-MAX_CONTACTS_PER_KLANT:])
    contacts.put(contact.klant, known)


def contact_history(contacts: State, klant: str, until: str) -> tuple[dict[str, Any], ...]:
    """The klant's contacts of the last HISTORY_DAYS days before `until`, as wire dicts."""
    return history_in(contacts.get(klant) or {}, until)


def history_in(known: dict[str, Any], until: str) -> tuple[dict[str, Any], ...]:
    """contact_history on the klant's `contacts` value as read (contactId -> context)."""
    return tuple(m.to_dict() for m in recent_contacts(known, parse_time(until)))


def join_response(contacts: State, response: Response) -> JoinedResponse | None:
    """The response with the context of its contact, or None when the contact is unknown."""
    return join_in(contacts.get(response.klant) or {}, response)


def join_in(known: dict[str, Any], response: Response) -> JoinedResponse | None:
    """join_response on the klant's `contacts` value as read: a stage that reads it once
    per answer (one table read, one unsealing) joins and takes the history from it."""
    raw = known.get(response.contact_id)
    if raw is None:
        return None
    return JoinedResponse(response, ContactContext.from_state(response.contact_id, raw))


# Responses a contact took out of `pending`, kept (by contact id) so that a replay of that
# contact emits their signals again: at-least-once runtimes (Kafka) may replay a contact
# after its `pending` change reached the state but before its signals were sent (a crash
# in between), and the replay must not find the answers gone (docs/kafka.md, Known gaps).
# The key is one no contactId can be (the schemas ask for at least one character): a
# channel system's contactId "~taken" once collided with the key "~taken".
TAKEN = ""
MAX_TAKEN_CONTACTS_PER_KLANT = 5


def _size(value: Any) -> int:
    """Bytes of `value` as compact JSON (what the state stores, before sealing)."""
    return len(jsonfast.dumps(value))


def park_response(pending: State, response: Response, raw: dict[str, Any]) -> None:
    """Keep a response whose contact has not been seen yet, to join it when it comes."""
    stored = pending.get(response.klant) or {}
    if raw in stored.get(response.contact_id, ()):
        return  # the same answer replayed: parked once
    waiting = {k: v for k, v in stored.items() if k != TAKEN}
    if sum(len(v) for v in waiting.values()) >= MAX_PENDING_PER_KLANT:
        # The field and the rule, not the value (docs/operations.md: reasons quote no ids).
        raise Rejected(
            f"/data/contactId: contact onbekend en al {MAX_PENDING_PER_KLANT} antwoorden "
            f"van deze klant wachten op hun contact"
        )
    if _size(waiting) + _size(raw) > MAX_PENDING_BYTES:
        raise Rejected(
            f"/data/contactId: contact onbekend en de antwoorden die voor deze klant op hun "
            f"contact wachten zijn samen te groot (meer dan {MAX_PENDING_BYTES} bytes)"
        )
    stored.setdefault(response.contact_id, []).append(raw)
    pending.put(response.klant, stored)


def take_pending(pending: State, klant: str, contact_id: str) -> list[dict[str, Any]]:
    """The responses waiting for this contact; also those it took before (a replay of the
    contact gives the same signals again, with the same ids)."""
    stored = pending.get(klant)
    if not stored:
        return []
    taken: dict[str, list[Any]] = stored.get(TAKEN) or {}
    before = list(taken.get(contact_id, ()))
    if contact_id not in stored:
        return before
    early = [r for r in stored.pop(contact_id) if r not in before]
    taken.pop(contact_id, None)
    taken[contact_id] = before + early  # newest last
    while len(taken) > MAX_TAKEN_CONTACTS_PER_KLANT or (
        len(taken) > 1 and _size(taken) > MAX_TAKEN_BYTES
    ):
        taken.pop(next(iter(taken)))  # the oldest first; this contact's stays
    stored[TAKEN] = taken
    pending.put(klant, stored)
    return before + early
