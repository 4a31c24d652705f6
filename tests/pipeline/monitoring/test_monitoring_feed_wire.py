"""The monitor-feed builds an observation's wire form directly, and the monitoring stage
reads it as it is (no MonitorObservation built and taken apart per observation): the
records are byte for byte those the model made, and a coalesced record's items are the
events its envelope made before."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

import pytest

from pipeline.monitoring.batches import observation_batch, observations_of, placed
from pipeline.monitoring.cell import already_seen, examples, new_cell, observe_cell
from pipeline.monitoring.charts import MonitorConfig
from pipeline.monitoring.dedup import load_window, position_of, save_window, upgrade
from pipeline.monitoring.outcomes import (
    Outcomes,
    cell_key,
    from_contact,
    from_invitation,
    from_signal,
)
from pipeline.monitoring.pending import MemoryStore
from pipeline.processing import (
    coalesced,
    outputs,
    positioned,
    process_record,
    record_items,
)
from pipeline.stages.base import Emit, State, emit
from pipeline.stages.monitoring import (
    MonitorFeedStage,
    MonitoringStage,
    observation_data,
    service_alert,
)
from schemas import jsonfast
from schemas.cloudevents import CloudEvent, built, derived_id, new_event
from schemas.models import Contact, Dienst, Invitation, MonitorObservation, Signal, wire_name
from schemas.types import (
    CONTACT,
    INVITATION,
    MONITOR_OBSERVATION,
    MONITOR_OBSERVATIONS,
    SERVICE_ALERT,
    SIGNAL,
)
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


def _invitation(n: int, **fields: Any) -> CloudEvent:
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
        **fields,
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


def test_every_field_of_the_observation_model_is_one_the_feed_writes() -> None:
    """observation_data writes the model's fields itself: a field added to
    MonitorObservation (and its schema) later must be written there too, in the model's
    order; only `bronpositie` is the runtimes' (batches.placed adds it). The schema's
    properties are the model's fields, so a field added to the schema alone is caught too."""
    outcomes = Outcomes(
        Dienst("paspoort", "Paspoort aanvragen"),
        "balie",
        "2026-11-23T10:00:00Z",
        {"aandeel-negatief": True},
        "Lang gewacht",
        answered="c-1",
    )
    written = observation_data(
        observation_id="o-1",
        bron="response",
        cause="s-1",
        outcomes=outcomes,
        comment="Lang gewacht",
        contact_ref="c-1",
    )
    model = [wire_name(f.name) for f in dataclasses.fields(MonitorObservation)]
    by_the_runtimes = ["bronpositie"]
    assert list(written) == [k for k in model if k not in by_the_runtimes]
    schema = json.loads(
        resources.files("schemas").joinpath("json", MONITOR_OBSERVATION.schema_file).read_text()
    )
    assert set(schema["properties"]) == set(model)
    event = new_event(MONITOR_OBSERVATION.name, written, source="/t", key="paspoort|balie")
    [at] = placed([event], "in/0", 7)
    assert list(at.data) == model
    assert MonitorObservation.from_dict(at.data).to_dict() == at.data


class _CopyingStore(MemoryStore):
    """monitor_cells as the runtimes hand it over: a copy on every read, so a dead-lettered
    observation's changes are dropped."""

    def get(self, key: str, default: Any = None) -> Any:
        return copy.deepcopy(super().get(key, default))


def _stamped_observation(
    n: int, bad: bool, drop: tuple[str, ...] = (), **fields: Any
) -> CloudEvent:
    data: dict[str, Any] = {
        "observationId": derived_id("test-observation", str(n)),
        "bron": "contact",
        "oorzaakId": f"c-{n}",
        "dienst": DIENST,
        "kanaal": "telefoon",
        "waargenomenOp": f"2026-11-23T{8 + n // 60:02d}:{n % 60:02d}:00Z",
        "uitkomsten": {"aandeel-contact-niet-gelukt": bad},
        **fields,
    }
    for name in drop:
        del data[name]
    event = new_event(MONITOR_OBSERVATION.name, data, source="/t", key="paspoort|telefoon")
    return built({**event.__dict__, "dataschema": schema_id(MONITOR_OBSERVATION.name)})


def test_a_stamped_observation_is_trusted_as_it_is() -> None:
    """docs/kafka.md, "Validate once": a stamped observation is not validated again. One
    without `oorzaakId` is counted; one whose dienst has no naam is counted, and only
    those that would open an alert are dead-lettered; one without a field the stage reads
    is dead-lettered."""
    stage = MonitoringStage(config=MonitorConfig(warmup_min=5, warmup_days=0, arl0=50))
    cells = _CopyingStore()
    topic = MONITOR_OBSERVATION.topic
    reasons = []
    for n in range(40):
        drop = ("oorzaakId",) if n == 3 else ()
        dienst = {"code": "paspoort"} if n >= 10 else DIENST
        event = _stamped_observation(n, bad=n >= 20, drop=drop, dienst=dienst)
        outcome = process_record(stage, topic, event, {"monitor_cells": cells}, f"0/{n}")
        assert not outcome.emits
        reasons.append(outcome.dead_letter.reason if outcome.dead_letter else None)
    first = reasons.index("interne fout in monitoring: TypeError")
    assert first > 20 and reasons[:first] == [None] * first
    assert set(reasons[first:]) == {"interne fout in monitoring: TypeError"}
    assert len(cells["paspoort|telefoon"]["seen"]) == first, "counted up to the alert"
    missing = _stamped_observation(99, bad=False, drop=("kanaal",))
    outcome = process_record(stage, topic, missing, {"monitor_cells": cells}, "0/99")
    assert outcome.dead_letter is not None
    assert outcome.dead_letter.reason == "interne fout in monitoring: KeyError"


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


