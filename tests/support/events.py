"""Builders of valid events for the tests (structured-mode dicts and CloudEvents)."""

from __future__ import annotations

import uuid
from typing import Any

from pipeline.privacy import Pseudonymiser
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT, RESPONSE

PSEUDONYMS = Pseudonymiser("test-pseudonym-key")
# Valid (elfproef) test BSNs, made up for the tests.
BSNS = ("123456782", "111222333", "999999990")


def klant(n: int = 0) -> str:
    return PSEUDONYMS.klant(BSNS[n % len(BSNS)] if n < len(BSNS) else f"extra-{n}", "bsn")


def contact_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "contactId": f"c-{uuid.uuid4().hex[:12]}",
        "klant": klant(0),
        "kanaal": "telefoon",
        "onderwerp": "Vraag over paspoort aanvragen",
        "indicatieContactGelukt": True,
        "taal": "nld",
        "vertrouwelijk": False,
        "plaatsgevondenOp": "2026-11-23T10:00:00Z",
        "dienst": {"code": "paspoort", "naam": "Paspoort aanvragen"},
        "team": "KCC",
        "bereikbaarheid": {"enqueteToestemming": True, "kanalen": ["inline"]},
    }
    data.update(overrides)
    return data


def envelope(type_: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/test/kanaal",
        "type": type_,
        "datacontenttype": "application/json",
        "data": data,
        **extra,
    }


def contact_event(**overrides: Any) -> CloudEvent:
    data = contact_data(**overrides)
    raw = envelope(CONTACT.name, data, partitionkey=data["klant"])
    return CloudEvent.from_structured(raw)


def response_event(invitation: dict[str, Any], **answers: Any) -> CloudEvent:
    """A response to an invitation (the invitation's structured `data`)."""
    data: dict[str, Any] = {
        "responseId": f"r-{uuid.uuid4().hex[:12]}",
        "invitationId": invitation["invitationId"],
        "contactId": invitation["contactId"],
        "klant": invitation["klant"],
        "answeredAt": "2026-11-23T11:00:00Z",
        "terugbelToestemming": True,
    }
    data.update(answers)
    return CloudEvent.from_structured(envelope(RESPONSE.name, data, partitionkey=data["klant"]))


VERY_NEGATIVE = {
    "ces": {"score": 1, "schaal": 5},
    "nps": {"score": 0, "opmerking": "Drie keer doorverwezen en niemand wist het. Schandalig!"},
    "rapportcijfer": {"score": 1, "opmerking": "Nooit meer, ik dien een klacht in."},
}
POSITIVE = {
    "ces": {"score": 5, "schaal": 5},
    "nps": {"score": 9, "opmerking": "Top geholpen door de medewerker!"},
    "rapportcijfer": {"score": 9},
}
