"""The response-rate chart: invitations decided at their deadline, answered or not; a drop
in answers becomes a service alert, on the monitor's own cell code and through the stage."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from pipeline.monitoring.cell import new_cell, observe_cell
from pipeline.monitoring.charts import MonitorConfig
from pipeline.monitoring.outcomes import CONTACT_FAILED, NOT_ANSWERED, from_signal
from pipeline.monitoring.pending import MemoryStore
from pipeline.monitoring.response import pending_key, response_outcomes
from pipeline.stages.monitoring import MonitorFeedStage, MonitoringStage
from pipeline.times import iso
from schemas.cloudevents import new_event
from schemas.models import Dienst, MonitorObservation, Sentiment, Signal
from schemas.types import INVITATION

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _at(hours: float) -> str:
    return iso(T0 + timedelta(hours=hours))


def test_invitations_are_decided_at_their_deadline() -> None:
    cell, store = new_cell(), MemoryStore()

    def outcomes(hours: float, **kw: str) -> list[bool]:
        return response_outcomes(cell, store, "paspoort|telefoon", _at(hours), 3.0, **kw)

    assert outcomes(0, invited="c1") == []
    assert outcomes(1, invited="c2") == []
    assert outcomes(2, answered="c1") == [], "decided at the deadline"
    assert outcomes(71) == []
    # c1 (answered) and c2 (not) expire in the order they were made.
    assert outcomes(73.5) == [False, True]
    assert store == {}, "decided invitations leave no state keys behind"
    # An answer after the deadline changes nothing; an unknown answer waits as "early".
    assert outcomes(74, answered="c2") == []
    assert cell["response"]["pending"]["n"] == 0 and cell["response"]["early"]["n"] == 1
    assert "c1" not in str(cell) + str(store), "only hashes of contact ids in the state"
    assert outcomes(74 + 72.5) == [] and store == {}, "an early answer expires after a window"


def test_an_answer_that_overtakes_its_invitation_still_counts() -> None:
    cell, store = new_cell(), MemoryStore()
    response_outcomes(cell, store, "x|y", _at(0), 3.0, answered="c9")  # came first
    response_outcomes(cell, store, "x|y", _at(0.1), 3.0, invited="c9")
    assert cell["response"]["early"]["n"] == 0
    assert response_outcomes(cell, store, "x|y", _at(80), 3.0) == [False]
    assert store == {}


def test_a_drop_in_answers_alarms_on_the_cell() -> None:
    rng = random.Random(5)
    config = MonitorConfig(warmup_min=200, warmup_days=2, arl0=4000)
    cell, store = new_cell(), MemoryStore()
    found = []

    def observe(obs_id: str, hours: float, **kw: str) -> list:
        return observe_cell(
            cell, obs_id, {}, _at(hours), None, config, store=store, key="p|t", **kw
        )

    for i in range(1200):
        rate = 0.2 if i < 600 else 0.02  # the response rate falls from 20% to 2%
        hours = i * 0.25
        found += [(i, f) for f in observe(f"i{i}", hours, invited=f"c{i}")]
        if rng.random() < rate:
            found += [(i, f) for f in observe(f"a{i}", hours + 2, answered=f"c{i}")]
    chart = cell["charts"][NOT_ANSWERED]
    assert chart["phase"] != "warmup"
    assert chart["design"]["p0"] < 0.85, "baseline: about 80% not answered"
    opened = [(i, f) for i, f in found if f.kind == "open" and f.metric == NOT_ANSWERED]
    assert opened, "the drop is found"
    first = opened[0][0]
    # Found after the drop: one response window later (96 invitations a day x 3 days) plus
    # the evidence the chart needs; not before the drop (seeded: no false alarm here).
    assert 600 + 96 * 3 - 10 <= first <= 600 + 96 * 3 + 250, first
    assert opened[0][1].share > chart["design"]["p0"]


def _signal(contact_id: str) -> Signal:
    return Signal(
        signal_id="s1",
        bron="response",
        klant="k",
        ontvangen_op=_at(1),
        sentiment=Sentiment("neu", 0.0, False, "m", "nld"),
        kanaal="telefoon",
        dienst=Dienst("paspoort", "Paspoort"),
        contact_id=contact_id,
    )


def test_stages_carry_invitations_and_answers_to_the_chart() -> None:
    invitation = {
        "invitationId": "i-1",
        "contactId": "contact-1",
        "klant": "k",
        "token": "t",
        "kanaal": "telefoon",
        "dienst": {"code": "paspoort", "naam": "Paspoort"},
        "team": "KCC",
        "dispatch": ["inline"],
        "createdAt": _at(0),
        "expiresAt": _at(24 * 14),
    }
    event = new_event(INVITATION.name, invitation, source="/test", key="k")
    [emitted] = MonitorFeedStage().process(INVITATION.topic, event, {})
    observation = MonitorObservation.from_dict(emitted.event.data)
    assert observation.bron == "invitation" and observation.contact_id == "contact-1"
    assert observation.uitkomsten == {}
    answer = from_signal(_signal("contact-1"))
    assert answer is not None and answer.answered == "contact-1" and answer.bad == {}
    # The monitoring stage keeps the invitation pending under keys beside its cell.
    assert INVITATION.topic in MonitorFeedStage().inputs, "the chart is on in the pipeline"
    cells = MemoryStore()
    stage = MonitoringStage(config=MonitorConfig(warmup_min=1, warmup_days=0))
    stage.process("monitor-observations", emitted.event, {"monitor_cells": cells})
    cell = cells["paspoort|telefoon"]
    assert cell["response"]["pending"]["n"] == 1
    assert sorted(cells) == [
        "paspoort|telefoon",
        "paspoort|telefoon|p|i|" + pending_key("contact-1"),
        "paspoort|telefoon|p|q|0",
    ]
    assert CONTACT_FAILED not in cell["charts"]
