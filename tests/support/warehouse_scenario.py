"""A warehouse scenario over a live chain: simulated contacts and answers, plus late,
out-of-order, duplicate and invalid events, published the way channel systems, the
questionnaire, dispatch and the inbox publish them.

`play` only needs a publish function, a way to wait until the chain has caught up and a
reader of a topic, so it drives the embedded runtime (stepwise or with its background
thread) and the Kafka harness alike. It uses no API newer than commit a09923c, so
tests/data/make_warehouse_a09923c.py can run it against that commit's code too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from producers.simulator import ContactSimulator
from schemas.cloudevents import CloudEvent
from schemas.types import (
    ALERT,
    ALERT_STATUS,
    CONTACT,
    DISPATCH,
    INVITATION,
    PAGE_FEEDBACK,
    RESPONSE,
)
from tests.support.events import (
    POSITIVE,
    VERY_NEGATIVE,
    contact_event,
    envelope,
    klant,
    response_event,
)

Publish = Callable[[str, Sequence[CloudEvent]], None]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _event(type_: str, data: dict[str, Any], key: str) -> CloudEvent:
    return CloudEvent.from_structured(envelope(type_, data, partitionkey=key))


def _outcomes(invitations: list[dict[str, Any]], rng: random.Random) -> list[CloudEvent]:
    out = []
    for inv in invitations:
        if rng.random() < 0.5:
            continue
        at = datetime.fromisoformat(inv["createdAt"].replace("Z", "+00:00"))
        for n, uitkomst in enumerate(
            rng.choice([["delivered"], ["failed"], ["delivered", "reminded"]])
        ):
            data = {
                "outcomeId": f"o-{inv['invitationId']}-{n}",
                "invitationId": inv["invitationId"],
                "klant": inv["klant"],
                "route": "email",
                "uitkomst": uitkomst,
                "op": _iso(at + timedelta(minutes=5 + n * 60 * 24)),
                "pogingen": 1,
                "kanaal": inv.get("kanaal"),
                "dienst": inv.get("dienst"),
            }
            out.append(_event(DISPATCH.name, data, inv["klant"]))
    return out


def _late_alert(alert_id: str, at: datetime) -> list[tuple[str, CloudEvent]]:
    """Two status changes (the later one published first), then the alert itself."""
    who = klant(7)
    status = {"alertId": alert_id, "team": "Team Wmo", "door": "medewerker1"}
    late = {**status, "status": "afgehandeld", "handeling": "afhandelen"}
    early = {**status, "status": "in-behandeling", "handeling": "claim"}
    alert = {
        "alertId": alert_id,
        "signalId": f"s-{alert_id}",
        "klant": who,
        "team": "Team Wmo",
        "kanaal": "telefoon",
        "dienst": {"code": "wmo-hulp", "naam": "Wmo-hulp bij het huishouden"},
        "ernst": "hoog",
        "redenen": ["rapportcijfer 1"],
        "terugbelToestemming": True,
        "aangemaaktOp": _iso(at),
    }
    return [
        (
            ALERT_STATUS.topic,
            _event(ALERT_STATUS.name, {**late, "op": _iso(at + timedelta(hours=3))}, alert_id),
        ),
        (
            ALERT_STATUS.topic,
            _event(ALERT_STATUS.name, {**early, "op": _iso(at + timedelta(hours=1))}, alert_id),
        ),
        (ALERT.topic, _event(ALERT.name, alert, who)),
    ]


def _out_of_order(now: datetime) -> list[tuple[str, CloudEvent]]:
    """Events that arrive late, twice, in the wrong order or invalid."""
    out: list[tuple[str, CloudEvent]] = []
    # A response whose contact (and invitation) come later.
    early_contact = contact_event(klant=klant(4), team="Team Burgerzaken")
    orphan = {
        "invitationId": f"i-orphan-{early_contact.data['contactId']}",
        "contactId": early_contact.data["contactId"],
        "klant": klant(4),
    }
    out.append((RESPONSE.topic, response_event(orphan, **POSITIVE)))
    out.append((CONTACT.topic, early_contact))
    # The same service under two names: the newer contact is published first, the older
    # (with the old name) later; the dimension must keep the newer name either way.
    renamed = {"code": "afval", "naam": "Afvalinzameling (nieuw)"}
    old_name = {"code": "afval", "naam": "Afval"}
    out.append(
        (CONTACT.topic, contact_event(klant=klant(5), dienst=renamed, plaatsgevondenOp=_iso(now)))
    )
    late = contact_event(
        klant=klant(5), dienst=old_name, plaatsgevondenOp=_iso(now - timedelta(days=40))
    )
    out.append((CONTACT.topic, late))
    out.append((CONTACT.topic, late))  # delivered twice
    # A revised answer whose second revision is published before the first.
    inv = {"invitationId": "i-revised", "contactId": "c-revised", "klant": klant(6)}
    first = response_event(inv, **POSITIVE, revisie=1, answeredAt=_iso(now - timedelta(minutes=30)))
    second = response_event(
        inv, **VERY_NEGATIVE, revisie=2, answeredAt=_iso(now - timedelta(minutes=10))
    )
    second.data["responseId"] = first.data["responseId"]
    out.append((RESPONSE.topic, second))
    out.append((RESPONSE.topic, first))
    out += _late_alert("a-late-1", now - timedelta(days=2))
    # Invalid: dead-lettered by the first stage, with its reason, also in the warehouse.
    out.append((CONTACT.topic, contact_event(klant=klant(8), kanaal="postduif")))
    return out


def play(
    publish: Publish,
    settle: Callable[[], None],
    read: Callable[[str], list[dict[str, Any]]],
    *,
    contacts: int = 200,
    seed: int = 11,
    batches: int = 4,
) -> None:
    """Publish the whole scenario; `settle` waits until the chain has caught up."""
    rng = random.Random(seed)
    sim = ContactSimulator(seed=seed, pseudonym_key="test-pseudonym-key")
    answered: set[str] = set()
    specials = _out_of_order(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    for n in range(batches):
        publish(CONTACT.topic, sim.contacts(contacts // batches))
        publish(PAGE_FEEDBACK.topic, [sim.page_feedback() for _ in range(3)])
        for topic, event in specials[n::batches]:
            publish(topic, [event])
        settle()
        invitations = [r["data"] for r in read(INVITATION.topic)]
        new = [inv for inv in invitations if inv["invitationId"] not in answered]
        answered |= {inv["invitationId"] for inv in new}
        # The simulator answers for its own contacts; the special ones get a fixed answer.
        responses = [
            r
            for inv in new
            for r in (
                sim.responses_for(inv)
                if sim.contact_data(inv["contactId"])
                else [response_event(inv, **POSITIVE)]
            )
        ]
        if responses:
            publish(RESPONSE.topic, responses)
        outcomes = _outcomes(new, rng)
        if outcomes:
            publish(DISPATCH.topic, outcomes)
    settle()
