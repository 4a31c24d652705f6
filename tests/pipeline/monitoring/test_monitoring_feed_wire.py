"""The monitor-feed builds an observation's wire form directly, and the monitoring stage
reads it as it is (no MonitorObservation built and taken apart per observation): the
records are byte for byte those the model made, and a coalesced record's items are the
events its envelope made before."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.monitoring.batches import observation_batch, observations_of
from pipeline.monitoring.charts import MonitorConfig
from pipeline.monitoring.outcomes import (
    Outcomes,
    from_contact,
    from_invitation,
    from_signal,
)
from pipeline.monitoring.pending import MemoryStore
from pipeline.processing import outputs, positioned, process_record
from pipeline.stages.monitoring import MonitorFeedStage, MonitoringStage
from schemas import jsonfast
from schemas.cloudevents import CloudEvent, built, derived_id, new_event
from schemas.models import Contact, Invitation, MonitorObservation, Signal
from schemas.types import CONTACT, INVITATION, MONITOR_OBSERVATION, SIGNAL
from schemas.validation import schema_id
from tests.support.events import contact_event, klant

DIENST = {"code": "paspoort", "naam": "Paspoort aanvragen"}


def _signal(n: int, **fields: Any) -> CloudEvent:
    data: dict[str, Any] = {
        "signalId": f"s-{n}",
        "bron": "response",
        "klant": klant(n),
        "ontvangenOp": "2026-11-23T11:00:00Z",
        "responseId": f"r-{n}",
        "contactId": f"c-{n}",
        "kanaal": "telefoon",
        "dienst": DIENST,
        "sentiment": {
            "label": "neg",
            "score": -0.8,
            "very_negative": True,
            "model_version": "lexicon-1",
            "language": "nld",
        },
    }
    data.update(fields)
    return new_event(
        SIGNAL.name, {k: v for k, v in data.items() if v is not None}, source="/t", key=klant(n)
    )


def _invitation(n: int) -> CloudEvent:
    data = {
        "invitationId": f"i-{n}",
        "contactId": f"c-{n}",
        "klant": klant(n),
        "token": "t" * 32,
        "kanaal": "balie",
        "dienst": DIENST,
        "team": "Burgerzaken",
        "dispatch": ["inline"],
        "createdAt": "2026-11-23T10:05:00Z",
        "expiresAt": "2026-11-30T10:05:00Z",
    }
    return new_event(INVITATION.name, data, source="/t", key=klant(n))


def _inputs() -> list[tuple[str, CloudEvent]]:
    return [
        (CONTACT.topic, contact_event(indicatieContactGelukt=True)),
        (CONTACT.topic, contact_event(indicatieContactGelukt=False, kanaal="balie")),
        (INVITATION.topic, _invitation(1)),
        (SIGNAL.topic, _signal(2, nps=3, opmerking="Niemand belde terug, 06-12345678")),
        (SIGNAL.topic, _signal(3, nps=9)),
        (SIGNAL.topic, _signal(4, opmerking="Prima geholpen", nps=None)),
        (SIGNAL.topic, _signal(7, bron="response", nps=None, opmerking=None)),
        (
            SIGNAL.topic,
            _signal(
                5,
                bron="page-feedback",
                beoordeling="slecht",
                responseId=None,
                feedbackId="f-5",
                contactId=None,
                kanaal=None,
                dienst=None,
            ),
        ),
        (
            SIGNAL.topic,
            _signal(
                6,
                bron="page-feedback",
                beoordeling="goed",
                responseId=None,
                feedbackId="f-6",
                contactId=None,
            ),
        ),
    ]


def _as_the_model_made_it(feed: MonitorFeedStage, event: CloudEvent) -> dict[str, Any] | None:
    """The observation's data as the feed made it before (MonitorObservation.to_dict)."""
    if event.type == CONTACT.name:
        outcomes: Outcomes | None = from_contact(Contact.from_dict(event.data))
        bron = "contact"
    elif event.type == SIGNAL.name:
        signal = Signal.from_dict(event.data)
        outcomes, bron = from_signal(signal), signal.bron
    else:
        outcomes, bron = from_invitation(Invitation.from_dict(event.data)), "invitation"
    if outcomes is None:
        return None
    cause = event.data.get("signalId", event.id) if event.type == SIGNAL.name else event.id
    observation_id = derived_id("monitor-observation", cause)
    return MonitorObservation(
        observation_id=observation_id,
        bron=bron,
        oorzaak_id=event.id if feed.keep_links else observation_id,
        dienst=outcomes.dienst,
        kanaal=outcomes.kanaal,
        waargenomen_op=outcomes.at,
        uitkomsten=dict(outcomes.bad),
        opmerking=outcomes.comment if feed.keep_links else None,
        contact_id=feed._contact_ref(event, outcomes.invited or outcomes.answered),
    ).to_dict()


