"""The ingestion edge: validate incoming CloudEvents and make them safe to put on a topic.

Transport-free: the HTTP API (producers.ingestion_api) and the publishing client call it.
Here a BSN becomes a keyed pseudonym, contact addresses go to the address book of
dispatch instead of onto a topic, and free text is scrubbed of personal data.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pipeline.ports import Publisher
from pipeline.privacy import Pseudonymiser, is_valid_bsn, normalise_bsn, scrub
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT, EVENT_TYPES, PAGE_FEEDBACK, PUBLIC_INPUT_TYPES, RESPONSE
from schemas.validation import Problem, ValidationFailed, validate_event

# Free-text fields scrubbed at the edge, per type: (path to the field) tuples.
_FREE_TEXT: dict[str, tuple[tuple[str, ...], ...]] = {
    CONTACT.name: (("inhoud",), ("onderwerp",)),
    RESPONSE.name: (
        ("ces", "opmerking"),
        ("nps", "opmerking"),
        ("rapportcijfer", "opmerking"),
        ("vervolg", "toelichting"),
    ),
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
        nul = _find_nul(raw)
        if nul is not None:
            raise ValidationFailed(
                [Problem(nul, "pattern", "text must not contain NUL characters")]
            )
        raw = copy.deepcopy(raw)
        type_name = raw.get("type")
        data = raw.get("data")
        email = telefoon = None
        if type_name == CONTACT.name and isinstance(data, dict):
            self._pseudonymise(data)
            email, telefoon = _take_addresses(data)
        if isinstance(type_name, str) and type_name in _FREE_TEXT and isinstance(data, dict):
            for path in _FREE_TEXT[type_name]:
                _scrub_at(data, path)
        event = validate_event(raw, allowed_types=PUBLIC_INPUT_TYPES)
        # Only what we know travels on: extensions and subject could carry anything (a BSN,
        # an e-mail address), and the partition key must be the klant, joins depend on it.
        event = replace(event, subject=None, extensions={}, partitionkey=event.data.get("klant"))
        if event.type != CONTACT.name or not _may_be_invited(event.data):
            email = telefoon = None  # no consent or no questionnaire: keep no address at all
        return Accepted(EVENT_TYPES[event.type].topic, event, email, telefoon)

    def _pseudonymise(self, data: dict[str, Any]) -> None:
        bsn = data.pop("bsn", None)
        if bsn is None:
            return
        if not isinstance(bsn, str) or not is_valid_bsn(bsn):
            raise ValidationFailed(
                [Problem("/data/bsn", "format", "bsn must be 8 or 9 digits and pass the elfproef")]
            )
        if "klant" in data:
            raise ValidationFailed(
                [Problem("/data/klant", "oneOf", "give either bsn or klant, not both")]
            )
        data["klant"] = self._pseudonymiser.klant(normalise_bsn(bsn))


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{8,20}$")


def _take_addresses(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """Take e-mail/phone out of `bereikbaarheid` (they never go on a topic)."""
    reach = data.get("bereikbaarheid")
    if not isinstance(reach, dict):
        return None, None
    email = reach.pop("email", None)
    telefoon = reach.pop("telefoonnummer", None)
    problems = []
    if email is not None and not (isinstance(email, str) and _EMAIL.match(email)):
        problems.append(Problem("/data/bereikbaarheid/email", "format", "not an e-mail address"))
    if telefoon is not None and not (isinstance(telefoon, str) and _PHONE.match(telefoon)):
        problems.append(
            Problem("/data/bereikbaarheid/telefoonnummer", "format", "not a phone number")
        )
    if problems:
        raise ValidationFailed(problems)
    kanalen = reach.get("kanalen")
    if isinstance(kanalen, list):
        for present, name in ((email, "email"), (telefoon, "sms")):
            if present and name not in kanalen:
                kanalen.append(name)
    elif kanalen is None and (email or telefoon):
        reach["kanalen"] = [n for p, n in ((email, "email"), (telefoon, "sms")) if p]
    return email, telefoon


def _may_be_invited(data: dict[str, Any]) -> bool:
    reach = data.get("bereikbaarheid") or {}
    return bool(
        reach.get("enqueteToestemming")
        and data.get("indicatieContactGelukt")
        and not data.get("vertrouwelijk")
    )


def _find_nul(node: Any, pointer: str = "") -> str | None:
    """Pointer to the first string with a NUL character (PostgreSQL text cannot hold one)."""
    if isinstance(node, str):
        return pointer if "\x00" in node else None
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        found = _find_nul(value, f"{pointer}/{key}")
        if found is not None:
            return found
    return None


def _scrub_at(data: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
        node[path[-1]] = scrub(node[path[-1]])
