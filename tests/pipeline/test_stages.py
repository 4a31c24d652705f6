"""The transport-free stages: trigger rules, join, alert rules, dead-letter handling."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.alertpolicy import default_policy
from pipeline.invitation_policy import load_policy
from pipeline.processing import process_record
from pipeline.sentiment import lexicon_scorer
from pipeline.stages.alerting import AlertingStage, alert_reasons
from pipeline.stages.base import StateUnavailable
from pipeline.stages.join import TAKEN
from pipeline.stages.scoring import SignalStage
from pipeline.stages.trigger import TriggerStage, link_token, skip_reason
from schemas.models import Contact, Dienst, Sentiment, Signal
from schemas.types import CONTACT, RESPONSE
from tests.support.events import VERY_NEGATIVE, contact_data, contact_event, klant, response_event
from tests.support.state import DictState


def _states() -> dict[str, DictState]:
    return {"last_invited": DictState(), "opted_out": DictState()}


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"indicatieContactGelukt": False}, "contact niet gelukt"),
        ({"vertrouwelijk": True}, "vertrouwelijk contact"),
        ({"bereikbaarheid": {"enqueteToestemming": False}}, "geen toestemming voor enquête"),
        ({"bereikbaarheid": None}, "geen toestemming bekend (geen bereikbaarheid)"),
    ],
)
def test_ineligible_contacts_are_skipped_with_reason(overrides: dict, reason: str) -> None:
    data = {k: v for k, v in contact_data(**overrides).items() if v is not None}
    assert skip_reason(Contact.from_dict(data), [], None, 90) == reason


def test_letters_are_not_invited_by_the_shipped_policy() -> None:
    stage = TriggerStage(link_key="k", policy=load_policy())
    letter = contact_event(kanaal="brief")
    assert stage.process(CONTACT.topic, letter, _states()) == []


def test_quarantine_counts_from_the_last_invitation() -> None:
    contact = Contact.from_dict(contact_data(plaatsgevondenOp="2026-03-01T10:00:00Z"))
    recent = [{"at": "2026-01-15T10:00:00Z", "contactId": "x"}]
    long_ago = [{"at": "2025-10-01T10:00:00Z", "contactId": "y"}]
    assert skip_reason(contact, recent, None, 90).startswith("quarantaine")
    assert skip_reason(contact, long_ago, None, 90) is None


def test_trigger_emits_deterministic_invitation() -> None:
    stage = TriggerStage(link_key="k")
    event = contact_event()
    first = stage.process(CONTACT.topic, event, _states())
    second = stage.process(CONTACT.topic, event, _states())
    assert first[0].event.id == second[0].event.id
    assert first[0].event.data["token"] == link_token(
        "k", event.data["klant"], event.data["contactId"]
    )
    assert link_token("k", "k-1", "a") != link_token("other", "k-1", "a")
    assert link_token("k", "k-1", "a") != link_token("k", "k-2", "a")
    # Links already sent keep working: the token is the HMAC-SHA256 it always was.
    assert link_token("k", "k-1", "a") == "zzUvYzM3eXnd5_oHCD4mrddFgId3LkS_"


def test_replayed_contact_is_invited_again_with_the_same_ids() -> None:
    stage, states = TriggerStage(link_key="k"), _states()
    event = contact_event()
    first = stage.process(CONTACT.topic, event, states)
    replay = stage.process(CONTACT.topic, event, states)
    assert [e.event.id for e in replay] == [e.event.id for e in first]


def test_earlier_contact_arriving_late_is_still_quarantined() -> None:
    stage, states = TriggerStage(link_key="k"), _states()
    who = klant(1)
    later = contact_event(klant=who, plaatsgevondenOp="2026-01-10T10:00:00Z")
    earlier = contact_event(klant=who, plaatsgevondenOp="2026-01-05T10:00:00Z")
    assert stage.process(CONTACT.topic, later, states)
    assert stage.process(CONTACT.topic, earlier, states) == []
    [entry] = states["last_invited"].data[who]["invitations"]
    assert entry["at"] == "2026-01-10T10:00:00Z"


def _signal(**overrides: Any) -> Signal:
    base: dict[str, Any] = dict(
        signal_id="s",
        bron="response",
        klant=klant(0),
        ontvangen_op="2026-11-23T10:00:00Z",
        sentiment=Sentiment("neu", 0.0, False, "v", "nld"),
        team="KCC",
        dienst=Dienst("paspoort", "Paspoort"),
        terugbel_toestemming=True,
    )
    base.update(overrides)
    return Signal(**base)


def test_alert_reasons_are_dutch_and_specific() -> None:
    very_negative = Sentiment("neg", -0.9, True, "v", "nld", ("schandalig",))
    reasons = alert_reasons(_signal(sentiment=very_negative, rapportcijfer=2), default_policy())
    assert reasons == ["zeer negatieve opmerking (schandalig)", "rapportcijfer 2"]
    assert alert_reasons(_signal(rapportcijfer=8, nps=9), default_policy()) == []
    mild = Sentiment("neg", -0.3, False, "v", "nld")
    assert alert_reasons(_signal(sentiment=mild, nps=2), default_policy()) == [
        "NPS 2 met negatieve opmerking"
    ]


def test_page_feedback_never_alerts() -> None:
    very_negative = Sentiment("neg", -0.9, True, "v", "nld", ("slecht",))
    signal = _signal(bron="page-feedback", sentiment=very_negative, rapportcijfer=1)
    from schemas.cloudevents import new_event

    event = new_event("nl.klantsignaal.signal.v1", signal.to_dict(), source="/t", key="k")
    assert AlertingStage().process("scored-signals", event, {}) == []


def test_response_before_its_contact_waits_and_is_joined_later() -> None:
    stage = SignalStage(scorer=lexicon_scorer())
    states = {"contacts": DictState(), "pending": DictState()}
    contact = contact_event(klant=klant(1))
    early = response_event(
        {"invitationId": "i", "contactId": contact.data["contactId"], "klant": klant(1)},
        **VERY_NEGATIVE,
    )
    assert process_record(stage, RESPONSE.topic, early, states, "1").emits == []
    joined = process_record(stage, CONTACT.topic, contact, states, "2").emits
    assert [e.event.data["responseId"] for e in joined] == [early.data["responseId"]]
    assert joined[0].event.data["team"] == contact.data["team"]
    # no longer waiting; kept as taken by this contact (for a replay of it)
    assert set(states["pending"].data[klant(1)]) == {TAKEN}


def test_a_replayed_contact_emits_the_signals_of_the_answers_it_took_again() -> None:
    """At-least-once runtimes may replay a contact after its `pending` change reached the
    state but before the signals it produced were sent (a worker crash in between): the
    replay must emit the same signals again (same ids), not find the answers gone
    (docs/kafka.md, Known gaps). A replayed answer is parked once."""
    stage = SignalStage(scorer=lexicon_scorer())
    states = {"contacts": DictState(), "pending": DictState()}
    contact = contact_event(klant=klant(3))
    early = response_event(
        {"invitationId": "i", "contactId": contact.data["contactId"], "klant": klant(3)},
        **VERY_NEGATIVE,
    )
    for position in ("1", "2"):  # the answer itself replayed
        assert process_record(stage, RESPONSE.topic, early, states, position).emits == []
    first = process_record(stage, CONTACT.topic, contact, states, "3").emits
    replayed = process_record(stage, CONTACT.topic, contact, states, "3").emits
    assert [e.event.id for e in first] == [e.event.id for e in replayed]
    assert len(first) == 1 and first[0].event.data["responseId"] == early.data["responseId"]
    # and a later contact of the same klant takes nothing of it
    other = contact_event(klant=klant(3))
    assert process_record(stage, CONTACT.topic, other, states, "4").emits == []


def test_a_contact_id_that_looks_like_the_taken_key_is_joined_like_any_other() -> None:
    """The answers a contact took are kept beside those waiting, under a key no contactId
    can have: a channel system's contactId is any string of 1 to 100 characters, and one
    that equalled the key (it was "~taken") had its early answer dead-lettered and its
    contact's signals broken for a klant with an earlier early answer."""
    stage = SignalStage(scorer=lexicon_scorer())
    states = {"contacts": DictState(), "pending": DictState()}
    first = contact_event(klant=klant(5))
    early = response_event(
        {"invitationId": "i1", "contactId": first.data["contactId"], "klant": klant(5)},
        **VERY_NEGATIVE,
    )
    assert process_record(stage, RESPONSE.topic, early, states, "1").emits == []
    assert len(process_record(stage, CONTACT.topic, first, states, "2").emits) == 1
    odd = "~taken"
    contact = contact_event(klant=klant(5), contactId=odd)
    answer = response_event(
        {"invitationId": "i2", "contactId": odd, "klant": klant(5)}, **VERY_NEGATIVE
    )
    parked = process_record(stage, RESPONSE.topic, answer, states, "3")
    assert parked.dead_letter is None and parked.emits == []
    joined = process_record(stage, CONTACT.topic, contact, states, "4")
    assert joined.dead_letter is None
    assert [e.event.data["responseId"] for e in joined.emits] == [answer.data["responseId"]]
    # no contact can have the key as its id: the schema refuses it
    keyed = contact_event(klant=klant(5), contactId=TAKEN)
    assert process_record(stage, CONTACT.topic, keyed, states, "5").dead_letter is not None
    # the first contact's answer is still kept for a replay of it
    again = process_record(stage, CONTACT.topic, first, states, "2").emits
    assert [e.event.data["responseId"] for e in again] == [early.data["responseId"]]


