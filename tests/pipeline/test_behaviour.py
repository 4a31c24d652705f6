"""The chain's behaviour, the same on both runtimes (embedded SQLite and Kafka)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from schemas.cloudevents import CloudEvent
from schemas.types import ALERT, CONTACT, INVITATION, RESPONSE, SIGNAL
from tests.support.events import POSITIVE, VERY_NEGATIVE, contact_event, klant, response_event
from tests.support.harness import EmbeddedHarness, RuntimeHarness
from tests.support.kafka_harness import kafka_harness  # noqa: F401 - fixture for the kafka variant

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
    # Partitions may reorder across klanten, so wait for the marker specifically.
    marker_id = marker.data["contactId"]
    _wait_for(runtime, INVITATION.topic, lambda r: r["data"]["contactId"] == marker_id)
    _wait_for(
        runtime, INVITATION.topic, lambda r: r["data"]["contactId"] == first.data["contactId"]
    )
    invited = {r["data"]["contactId"] for r in runtime.records(INVITATION.topic)}
    assert first.data["contactId"] in invited
    assert marker.data["contactId"] in invited
    assert failed.data["contactId"] not in invited
    assert secret.data["contactId"] not in invited
    assert again.data["contactId"] not in invited, "one invitation per klant per quarantine"


def _wait_for(runtime: RuntimeHarness, topic: str, match, timeout: float = 30.0) -> list[dict]:
    """Records on `topic` for which `match(record)` holds, waiting until there is one."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in runtime.records(topic, min_count=0) if match(r)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _invite(runtime: RuntimeHarness, who: str) -> tuple[CloudEvent, dict]:
    contact = contact_event(klant=who)
    runtime.publish(CONTACT.topic, [contact])
    contact_id = contact.data["contactId"]
    mine = _wait_for(runtime, INVITATION.topic, lambda r: r["data"]["contactId"] == contact_id)
    assert mine, f"no invitation for {contact_id}"
    return contact, mine[0]["data"]


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
    signal_id = signal["signalId"]
    [alert] = [
        a["data"]
        for a in _wait_for(runtime, ALERT.topic, lambda a: a["data"]["signalId"] == signal_id)
    ]
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
    good_id, bad_id = response.data["responseId"], bad.data["responseId"]
    assert _wait_for(runtime, ALERT.topic, lambda a: a["data"].get("responseId") == bad_id)
    good = _wait_for(runtime, SIGNAL.topic, lambda s: s["data"].get("responseId") == good_id)
    assert good and good[0]["data"]["sentiment"]["label"] == "pos"
    # Each klant is its own partition: give the positive one's alerting stage time to act.
    time.sleep(1.0)
    alerts = runtime.records(ALERT.topic, min_count=0)
    assert not [a for a in alerts if a["data"].get("responseId") == good_id]


def test_response_before_its_contact_is_joined_when_the_contact_comes(
    runtime: RuntimeHarness,
) -> None:
    who = klant(10)
    contact = contact_event(klant=who)
    early = response_event(
        {"invitationId": "i-early", "contactId": contact.data["contactId"], "klant": who},
        **VERY_NEGATIVE,
    )
    runtime.publish(RESPONSE.topic, [early])
    runtime.publish(CONTACT.topic, [contact])
    response_id = early.data["responseId"]
    signals = _wait_for(runtime, SIGNAL.topic, lambda s: s["data"].get("responseId") == response_id)
    assert signals and signals[0]["data"]["team"] == contact.data["team"]


def test_bad_record_goes_to_dead_letter_with_reason_and_stream_goes_on(
    runtime: RuntimeHarness,
) -> None:
    who = klant(9)
    broken = contact_event(klant=who)
    broken = CloudEvent.from_structured(
        {**broken.to_structured(), "data": {**broken.data, "kanaal": "postduif"}}
    )
    _, invitation = _invite(runtime, who)
    impossible = response_event(invitation, nps={"score": 11})
    good = contact_event(klant=who)
    runtime.publish(CONTACT.topic, [broken])
    runtime.publish(RESPONSE.topic, [impossible])
    runtime.publish(CONTACT.topic, [good])
    # Several stages read contacts and each dead-letters the broken one, possibly before the
    # response is even published: wait for the response's dead letter itself.
    found = _wait_for(
        runtime, DEAD_LETTER, lambda d: (d.get("record") or {}).get("id") == impossible.id
    )
    assert found, "the impossible response is dead-lettered"
    dead = runtime.records(DEAD_LETTER, min_count=2)
    reasons = " | ".join(d["reason"] for d in dead)
    assert "/data/kanaal" in reasons
    assert "/data/nps/score" in reasons
    assert any(d["record"].get("id") == broken.id for d in dead)
    assert any(d["record"].get("id") == impossible.id for d in dead)
    # The stream goes on: a later response of the same klant is still scored.
    fine = response_event(invitation, **POSITIVE)
    runtime.publish(RESPONSE.topic, [fine])
    fine_id = fine.data["responseId"]
    assert _wait_for(runtime, SIGNAL.topic, lambda s: s["data"].get("responseId") == fine_id)
