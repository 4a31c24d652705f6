"""The chain's behaviour, the same on both runtimes (embedded SQLite and Kafka)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from schemas.cloudevents import CloudEvent
from schemas.types import ALERT, CONTACT, INVITATION, RESPONSE, SIGNAL
from tests.events import POSITIVE, VERY_NEGATIVE, contact_event, klant, response_event
from tests.harness import EmbeddedHarness, RuntimeHarness

DEAD_LETTER = "dead-letter"


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def runtime(request: pytest.FixtureRequest, tmp_path) -> Iterator[RuntimeHarness]:
    if request.param == "embedded":
        harness: RuntimeHarness = EmbeddedHarness(tmp_path)
        yield harness
        harness.close()
    else:
        yield request.getfixturevalue("kafka_harness")


def _by_contact(records: list[dict], contact_id: str) -> list[dict]:
    return [r for r in records if r.get("data", {}).get("contactId") == contact_id]


def test_contact_becomes_one_invitation(runtime: RuntimeHarness) -> None:
    contact = contact_event(klant=klant(1))
    runtime.publish(CONTACT.topic, [contact])
    invitations = runtime.records(INVITATION.topic)
    mine = _by_contact(invitations, contact.data["contactId"])
    assert len(mine) == 1
    invitation = mine[0]["data"]
    assert invitation["klant"] == contact.data["klant"]
    assert invitation["dienst"] == contact.data["dienst"]
    assert len(invitation["token"]) >= 16


def test_unsuccessful_confidential_and_quarantined_contacts_get_no_invitation(
    runtime: RuntimeHarness,
) -> None:
    who = klant(2)
    first = contact_event(klant=who, plaatsgevondenOp="2026-11-01T09:00:00Z")
    failed = contact_event(klant=klant(3), indicatieContactGelukt=False)
    secret = contact_event(klant=klant(4), vertrouwelijk=True)
    again = contact_event(klant=who, plaatsgevondenOp="2026-11-20T09:00:00Z")
    marker = contact_event(klant=klant(5))  # processed after the others: a sync point
    runtime.publish(CONTACT.topic, [first, failed, secret, again])
    runtime.publish(CONTACT.topic, [marker])
    invited = {r["data"]["contactId"] for r in runtime.records(INVITATION.topic, min_count=2)}
    # Partitions may reorder across klanten, so wait for the marker specifically.
    for _ in range(3):
        if marker.data["contactId"] in invited:
            break
        invited = {
            r["data"]["contactId"]
            for r in runtime.records(INVITATION.topic, min_count=len(invited) + 1)
        }
    assert first.data["contactId"] in invited
    assert marker.data["contactId"] in invited
    assert failed.data["contactId"] not in invited
    assert secret.data["contactId"] not in invited
    assert again.data["contactId"] not in invited, "one invitation per klant per quarantine"


def _invite(runtime: RuntimeHarness, who: str) -> tuple[CloudEvent, dict]:
    contact = contact_event(klant=who)
    runtime.publish(CONTACT.topic, [contact])
    for _ in range(20):
        mine = _by_contact(runtime.records(INVITATION.topic), contact.data["contactId"])
        if mine:
            return contact, mine[0]["data"]
        runtime.records(INVITATION.topic, min_count=1, timeout=0.5)
    raise AssertionError("no invitation")


def test_very_negative_response_becomes_scored_signal_and_alert(runtime: RuntimeHarness) -> None:
    contact, invitation = _invite(runtime, klant(6))
    response = response_event(invitation, **VERY_NEGATIVE)
    runtime.publish(RESPONSE.topic, [response])
    signals = runtime.records(SIGNAL.topic)
    signal = next(
        s["data"]
        for s in signals
        if s["data"].get("responseId") == response.id
        or s["data"].get("responseId") == response.data["responseId"]
    )
    # Joined with the contact's context ...
    assert signal["kanaal"] == contact.data["kanaal"]
    assert signal["team"] == contact.data["team"]
    assert signal["dienst"] == contact.data["dienst"]
    # ... and scored.
    assert signal["sentiment"]["label"] == "neg"
    assert -1 <= signal["sentiment"]["score"] < 0
    alerts = runtime.records(ALERT.topic)
    alert = next(a["data"] for a in alerts if a["data"]["signalId"] == signal["signalId"])
    assert alert["team"] == "KCC"
    assert alert["redenen"], "an alert says why"
    assert alert["terugbelToestemming"] is True


def test_positive_response_gives_signal_without_alert(runtime: RuntimeHarness) -> None:
    _, invitation = _invite(runtime, klant(7))
    response = response_event(invitation, **POSITIVE)
    _, bad_invitation = _invite(runtime, klant(8))
    bad = response_event(bad_invitation, **VERY_NEGATIVE)
    runtime.publish(RESPONSE.topic, [response])
    runtime.publish(RESPONSE.topic, [bad])
    # Once the later, negative response has its alert, the positive one was processed too.
    alerts = runtime.records(ALERT.topic)
    for _ in range(20):
        if any(a["data"].get("responseId") == bad.data["responseId"] for a in alerts):
            break
        alerts = runtime.records(ALERT.topic, min_count=len(alerts) + 1)
    signals = runtime.records(SIGNAL.topic, min_count=2)
    good = [s for s in signals if s["data"].get("responseId") == response.data["responseId"]]
    assert good and good[0]["data"]["sentiment"]["label"] == "pos"
    assert not [a for a in alerts if a["data"].get("responseId") == response.data["responseId"]]


def test_bad_record_goes_to_dead_letter_with_reason_and_stream_goes_on(
    runtime: RuntimeHarness,
) -> None:
    who = klant(9)
    broken = contact_event(klant=who)
    broken = CloudEvent.from_structured(
        {**broken.to_structured(), "data": {**broken.data, "kanaal": "postduif"}}
    )
    orphan = response_event(
        {"invitationId": "i-x", "contactId": "nobody-knows", "klant": who}, **VERY_NEGATIVE
    )
    good = contact_event(klant=who)
    runtime.publish(CONTACT.topic, [broken])
    runtime.publish(RESPONSE.topic, [orphan])
    runtime.publish(CONTACT.topic, [good])
    dead = runtime.records(DEAD_LETTER, min_count=2)
    reasons = " | ".join(d["reason"] for d in dead)
    assert "/data/kanaal" in reasons
    assert "nobody-knows" in reasons
    assert any(d["record"].get("id") == broken.id for d in dead)
    # The stream went on: the good contact after the bad ones was invited.
    invitations = runtime.records(INVITATION.topic)
    for _ in range(20):
        if _by_contact(invitations, good.data["contactId"]):
            break
        invitations = runtime.records(INVITATION.topic, min_count=len(invitations) + 1)
    assert _by_contact(invitations, good.data["contactId"])