def test_too_many_waiting_responses_are_dead_lettered_and_state_untouched() -> None:
    stage = SignalStage(scorer=lexicon_scorer())
    states = {"contacts": DictState(), "pending": DictState()}
    for n in range(20):
        orphan = response_event(
            {"invitationId": "i", "contactId": f"unknown-{n}", "klant": klant(2)}, **VERY_NEGATIVE
        )
        assert process_record(stage, RESPONSE.topic, orphan, states, str(n)).dead_letter is None
    before = dict(states["pending"].data[klant(2)])
    one_more = response_event(
        {"invitationId": "i", "contactId": "unknown-x", "klant": klant(2)}, **VERY_NEGATIVE
    )
    outcome = process_record(stage, RESPONSE.topic, one_more, states, "21")
    assert outcome.dead_letter is not None
    # The field and the rule, never the value (docs/operations.md).
    reason = outcome.dead_letter.reason
    assert reason.startswith("/data/contactId: ") and "unknown-x" not in reason, reason
    assert states["pending"].data[klant(2)] == before


def test_stage_crash_becomes_dead_letter_not_an_exception() -> None:
    class Broken:
        name, inputs, outputs, state_names = "broken", (CONTACT.topic,), (), ()

        def process(self, topic, event, states):
            raise ZeroDivisionError("oops")

    outcome = process_record(Broken(), CONTACT.topic, contact_event(), {}, "1")
    assert "ZeroDivisionError" in outcome.dead_letter.reason


