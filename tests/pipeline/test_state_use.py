"""A record gets only the states its stage declares for its topic (`state_use`,
pipeline.stages.base.states_for), as the Kafka worker hands them over; processing must not
ask for the others. A page feedback touches no state of the join stage: when
process_record still asked for every state, each page feedback raised KeyError on Kafka,
held the agent for the glue retries (7.5 s) and was then dead-lettered."""

from __future__ import annotations

from pipeline.monitoring.pending import MemoryStore
from pipeline.processing import process_record
from pipeline.settings import Settings
from pipeline.stages.base import states_for
from pipeline.topology import scorer_for, topology_for
from schemas.cloudevents import new_event
from schemas.types import PAGE_FEEDBACK, SIGNAL


def test_a_page_feedback_is_scored_with_only_the_states_its_topic_declares() -> None:
    settings = Settings()
    topology = topology_for(settings, scorer_for(settings))
    signals = next(s for s in topology.stages if s.name == "signals")
    given = {name: MemoryStore() for name in states_for(signals, PAGE_FEEDBACK.topic)}
    assert given == {}  # the join's states are not the page feedback's business
    data = {
        "feedbackId": "f-1",
        "pagina": "https://www.voorbeeldstad.nl/paspoort",
        "beoordeling": "slecht",
        "gegevenOp": "2026-03-02T09:00:00+01:00",
        "dienst": {"code": "paspoort", "naam": "Paspoort"},
    }
    event = new_event(PAGE_FEEDBACK.name, data, source="/t", key="paspoort")
    out = process_record(signals, PAGE_FEEDBACK.topic, event, given, "0/1")
    assert out.dead_letter is None
    assert [(e.topic, e.event.type) for e in out.emits] == [(SIGNAL.topic, SIGNAL.name)]