@pytest.mark.parametrize("keep_links", [True, False])
def test_the_feed_writes_what_the_model_wrote(keep_links: bool) -> None:
    feed = MonitorFeedStage(keep_links=keep_links)
    made = 0
    for topic, event in _inputs():
        expected = _as_the_model_made_it(feed, event)
        emits = feed.process(topic, event, {})
        if expected is None:
            assert emits == []
            continue
        [emitted] = emits
        got = emitted.event
        assert jsonfast.dumps(got.data) == jsonfast.dumps(expected), "same keys, same order"
        assert (got.id, got.type, got.source) == (
            expected["observationId"],
            MONITOR_OBSERVATION.name,
            feed.source,
        )
        assert got.partitionkey == f"{expected['dienst']['code']}|{expected['kanaal']}"
        assert (got.subject, got.extensions, got.dataschema) == (None, {}, None)
        made += 1
    assert made >= 6


def test_a_coalesced_records_items_are_the_events_its_envelope_made_before() -> None:
    feed = MonitorFeedStage()
    events = []
    for i, (topic, event) in enumerate(_inputs()):
        outcome = process_record(feed, topic, event, {}, f"0/{i}", None)
        events += [o.event for o in positioned(outputs(outcome, feed.name, None), "x/0", i)]
    cell = [e for e in events if e.partitionkey == "paspoort|telefoon"]
    assert len(cell) >= 3
    batch = observation_batch(cell)
    batch = built({**batch.__dict__, "subject": "s", "extensions": {"traceparent": "00-a"}})
    items = observations_of(batch)
    assert not isinstance(items, str)
    stamp = schema_id(MONITOR_OBSERVATION.name)
    for i, item in enumerate(items):
        data = batch.data["observaties"][i]
        before = built(
            {
                **batch.__dict__,
                "id": str(data.get("observationId") or f"{batch.id}#{i}"),
                "type": MONITOR_OBSERVATION.name,
                "data": {**data, **{k: batch.data[k] for k in ("dienst", "kanaal")}},
                "dataschema": stamp,
                "extensions": dict(batch.extensions),
            }
        )
        assert item == before
        assert item.extensions is not batch.extensions
        assert jsonfast.dumps(item.to_structured()) == jsonfast.dumps(before.to_structured())


def test_the_monitoring_stage_counts_from_the_wire_form_as_from_the_model() -> None:
    """The stage reads the fields a MonitorObservation held from the data itself: the
    same cell and the same service alert (its Dienst from the data) as through the model."""
    feed = MonitorFeedStage()
    stage = MonitoringStage(config=MonitorConfig(warmup_min=5, warmup_days=0, arl0=50))
    cells = MemoryStore()
    alerts = []
    for n in range(60):
        failed = n >= 20
        contact = contact_event(
            indicatieContactGelukt=not failed,
            plaatsgevondenOp=f"2026-11-23T{8 + n // 10:02d}:{n % 10}0:00Z",
        )
        [emitted] = feed.process(CONTACT.topic, contact, {})
        alerts += stage.process(MONITOR_OBSERVATION.topic, emitted.event, {"monitor_cells": cells})
    assert alerts, "the drop in successful contacts became a service alert"
    alert = alerts[0].event.data
    assert alert["dienst"] == DIENST and alert["kanaal"] == "telefoon"
