"""Bench section `alert_policy`: decisions per second of the shipped policy (score rules,
term lists, repeat contact, due date) against a baseline of only the score rules (what the
alerting stage did before the policy file), on simulated answers with their comments."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from pipeline.alertpolicy import AlertPolicy, default_policy
from pipeline.contacthistory import ContactMoment
from pipeline.times import parse_time
from producers.simulator import ContactSimulator
from schemas.models import Dienst, Response, Sentiment, Signal


def _signals(n: int, seed: int) -> list[tuple[Signal, list[ContactMoment]]]:
    sim = ContactSimulator(seed=seed)
    out: list[tuple[Signal, list[ContactMoment]]] = []
    for contact in sim.stream(n * 2):
        data = contact.data
        invitation = {"invitationId": "i-" + data["contactId"], "klant": data["klant"]}
        event = sim.response_for(data, invitation, force=True)
        if event is None:
            continue
        response = Response.from_dict(event.data)
        comment = " ".join(response.comments())
        negative = (response.nps.score if response.nps else 10) <= 6
        moment = ContactMoment(
            data["plaatsgevondenOp"],
            data["kanaal"],
            data["dienst"],
            data["team"],
            data["indicatieContactGelukt"],
        )
        signal = Signal(
            signal_id="s-" + response.response_id,
            bron="response",
            klant=response.klant,
            ontvangen_op=response.answered_at,
            sentiment=Sentiment(
                "neg" if negative else "pos", -0.5 if negative else 0.5, False, "bench", "nld"
            ),
            dienst=Dienst(**data["dienst"]),
            team=data["team"],
            ces=response.ces.score if response.ces else None,
            ces_schaal=response.ces.schaal if response.ces else None,
            nps=response.nps.score if response.nps else None,
            rapportcijfer=response.rapportcijfer.score,  # type: ignore[union-attr]
            opmerking=comment or None,
            terugbel_toestemming=response.terugbel_toestemming,
        )
        out.append((signal, [moment] * 3))
        if len(out) == n:
            break
    return out


def _rate(policy: AlertPolicy, items: list[tuple[Signal, list[ContactMoment]]]) -> dict[str, Any]:
    began = time.perf_counter()
    alerts = 0
    for signal, history in items:
        at = parse_time(signal.ontvangen_op)
        decision = policy.decide(signal, history, at)
        if decision is not None:
            policy.due(decision.severity, at)
            alerts += 1
    seconds = time.perf_counter() - began
    return {
        "signals": len(items),
        "alerts": alerts,
        "seconds": round(seconds, 4),
        "signals_per_s": round(len(items) / seconds, 1) if seconds else None,
    }


def run(n: int = 5000, seed: int = 42) -> dict[str, Any]:
    items = _signals(n, seed)
    full = default_policy()
    baseline = replace(
        full,
        term_rules=(),
        repeat_contact=replace(full.repeat_contact, same_service_min=0, channels_min=0),
    )
    _rate(full, items[:200])  # warm-up: the holiday calendars load once per year
    policy = _rate(full, items)
    scores_only = _rate(baseline, items)
    ratio = (
        round(policy["signals_per_s"] / scores_only["signals_per_s"], 3)
        if policy["signals_per_s"] and scores_only["signals_per_s"]
        else None
    )
    return {"policy": policy, "baseline_score_rules_only": scores_only, "ratio": ratio}
