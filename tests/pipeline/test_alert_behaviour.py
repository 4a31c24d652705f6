"""Alert policy through the whole chain, the same on both runtimes (embedded and Kafka):
the 30-day contact history per klant (join state) reaches the alert with a repeat-contact
reason, consent decides the kind of alert, and the due date is in working days."""

from __future__ import annotations

from schemas.types import ALERT, CONTACT, RESPONSE
from tests.pipeline.test_behaviour import _wait_for, runtime  # noqa: F401 - the two-runtime fixture
from tests.support.events import contact_event, klant, response_event
from tests.support.harness import RuntimeHarness
from tests.support.kafka_harness import kafka_harness  # noqa: F401 - fixture for the kafka variant

PASPOORT = {"code": "paspoort", "naam": "Paspoort aanvragen"}
RIJBEWIJS = {"code": "rijbewijs", "naam": "Rijbewijs verlengen"}


def _alert_for(harness: RuntimeHarness, response_id: str) -> dict:
    found = _wait_for(harness, ALERT.topic, lambda a: a["data"].get("responseId") == response_id)
    assert len(found) == 1, f"one alert per response, got {len(found)}"
    return found[0]["data"]


def test_sent_around_citizen_gets_history_and_reason_on_the_alert(
    runtime: RuntimeHarness,  # noqa: F811
) -> None:
    who, other = klant(11), klant(12)
    too_old = contact_event(klant=who, plaatsgevondenOp="2026-10-01T09:00:00Z", dienst=PASPOORT)
    journey = [
        contact_event(
            klant=who,
            plaatsgevondenOp="2026-11-05T09:00:00Z",
            kanaal="e-formulier",
            dienst=PASPOORT,
            indicatieContactGelukt=False,
        ),
        contact_event(
            klant=who,
            plaatsgevondenOp="2026-11-12T14:00:00Z",
            kanaal="balie",
            dienst=PASPOORT,
            team="Burgerzaken",
        ),
        contact_event(
            klant=who, plaatsgevondenOp="2026-11-20T08:30:00Z", kanaal="e-mail", dienst=RIJBEWIJS
        ),
    ]
    last = contact_event(klant=who, plaatsgevondenOp="2026-11-23T10:00:00Z", dienst=PASPOORT)
    stranger = contact_event(klant=other, plaatsgevondenOp="2026-11-22T10:00:00Z")
    # One batch: the klant's contacts are in order on its partition, before the response.
    runtime.publish(CONTACT.topic, [too_old, *journey, last, stranger])
    response = response_event(
        {"invitationId": "i-journey", "contactId": last.data["contactId"], "klant": who},
        rapportcijfer={"score": 2, "opmerking": "Alweer niet geholpen."},
        answeredAt="2026-11-24T11:00:00Z",  # a Tuesday
    )
    no_consent = response_event(
        {"invitationId": "i-stranger", "contactId": stranger.data["contactId"], "klant": other},
        rapportcijfer={"score": 1},
        terugbelToestemming=False,
        answeredAt="2026-11-24T11:00:00Z",
    )
    runtime.publish(RESPONSE.topic, [response, no_consent])

    alert = _alert_for(runtime, response.data["responseId"])
    history = alert["contacthistorie"]
    assert [h["plaatsgevondenOp"] for h in history] == [
        "2026-11-05T09:00:00Z",
        "2026-11-12T14:00:00Z",
        "2026-11-20T08:30:00Z",
        "2026-11-23T10:00:00Z",
    ], "the last 30 days of this klant only, oldest first"
    assert [h["kanaal"] for h in history] == ["e-formulier", "balie", "e-mail", "telefoon"]
    assert [h["gelukt"] for h in history] == [False, True, True, True]
    assert history[1]["team"] == "Burgerzaken" and history[2]["dienst"] == RIJBEWIJS
    assert (
        "van het kastje naar de muur: 3 contacten over Paspoort aanvragen in 30 dagen"
        in alert["redenen"]
    )
    assert (
        "van het kastje naar de muur: contact via 3 kanalen (balie, e-mail, telefoon) "
        "in 14 dagen" in alert["redenen"]
    )
    assert alert["ernst"] == "hoog" and alert["soort"] == "terugbellen"
    # hoog: 1 working day, Tuesday 24 Nov -> Wednesday 25 Nov 17:00 in Amsterdam.
    assert alert["uiterlijkOp"] == "2026-11-25T16:00:00Z"

    team_signal = _alert_for(runtime, no_consent.data["responseId"])
    assert team_signal["soort"] == "procesverbetering"
    assert team_signal["terugbelToestemming"] is False
    assert team_signal["redenen"] == ["rapportcijfer 1"], "one contact: no repeat reason"
    assert [h["plaatsgevondenOp"] for h in team_signal["contacthistorie"]] == [
        "2026-11-22T10:00:00Z"
    ]
    assert team_signal["uiterlijkOp"] == "2026-11-27T16:00:00Z"  # middel: 3 working days
