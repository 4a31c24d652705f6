"""The signals stage hands the Signal it built to the stages that read its event
(alerting, monitor-feed: `parsed`), instead of their parsing it back from the event's data.
That is the same only because `Signal.from_dict` makes the stage's signal again equal,
field by field with containers of the same types; pinned here for the signals the stage
makes (answers with and without comments, contact history, revisions; page feedback),
and that alerting then gives what it gave when it parsed the data."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import schemas.models as models
from pipeline.processing import process_record
from pipeline.sentiment import lexicon_scorer
from pipeline.stages.alerting import AlertingStage
from pipeline.stages.monitoring import MonitorFeedStage
from pipeline.stages.scoring import SignalStage
from schemas.cloudevents import CloudEvent, new_event
from schemas.models import Signal
from schemas.types import CONTACT, PAGE_FEEDBACK, RESPONSE, SIGNAL
from tests.support.events import POSITIVE, VERY_NEGATIVE, contact_event, klant, response_event
from tests.support.state import DictState


def _same(a: Any, b: Any) -> None:
    """Equal, and of the same types all the way down (a list is no tuple here)."""
    assert type(a) is type(b)
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


def _signals() -> list[tuple[CloudEvent, Signal]]:
    """(signal event, the Signal the stage built) for answers of several kinds."""
    stage = SignalStage(scorer=lexicon_scorer())
    states = {"contacts": DictState(), "pending": DictState()}
    out: list[tuple[CloudEvent, Signal]] = []
    built: list[Signal] = []
    real = stage._emit

    def spy(signal: Signal, event_id: str | None = None) -> Any:
        built.append(signal)
        return real(signal, event_id)

    stage._emit = spy  # type: ignore[method-assign]
    answers: list[dict[str, Any]] = [
        VERY_NEGATIVE,
        POSITIVE,
        {"ces": {"score": 3, "schaal": 5}},  # no comment
        {"nps": {"score": 3, "opmerking": ""}, "terugbelToestemming": False},
        {**VERY_NEGATIVE, "revisie": 2},
    ]
    for n, answer in enumerate(answers):
        for m in range(3):  # the later ones have a contact history
            contact = contact_event(klant=klant(n), plaatsgevondenOp=f"2026-11-2{m}T10:00:00Z")
            process_record(stage, CONTACT.topic, contact, states, f"c{n}{m}")
        invitation = {"invitationId": f"i{n}", "contactId": contact.data["contactId"]}
        event = response_event({**invitation, "klant": klant(n)}, **answer)
        outcome = process_record(stage, RESPONSE.topic, event, states, f"r{n}")
        assert outcome.dead_letter is None
        out += [(e.event, built[-1]) for e in outcome.emits]
    feedback = new_event(
        PAGE_FEEDBACK.name,
        {
            "feedbackId": "f-1",
            "pagina": "https://example.nl/afval",
            "beoordeling": "slecht",
            "gegevenOp": "2026-11-23T11:00:00Z",
            "opmerking": "Onvindbaar",
        },
        source="/t",
        key=None,
    )
    outcome = process_record(stage, PAGE_FEEDBACK.topic, feedback, {}, "f")
    assert outcome.dead_letter is None
    out += [(e.event, built[-1]) for e in outcome.emits]
    return out


def test_from_dict_makes_the_stages_signal_again() -> None:
    made = _signals()
    assert len(made) == 6
    assert any(s.contacthistorie for _, s in made) and any(s.opmerking for _, s in made)
    for event, signal in made:
        _same(Signal.from_dict(event.data), signal)
        assert models.parsed(Signal, event.data) is signal  # handed over, not parsed


@pytest.mark.parametrize("stage", [AlertingStage(), MonitorFeedStage(keep_links=False)])
def test_the_readers_emit_what_they_emitted_when_they_parsed_it(stage: Any) -> None:
    for event, _ in _signals():
        handed = process_record(stage, SIGNAL.topic, event, {}, "s")
        models._PARSED.clear()  # the data parsed again, as before the hand-over
        parsed = process_record(stage, SIGNAL.topic, event, {}, "s")
        assert handed.dead_letter is None and parsed.dead_letter is None
        assert [(e.topic, e.event.id, e.event.data) for e in handed.emits] == [
            (e.topic, e.event.id, e.event.data) for e in parsed.emits
        ]
