"""What an action in the inbox does to an alert: open → in-behandeling → afgehandeld.

Plain rules, free of HTTP and storage; the inbox applies them and publishes the result
as an `nl.klantsignaal.alert-status.v1` event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

STATUSES = ("open", "in-behandeling", "afgehandeld")
OUTCOMES = {"bereikt": "bereikt", "niet-bereikt": "niet bereikt", "voicemail": "voicemail"}
CATEGORIES = (
    "opgelost",
    "uitleg gegeven",
    "doorverwezen",
    "klacht ingediend",
    "niet bereikbaar",
    "geen actie nodig",
)
ACTIONS_NL = {
    "claim": "pakte het signaal op",
    "toewijzen": "wees het signaal toe",
    "terugbelpoging": "belde terug",
    "afhandelen": "handelde het signaal af",
    "heropenen": "heropende het signaal",
    "sentiment-correctie": "corrigeerde het sentiment",
}


class ActionRefused(ValueError):
    """The action does not fit the alert's current status; the message is Dutch, for staff."""


@dataclass(frozen=True)
class AlertState:
    status: str = "open"
    toegewezen_aan: str | None = None


@dataclass(frozen=True)
class Action:
    handeling: str
    door: str
    toegewezen_aan: str | None = None
    uitkomst: str | None = None
    categorie: str | None = None


def apply(state: AlertState, action: Action) -> AlertState:
    """The state after the action, or ActionRefused with the reason."""
    h = action.handeling
    if h == "heropenen":
        if state.status != "afgehandeld":
            raise ActionRefused("Alleen een afgehandeld signaal kan heropend worden.")
        return AlertState("open", None)
    if h not in ("claim", "toewijzen", "terugbelpoging", "afhandelen"):
        raise ActionRefused("Onbekende handeling.")
    if state.status == "afgehandeld":
        raise ActionRefused("Dit signaal is al afgehandeld. Heropen het eerst.")
    if h == "claim":
        return AlertState("in-behandeling", action.door)
    if h == "toewijzen":
        if not action.toegewezen_aan:
            raise ActionRefused("Kies aan wie u het signaal toewijst.")
        return AlertState("in-behandeling", action.toegewezen_aan)
    if h == "terugbelpoging":
        if action.uitkomst not in OUTCOMES:
            raise ActionRefused("Kies of u de inwoner heeft bereikt.")
        return replace(
            state, status="in-behandeling", toegewezen_aan=state.toegewezen_aan or action.door
        )
    if action.categorie not in CATEGORIES:
        raise ActionRefused("Kies hoe het signaal is afgehandeld.")
    return replace(state, status="afgehandeld")
