"""The ingestion edge: validate incoming CloudEvents and make them safe to put on a topic.

Transport-free: the HTTP API (producers.ingestion_api) and the publishing client call it.
Here a BSN becomes a keyed pseudonym, contact addresses go to the address book of
dispatch instead of onto a topic, and free text is scrubbed of personal data.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.ports import Publisher
from pipeline.privacy import Pseudonymiser, is_valid_bsn, scrub
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT, EVENT_TYPES, PAGE_FEEDBACK, PUBLIC_INPUT_TYPES, RESPONSE
from schemas.validation import Problem, ValidationFailed, validate_event

# Free-text fields scrubbed at the edge, per type: (path to the field) tuples.
_FREE_TEXT: dict[str, tuple[tuple[str, ...], ...]] = {
    CONTACT.name: (("inhoud",), ("onderwerp",)),
    RESPONSE.name: (("ces", "opmerking"), ("nps", "opmerking"), ("rapportcijfer", "opmerking")),
    PAGE_FEEDBACK.name: (("opmerking",),),
}


class AddressBook(Protocol):
    """Where dispatch keeps how to reach a citizen for one contact's questionnaire."""

    def remember(self, contact_id: str, email: str | None, telefoon: str | None) -> None: ...


@dataclass(frozen=True)
class Accepted:
    topic: str
    event: CloudEvent
    email: str | None = None
    telefoon: str | None = None


def publish_accepted(
    publisher: Publisher, address_book: AddressBook | None, accepted: Sequence[Accepted]
) -> None:
    """Addresses to dispatch's address book, then one atomic publish of everything."""
    for a in accepted:
        if address_book is not None and (a.email or a.telefoon):
            address_book.remember(a.event.data["contactId"], a.email, a.telefoon)
    by_topic: dict[str, list[CloudEvent]] = {}
    for a in accepted:
        by_topic.setdefault(a.topic, []).append(a.event)
    publisher.publish_many(by_topic)


class IngestionEdge:
    def __init__(self, pseudonymiser: Pseudonymiser):
        self._pseudonymiser = pseudonymiser

    def prepare(self, items: Sequence[Any], *, batch: bool) -> list[Accepted]:
        """All items made safe and validated, or ValidationFailed listing every problem."""
        accepted: list[Accepted] = []
        problems: list[Problem] = []
        for index, item in enumerate(items):
            prefix = f"/{index}" if batch else ""
            try:
                accepted.append(self._prepare_one(item))
            except ValidationFailed as exc:
                problems.extend(
                    Problem(prefix + p.pointer, p.rule, p.message) for p in exc.problems
                )
        if problems:
            raise ValidationFailed(problems)
        return accepted

    def _prepare_one(self, raw: Any) -> Accepted:
        if not isinstance(raw, dict):
            raise ValidationFailed([Problem("", "type", "a CloudEvent must be a JSON object")])
        raw = copy.deepcopy(raw)
        type_name = raw.get("type")
        data = raw.get("data")
        email = telefoon = None
        if type_name == CONTACT.name and isinstance(data, dict):
            self._pseudonymise(data)
            email, telefoon = self._take_addresses(data)
        if type_name in _FREE_TEXT and isinstance(data, dict):
            for path in _FREE_TEXT[type_name]:
                _scrub_at(data, path)
        event = validate_event(raw, allowed_types=PUBLIC_INPUT_TYPES)
        klant = event.data.get("klant")
        if klant and event.partitionkey != klant:
            # Partition by klant, whatever the sender put there: joins depend on it.
            event = CloudEvent(**{**event.__dict__, "partitionkey": klant})
        return Accepted(EVENT_TYPES[event.type].topic, event, email, telefoon)

    def _pseudonymise(self, data: dict[str, Any]) -> None:
        bsn = data.pop("bsn", None)
        if bsn is None:
            return
        if not isinstance(bsn, str) or not is_valid_bsn(bsn):
            raise ValidationFailed(
                [Problem("/data/bsn", "format", "bsn must be 9 digits and pass the elfproef")]
            )
        if "klant" in data:
            raise ValidationFailed(
                [Problem("/data/klant", "oneOf", "give either bsn or klant, not both")]
            )
        data["klant"] = self._pseudonymiser.klant(bsn)

    @staticmethod
    def _take_addresses(data: dict[str, Any]) -> tuple[str | None, str | None]:
        reach = data.get("bereikbaarheid")
        if not isinstance(reach, dict):
            return None, None
        email = reach.pop("email", None)
        telefoon = reach.pop("telefoonnummer", None)
        kanalen = list(reach.get("kanalen") or [])
        for present, name in ((email, "email"), (telefoon, "sms")):
            if present and name not in kanalen:
                kanalen.append(name)
        if kanalen:
            reach["kanalen"] = kanalen
        return (
            email if isinstance(email, str) else None,
            telefoon if isinstance(telefoon, str) else None,
        )


def _scrub_at(data: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
        node[path[-1]] = scrub(node[path[-1]])
