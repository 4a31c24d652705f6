"""Alerting: very negative signals become follow-up alerts for caseworkers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.stages.base import Emit, State, emit
from schemas.cloudevents import CloudEvent, derived_id
from schemas.models import Alert, Signal
from schemas.types import ALERT, SIGNAL


@dataclass(frozen=True)
class AlertRules:
    max_rapportcijfer: int = 3  # a 1, 2 or 3 is a cry for attention on its own
    max_nps_with_negative_comment: int = 3
    min_ces_fraction_with_negative_comment: float = 0.2  # CES 1 on a 1..5 scale


def alert_reasons(signal: Signal, rules: AlertRules) -> list[str]:
    """The reasons, in Dutch for the caseworker, why this signal needs a callback."""
    reasons: list[str] = []
    s = signal.sentiment
    negative_comment = s.label == "neg"
    if s.very_negative:
        terms = ", ".join(s.explanation[:4])
        reasons.append("zeer negatieve opmerking" + (f" ({terms})" if terms else ""))
    if signal.rapportcijfer is not None and signal.rapportcijfer <= rules.max_rapportcijfer:
        reasons.append(f"rapportcijfer {signal.rapportcijfer}")
    if (
        negative_comment
        and signal.nps is not None
        and signal.nps <= rules.max_nps_with_negative_comment
    ):
        reasons.append(f"NPS {signal.nps} met negatieve opmerking")
    ces_fraction = signal.ces / signal.ces_schaal if signal.ces and signal.ces_schaal else None
    if (
        negative_comment
        and ces_fraction is not None
        and ces_fraction <= rules.min_ces_fraction_with_negative_comment
    ):
        reasons.append(f"CES {signal.ces} van {signal.ces_schaal} met negatieve opmerking")
    return reasons


@dataclass
class AlertingStage:
    rules: AlertRules = field(default_factory=AlertRules)
    source: str = "/klantsignaal/alerting"
    name: str = "alerting"
    inputs: tuple[str, ...] = (SIGNAL.topic,)
    outputs: tuple[str, ...] = (ALERT.topic,)
    state_names: tuple[str, ...] = ()

    def process(self, topic: str, event: CloudEvent, state: Mapping[str, State]) -> list[Emit]:
        signal = Signal.from_dict(event.data)
        # Anonymous page feedback has nobody to call back.
        if signal.bron != "response":
            return []
        reasons = alert_reasons(signal, self.rules)
        if not reasons:
            return []
        alert = Alert(
            alert_id=derived_id("alert", signal.signal_id),
            signal_id=signal.signal_id,
            klant=signal.klant,
            team=signal.team or "onbekend",
            ernst="hoog" if signal.sentiment.very_negative or len(reasons) > 1 else "middel",
            redenen=tuple(reasons),
            terugbel_toestemming=bool(signal.terugbel_toestemming),
            aangemaakt_op=signal.ontvangen_op,
            response_id=signal.response_id,
            contact_id=signal.contact_id,
            kanaal=signal.kanaal,
            dienst=signal.dienst,
            opmerking=signal.opmerking,
        )
        return [emit(ALERT, alert, source=self.source, key=signal.klant, event_id=alert.alert_id)]