class UnreachableState(DictState):
    """A state whose backing (the key store sealing it) fails on `fails_on`."""

    def __init__(self, fails_on: str) -> None:
        super().__init__()
        self.fails_on = fails_on

    def get(self, key: str) -> dict[str, Any] | None:
        if self.fails_on == "get":
            raise StateUnavailable("key store: ProgrammingError")
        return super().get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self.fails_on == "put":
            raise StateUnavailable("key store: ProgrammingError")
        super().put(key, value)


@pytest.mark.parametrize("fails_on", ["get", "put"])
def test_unreachable_state_is_raised_for_the_runtime_not_dead_lettered(fails_on: str) -> None:
    """Not the record's fault: a dead letter would park every citizen's record while the
    key store lacks a grant; the runtime stops (Kafka) or rolls back and retries."""
    states = {"last_invited": UnreachableState(fails_on), "opted_out": DictState()}
    with pytest.raises(StateUnavailable):
        process_record(TriggerStage(link_key="k"), CONTACT.topic, contact_event(), states, "1")


def test_undecodable_record_is_dead_lettered_with_reason() -> None:
    outcome = process_record(
        TriggerStage(link_key="k"),
        CONTACT.topic,
        "not JSON",
        _states(),
        "3",
        raw={"value": "%%%"},
    )
    assert outcome.dead_letter.reason == "not JSON"
    assert outcome.dead_letter.record == {"value": "%%%"}


def test_wrong_type_on_a_topic_is_dead_lettered() -> None:
    outcome = process_record(
        TriggerStage(link_key="k"),
        RESPONSE.topic,
        contact_event(),
        _states(),
        "4",
    )
    assert "hoort niet op" in outcome.dead_letter.reason