class _ThroughTheModel(MonitoringStage):
    """The monitoring stage as it read an observation before it read the wire form: a
    MonitorObservation per observation, its fields and its Dienst model (7954ce4^)."""

    def _observe(self, data: Mapping[str, Any], state: Mapping[str, State]) -> list[Emit]:
        obs = MonitorObservation.from_dict(dict(data))
        key = cell_key(obs.dienst.code, obs.kanaal)
        cells = state["monitor_cells"]
        cell = cells.get(key) or new_cell()
        upgraded = upgrade(cell, cells, key)
        at = position_of(obs.bronpositie)
        window = load_window(cells, key, at)
        if already_seen(cell, obs.observation_id, at, window):
            if upgraded:
                cells.put(key, cell)
            return []
        on = self.response_chart
        invited = obs.contact_id if on and obs.bron == "invitation" else None
        answered = obs.contact_id if on and obs.bron == "response" else None
        found = observe_cell(
            cell,
            obs.observation_id,
            obs.uitkomsten,
            obs.waargenomen_op,
            obs.opmerking,
            self.config,
            invited=invited,
            answered=answered,
            store=cells if on else None,
            key=key,
            position=at,
            window=window,
        )
        cells.put(key, cell)
        if at is not None:
            save_window(cells, key, at, window)
        out = []
        for finding in found:
            alert = service_alert(obs.dienst, obs.kanaal, finding, examples(cell, finding.metric))
            out.append(
                emit(
                    SERVICE_ALERT,
                    alert,
                    source=self.source,
                    key=key,
                    event_id=alert.service_alert_id,
                )
            )
        return out


def _monitored(stage: MonitoringStage, records: list[CloudEvent]) -> tuple[list[Any], MemoryStore]:
    """The alerts (id and data) `stage` emits for `records` (in order, each item through
    process_record as the runtimes hand it over) and the monitor_cells it leaves."""
    cells = MemoryStore()
    alerts = []
    topic = MONITOR_OBSERVATIONS.topic
    for n, record in enumerate(copy.deepcopy(records)):
        for item, position, raw in record_items(topic, record, f"0/{n}"):
            outcome = process_record(stage, topic, item, {"monitor_cells": cells}, position, raw)
            assert outcome.dead_letter is None, outcome.dead_letter
            alerts += [(e.event.id, e.event.data) for e in outcome.emits]
    return alerts, cells


def test_the_monitoring_stage_counts_from_the_wire_form_as_from_the_model() -> None:
    """The stage reads the fields a MonitorObservation held from the data itself: the same
    service alerts (ids and data: the Dienst from the data, comments as examples) and the
    same monitor_cells (charts, dedup windows, pending invitations) as through the model,
    for contacts, invitations and answers placed and coalesced as the runtimes do."""
    feed = MonitorFeedStage()
    inputs: list[tuple[str, CloudEvent]] = []
    for n in range(60):
        late = n >= 20
        at = f"2026-11-23T{8 + n // 10:02d}:{n % 10}0:00Z"
        contact = contact_event(indicatieContactGelukt=not late, plaatsgevondenOp=at)
        inputs.append((CONTACT.topic, contact))
        inputs.append((INVITATION.topic, _invitation(n, kanaal="telefoon", createdAt=at)))
        if n % 2 == 0:
            comment = f"Niemand belde terug ({n})" if late else None
            inputs.append((SIGNAL.topic, _signal(n, nps=3 if late else 9, opmerking=comment)))
    records: list[CloudEvent] = []
    for start in range(0, len(inputs), 16):  # runs of 16 records, as an agent takes them
        outs = []
        for offset, (topic, event) in enumerate(inputs[start : start + 16], start):
            outcome = process_record(feed, topic, event, {}, f"0/{offset}", None)
            outs += positioned(outputs(outcome, feed.name, None), "in/0", offset)
        records += [out.event for out in coalesced(outs) if out.event is not None]
    assert any(r.type == MONITOR_OBSERVATIONS.name for r in records)

    config = MonitorConfig(warmup_min=5, warmup_days=0, arl0=50)
    alerts, cells = _monitored(MonitoringStage(config=config), records)
    model_alerts, model_cells = _monitored(_ThroughTheModel(config=config), records)
    assert alerts == model_alerts
    assert jsonfast.dumps(dict(cells)) == jsonfast.dumps(dict(model_cells))
    assert len(alerts) >= 2, "the drops in successful contacts and NPS became service alerts"
    opened = [data for _, data in alerts if data["status"] == "open"]
    assert {data["dienst"]["naam"] for data in opened} == {DIENST["naam"]}
    assert any(data["bewijs"]["voorbeeldOpmerkingen"] for data in opened)
    assert any("|p|" in key for key in cells), "invitations pending for the response chart"
