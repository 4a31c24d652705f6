"""The ingestion edge (producers.ingestion) on its own: whose input it may take apart.

The edge pops the BSN and the addresses out of an event and scrubs its texts. The
publishing client hands it the events its caller wrote and sends those on as written (over
HTTP the server pseudonymises), so there it must work on a copy. The HTTP API hands it a
request body it parsed for that call alone (`owned=True`): no copy, the same result.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pipeline.privacy import Pseudonymiser
from producers.ingestion import IngestionEdge
from producers.safe_input import find_unsafe_text
from schemas.types import CONTACT, PAGE_FEEDBACK, RESPONSE
from schemas.validation import ValidationFailed
from tests.support.events import BSNS, contact_data, envelope


def _contact_with_bsn_and_addresses() -> dict[str, Any]:
    data = contact_data(
        bereikbaarheid={
            "enqueteToestemming": True,
            "email": "a.jansen@example.nl",
            "telefoonnummer": "06-12345678",
        },
        inhoud="Bellen naar 06-12345678 of mailen naar a.jansen@example.nl",
        actor="Jan Jansen",
    )
    del data["klant"]
    data["bsn"] = BSNS[1]
    return envelope(CONTACT.name, data, subject="123456782", extra="meegestuurd")


def _response() -> dict[str, Any]:
    return envelope(
        RESPONSE.name,
        {
            "responseId": "r-1",
            "invitationId": "i-1",
            "contactId": "c-1",
            "klant": "k-" + "0" * 32,
            "answeredAt": "2026-11-23T11:00:00Z",
            "terugbelToestemming": False,
            "ces": {"score": 1, "schaal": 5, "opmerking": "Mijn IBAN NL91ABNA0417164300"},
        },
    )


def _page_feedback() -> dict[str, Any]:
    return envelope(
        PAGE_FEEDBACK.name,
        {
            "feedbackId": "f-1",
            "pagina": "https://www.voorbeeldstad.nl/paspoort?bsn=123456782",
            "beoordeling": "slecht",
            "opmerking": "Bel me op 0612345678",
            "gegevenOp": "2026-11-23T10:00:00Z",
        },
    )


def _invalid() -> dict[str, Any]:
    data = contact_data()
    del data["kanaal"]
    return envelope(CONTACT.name, data)


BATCHES = [
    [_contact_with_bsn_and_addresses()],
    [_response()],
    [_page_feedback()],
    [_contact_with_bsn_and_addresses(), _response(), _page_feedback()],
    [_contact_with_bsn_and_addresses(), _invalid()],  # refused after the first was taken apart
]


def _edge() -> IngestionEdge:
    return IngestionEdge(Pseudonymiser("edge-key"))


def _outcome(edge: IngestionEdge, items: list[Any], *, owned: bool) -> Any:
    try:
        return edge.prepare(items, batch=True, owned=owned)
    except ValidationFailed as failed:
        return failed.problems


@pytest.mark.parametrize("items", BATCHES)
def test_the_callers_events_are_left_as_they_were(items: list[dict[str, Any]]) -> None:
    """Without `owned` the edge works on a copy: the BSN, the addresses, the subject and
    the texts are still in what the caller holds (the client sends that on over HTTP)."""
    before = copy.deepcopy(items)
    _outcome(_edge(), items, owned=False)
    assert items == before


@pytest.mark.parametrize("items", BATCHES)
def test_an_owned_body_gives_what_a_copy_gives(items: list[dict[str, Any]]) -> None:
    """The HTTP API's body is parsed for the call and never read again: taken apart in
    place it yields the same accepted events (or the same problems) as a copy does."""
    body = json.dumps(items).encode()
    edge = _edge()
    assert _outcome(edge, json.loads(body), owned=True) == _outcome(
        edge, json.loads(body), owned=False
    )


def _nested_lists(depth: int) -> Any:
    nested: Any = "ok"
    for _ in range(depth):
        nested = [nested]
    return nested


# What find_unsafe_text is given, and the pointer and rule it names.
UNSAFE_TEXT = {
    "nul": ({"data": {"a/b~c": [{"x": "ok"}, {"y": "bad\x00"}]}}, "/data/a~1b~0c/1/y", "pattern"),
    "key": ({"data": {"\ud800": 1}}, "/data/\\ud800", "propertyNames"),
    "value": ({"data": {"tekst": "café \ud83d"}}, "/data/tekst", "pattern"),
    "deep": ({"d": _nested_lists(70)}, "/d" + "/0" * 64, "maxDepth"),
}


@pytest.mark.parametrize(("document", "pointer", "rule"), UNSAFE_TEXT.values(), ids=UNSAFE_TEXT)
def test_unsafe_text_is_named_by_its_pointer(document: Any, pointer: str, rule: str) -> None:
    """find_unsafe_text makes the pointer only for what it finds: the same pointers as
    before (escaped segments, list indexes, the depth limit)."""
    found = find_unsafe_text(document)
    assert found is not None and (found.pointer, found.rule) == (pointer, rule)


def test_safe_text_is_not_named() -> None:
    assert find_unsafe_text({"data": {"tekst": "café 😀 ok", "n": [1, None, True]}}) is None
