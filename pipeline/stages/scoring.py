"""Sentiment stage: turn a joined response or page feedback into a scored signal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.privacy import scrub
from pipeline.sentiment import Scorer
from pipeline.stages.base import Emit, Rejected, State, emit
from pipeline.stages.join import (
    JoinedResponse,
    history_in,
    join_in,
    park_response,
    remember_contact,
    take_pending,
)
from pipeline.times import parse_time
from schemas.cloudevents import CloudEvent, derived_id
from schemas.models import (
    Contact,
    PageFeedback,
    Response,
    Sentiment,
    Signal,
    parsed,
    remember_parsed,
)
from schemas.types import CONTACT, PAGE_FEEDBACK, RESPONSE, SIGNAL

_NO_COMMENT = Sentiment(
    label="neu", score=0.0, very_negative=False, model_version="-", language="und"
)


def score_text(scorer: Scorer, text: str) -> Sentiment:
    if not text:
        return _NO_COMMENT
    result = scorer.score(text)
    return Sentiment(
        label=result.label,
        score=round(float(result.score), 4),
        very_negative=result.very_negative,
        model_version=result.model_version,
        language=result.language,
        explanation=tuple(result.explanation),
    )


def signal_from_response(
    joined: JoinedResponse, scorer: Scorer, history: tuple[dict[str, Any], ...] = ()
) -> Signal:
    response, ctx = joined.response, joined.context
    # Scrub before scoring: personal data must not reach the signal, logs or alerts.
    comment = scrub(" ".join(response.comments()))
    return Signal(
        signal_id=derived_id("signal", response.response_id),
        bron="response",
        klant=response.klant,
        ontvangen_op=response.answered_at,
        sentiment=score_text(scorer, comment),
        response_id=response.response_id,
        contact_id=response.contact_id,
        kanaal=ctx.kanaal,
        dienst=ctx.dienst,
        team=ctx.team,
        contact_op=ctx.plaatsgevonden_op,
        ces=response.ces.score if response.ces else None,
        ces_schaal=response.ces.schaal if response.ces else None,
        nps=response.nps.score if response.nps else None,
        rapportcijfer=response.rapportcijfer.score if response.rapportcijfer else None,
        opmerking=comment or None,
        terugbel_toestemming=response.terugbel_toestemming,
        contacthistorie=history or None,
    )


def signal_from_page_feedback(feedback: PageFeedback, scorer: Scorer) -> Signal:
    comment = scrub((feedback.opmerking or "").strip())
    return Signal(
        signal_id=derived_id("signal", feedback.feedback_id),
        bron="page-feedback",
        klant=feedback.klant or "anoniem",
        ontvangen_op=feedback.gegeven_op,
        sentiment=score_text(scorer, comment),
        feedback_id=feedback.feedback_id,
        dienst=feedback.dienst,
        beoordeling=feedback.beoordeling,
        opmerking=comment or None,
        terugbel_toestemming=False,
    )


@dataclass
class SignalStage:
    """Join (contact context by klant) and sentiment, composed in one partition-local step."""

    scorer: Scorer
    source: str = "/klantsignaal/signals"
    name: str = "signals"
    inputs: tuple[str, ...] = (CONTACT.topic, RESPONSE.topic, PAGE_FEEDBACK.topic)
    outputs: tuple[str, ...] = (SIGNAL.topic,)
    state_names: tuple[str, ...] = ("contacts", "pending")
    state_use: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            CONTACT.topic: ("contacts", "pending"),
            RESPONSE.topic: ("contacts", "pending"),
            PAGE_FEEDBACK.topic: (),
        }
    )
    # An answer whose contact's context is not there (yet) waits in `pending` until the
    # contact comes (take_pending), so the context may reach the changelog late: the
    # Kafka worker defers its writes to the commit (pipeline.stages.base.states_for).
    awaited_states: tuple[str, ...] = ("contacts",)
    # A signal carries the klant's other contacts too (contact_history; the alert policy's
    # repeat-contact rule reads them), so after a crash an answer is joined only once the
    # contacts that were on the log are replayed (docs/kafka.md, "Guarantees").
    replay_after: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {RESPONSE.topic: (CONTACT.topic,)}
    )

    def process(self, topic: str, event: CloudEvent, state: Mapping[str, State]) -> list[Emit]:
        if event.type == CONTACT.name:
            contact = parsed(Contact, event.data)
            remember_contact(state["contacts"], contact)
            # Responses that arrived before their contact (topics are not ordered among
            # each other) are joined now.
            early = take_pending(state["pending"], contact.klant, contact.contact_id)
            known = state["contacts"].get(contact.klant) or {}  # as just remembered
            return [self._signal_from_response(Response.from_dict(r), known) for r in early]
        if event.type == RESPONSE.name:
            response = Response.from_dict(event.data)
            # Read (and unsealed) once: the join and the history both take it from here.
            known = state["contacts"].get(response.klant) or {}
            if join_in(known, response) is None:
                park_response(state["pending"], response, event.data)
                return []
            return [self._signal_from_response(response, known)]
        if event.type == PAGE_FEEDBACK.name:
            signal = signal_from_page_feedback(PageFeedback.from_dict(event.data), self.scorer)
            return [self._emit(signal)]
        raise Rejected(f"onverwacht type {event.type} op {topic}")

    def _signal_from_response(self, response: Response, known: dict[str, Any]) -> Emit:
        """The signal of a joined answer; `known`: its klant's `contacts` value as read."""
        joined = join_in(known, response)
        assert joined is not None  # callers join first
        # Up to the answer, and at least up to its own contact (clocks of channels differ).
        until = max(response.answered_at, joined.context.plaatsgevonden_op, key=parse_time)
        history = history_in(known, until)
        signal = signal_from_response(joined, self.scorer, history)
        # A revised response keeps its signalId (one signal, one alert per response) but is
        # a new event; the warehouse keeps the latest (consumers/warehouse_revisions.py).
        if (response.revisie or 1) > 1:
            return self._emit(signal, derived_id("signal", signal.signal_id, response.answered_at))
        return self._emit(signal)

    def _emit(self, signal: Signal, event_id: str | None = None) -> Emit:
        out = emit(
            SIGNAL,
            signal,
            source=self.source,
            key=signal.klant,
            event_id=event_id or signal.signal_id,
        )
        # Alerting and monitor-feed read this event's data as a Signal (`parsed`): this one,
        # which Signal.from_dict would make again equal (tests/pipeline/test_signal_handover.py),
        # not parsed back from the dict just made of it.
        remember_parsed(out.event.data, signal)
        return out
