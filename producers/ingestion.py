"""The ingestion edge: validate incoming CloudEvents and make them safe to put on a topic.

Transport-free: the HTTP API (producers.ingestion_api) and the publishing client call it.
Here a BSN becomes a keyed pseudonym, contact addresses go to the address book of
dispatch instead of onto a topic, and free text is scrubbed of personal data.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pipeline.identity import contact_key
from pipeline.ports import Publisher
from pipeline.privacy import Pseudonymiser, is_valid_bsn, normalise_bsn, scrub_bounded
from producers.safe_input import find_unsafe_text, without_values
from producers.scrub_memo import ScrubMemo
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT, EVENT_TYPES, PAGE_FEEDBACK, PUBLIC_INPUT_TYPES, RESPONSE
from schemas.validation import Problem, ValidationFailed, schema_id, validate_event

# Free-text fields scrubbed at the edge, after validation, per type: (path, max length).
_FREE_TEXT: dict[str, tuple[tuple[tuple[str, ...], int], ...]] = {
    CONTACT.name: (
        (("inhoud",), 2000),
        (("onderwerp",), 200),
        (("hoofdOnderwerpType",), 100),
        (("referentienummer",), 100),
        (("team",), 100),
        (("dienst", "naam"), 200),
    ),
    RESPONSE.name: (
        (("ces", "opmerking"), 2000),
        (("nps", "opmerking"), 2000),
        (("rapportcijfer", "opmerking"), 2000),
        (("vervolg", "toelichting"), 2000),
    ),
    PAGE_FEEDBACK.name: ((("opmerking",), 2000), (("dienst", "naam"), 200)),
}
# Of those, the fields that repeat a small vocabulary: scrubbed once per value (ScrubMemo).
_VOCABULARY = frozenset([("onderwerp",), ("hoofdOnderwerpType",), ("team",), ("dienst", "naam")])


class AddressBook(Protocol):
    """Where dispatch keeps how to reach a citizen for one contact's questionnaire.

    The key is `pipeline.identity.contact_key(klant, contactId)`: a contactId alone is only
    unique per channel system.
    """

    def remember(self, contact_id: str, email: str | None, telefoon: str | None) -> None: ...

    def forget(self, contact_id: str) -> None: ...


@dataclass(frozen=True)
class Accepted:
    topic: str
    event: CloudEvent
    email: str | None = None
    telefoon: str | None = None

    @property
    def address_key(self) -> str:
        return contact_key(self.event.data["klant"], self.event.data["contactId"])


def by_topic(accepted: Sequence[Accepted]) -> dict[str, list[CloudEvent]]:
    """The accepted events per topic, as `Publisher.publish_many` takes them."""
    out: dict[str, list[CloudEvent]] = {}
    for a in accepted:
        out.setdefault(a.topic, []).append(a.event)
    return out


def has_addresses(address_book: AddressBook | None, accepted: Sequence[Accepted]) -> bool:
    """Whether publishing these also writes to the address book (blocking I/O)."""
    return address_book is not None and any(a.email or a.telefoon for a in accepted)


def publish_accepted(
    publisher: Publisher, address_book: AddressBook | None, accepted: Sequence[Accepted]
) -> None:
    """Addresses to dispatch's address book and one atomic publish of everything, as one
    step: when the publish fails, the addresses written for it are removed again."""
    remembered: list[str] = []
    try:
        for a in accepted:
            if address_book is not None and (a.email or a.telefoon):
                remembered.append(a.address_key)
                address_book.remember(a.address_key, a.email, a.telefoon)
        publisher.publish_many(by_topic(accepted))
    except BaseException:
        for key in remembered:
            if address_book is not None:
                address_book.forget(key)
        raise


class IngestionEdge:
    def __init__(self, pseudonymiser: Pseudonymiser):
        self._pseudonymiser = pseudonymiser
        # True when `prepare` may wait on I/O (a rotated key looks citizens up in the
        # warehouse): it must then run off the event loop, even for one small event.
        self.prepare_may_block: bool = getattr(pseudonymiser, "may_block", False)
        self._memo = ScrubMemo()

    def prepare(self, items: Sequence[Any], *, batch: bool, owned: bool = False) -> list[Accepted]:
        """All items made safe and validated, or ValidationFailed listing every problem.

        Without `owned` the items are left as they were (the publishing client sends them
        on as written): each event is worked on as a deep copy. With `owned` the caller
        hands the items over: objects it parsed for this call alone (the HTTP API's request
        body) and neither reads nor changes after the call, whether it returns or raises.
        They are changed in place, not copied first (the BSN and the addresses taken out,
        the texts scrubbed, the actor and the page rewritten; also in an event taken apart
        before another one was refused), and the accepted events share their objects. A
        deep copy per event was a few percent of the web edge's CPU per request."""
        accepted: list[Accepted] = []
        problems: list[Problem] = []
        seen: set[tuple[str, str]] = set()
        for index, item in enumerate(items):
            prefix = f"/{index}" if batch else ""
            try:
                one = self._prepare_one(item, owned)
                identity = (one.event.source, one.event.id)
                if identity in seen:
                    raise ValidationFailed(
                        [Problem("/id", "unique", "an event with this source and id came earlier")]
                    )
                seen.add(identity)
                accepted.append(one)
            except ValidationFailed as exc:
                problems.extend(
                    Problem(prefix + p.pointer, p.rule, p.message) for p in exc.problems
                )
        if problems:
            raise ValidationFailed(problems)
        return accepted

    def _prepare_one(self, raw: Any, owned: bool) -> Accepted:
        if not isinstance(raw, dict):
            raise ValidationFailed([Problem("", "type", "a CloudEvent must be a JSON object")])
        unsafe = find_unsafe_text(raw)
        if unsafe is not None:
            raise ValidationFailed([unsafe])
        if not owned:
            raw = copy.deepcopy(raw)
        type_name = raw.get("type")
        data = raw.get("data")
        email = telefoon = None
        if type_name == CONTACT.name and isinstance(data, dict):
            self._pseudonymise(data)
            email, telefoon = _take_addresses(data)
        # Validate first (lengths included), scrub after: bounded work, and a valid text
        # full of postcodes is not refused because its placeholders are longer.
        try:
            event = validate_event(raw, allowed_types=PUBLIC_INPUT_TYPES)
        except ValidationFailed as exc:
            raise ValidationFailed([without_values(p) for p in exc.problems]) from None
        data = event.data
        for path, max_length in _FREE_TEXT.get(event.type, ()):
            _scrub_at(data, path, max_length, self._memo.scrub if path in _VOCABULARY else None)
        if event.type == CONTACT.name and isinstance(data.get("actor"), str):
            data["actor"] = self._pseudonymiser.actor(data["actor"])
        if event.type == PAGE_FEEDBACK.name:
            data["pagina"] = _page_without_query(data["pagina"])
        # Only what we know travels on: extensions and subject could carry anything (a BSN,
        # an e-mail address), and the partition key must be the klant, joins depend on it.
        # Validated here, once: the stages trust the dataschema stamp
        # (pipeline.processing.is_validated).
        event = replace(
            event,
            subject=None,
            extensions={},
            partitionkey=event.data.get("klant"),
            dataschema=schema_id(event.type),
        )
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


def _scrub_at(
    data: dict[str, Any],
    path: tuple[str, ...],
    max_length: int,
    scrubber: Callable[[str, int], str] | None = None,
) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
        node[path[-1]] = (scrubber or scrub_bounded)(node[path[-1]], max_length)


def _page_without_query(page: str) -> str:
    """The page address without query and fragment (search terms, tokens, e-mail
    addresses travel there), its path scrubbed."""
    cut = min((i for i in (page.find("?"), page.find("#")) if i != -1), default=len(page))
    return scrub_bounded(page[:cut], 500) or "/"
