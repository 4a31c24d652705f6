"""Alerting: very negative signals become follow-up alerts for caseworkers.

What counts, how severe, the Dutch reasons and the due date come from the alert policy
(pipeline/alertpolicy.py, a TOML file). Stateless: the klant's recent contacts travel on
the signal (`contacthistorie`, kept by the join stage).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.alertpolicy import AlertPolicy, default_policy
from pipeline.contacthistory import ContactMoment
from pipeline.stages.base import Emit, State, emit
from pipeline.times import iso, parse_time
from schemas.cloudevents import CloudEvent, derived_id
from schemas.models import Alert, Signal, parsed
from schemas.types import ALERT, SIGNAL


def alert_reasons(signal: Signal, policy: AlertPolicy) -> list[str]:
    """The reasons, in Dutch for the caseworker, why this signal needs follow-up."""
    decision = policy.decide(signal, _history(signal), parse_time(signal.ontvangen_op))
    return list(decision.reasons) if decision else []


def _history(signal: Signal) -> list[ContactMoment]:
    return [ContactMoment.from_dict(raw) for raw in signal.contacthistorie or ()]


def alert_for(signal: Signal, policy: AlertPolicy) -> Alert | None:
    """One alert per response (its id derives from the signal), or None."""
    created = parse_time(signal.ontvangen_op)
    history = _history(signal)
    decision = policy.decide(signal, history, created)
    if decision is None:
        return None
    consent = bool(signal.terugbel_toestemming)
    return Alert(
        alert_id=derived_id("alert", signal.signal_id),
        signal_id=signal.signal_id,
        klant=signal.klant,
        team=signal.team or "onbekend",
        ernst=decision.severity,
        redenen=decision.reasons,
        terugbel_toestemming=consent,
        aangemaakt_op=signal.ontvangen_op,
        response_id=signal.response_id,
        contact_id=signal.contact_id,
        kanaal=signal.kanaal,
        dienst=signal.dienst,
        opmerking=signal.opmerking,
        # No consent: a signal for the team to learn from, never a callback.
        soort="terugbellen" if consent else "procesverbetering",
        uiterlijk_op=iso(policy.due(decision.severity, created)),
        contacthistorie=tuple(m.to_dict() for m in history) or None,
    )


@dataclass
class AlertingStage:
    policy: AlertPolicy = field(default_factory=default_policy)
    source: str = "/klantsignaal/alerting"
    name: str = "alerting"
    inputs: tuple[str, ...] = (SIGNAL.topic,)
    outputs: tuple[str, ...] = (ALERT.topic,)
    state_names: tuple[str, ...] = ()

    def process(self, topic: str, event: CloudEvent, state: Mapping[str, State]) -> list[Emit]:
        signal = parsed(Signal, event.data)  # once for alerting and monitor-feed
        # Anonymous page feedback has nobody to call back.
        if signal.bron != "response":
            return []
        alert = alert_for(signal, self.policy)
        if alert is None:
            return []
        return [emit(ALERT, alert, source=self.source, key=signal.klant, event_id=alert.alert_id)]
