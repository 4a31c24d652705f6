"""The event types of the contract, their schema files and their home topics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str  # CloudEvents `type`
    schema_file: str  # under schemas/json/
    topic: str  # the topic such events live on


CONTACT = EventType("nl.klantsignaal.contact.v1", "contact.v1.json", "contact-events")
INVITATION = EventType("nl.klantsignaal.invitation.v1", "invitation.v1.json", "survey-invitations")
RESPONSE = EventType("nl.klantsignaal.response.v1", "response.v1.json", "survey-responses")
PAGE_FEEDBACK = EventType(
    "nl.klantsignaal.page-feedback.v1", "page-feedback.v1.json", "page-feedback"
)
SIGNAL = EventType("nl.klantsignaal.signal.v1", "signal.v1.json", "scored-signals")
ALERT = EventType("nl.klantsignaal.alert.v1", "alert.v1.json", "alerts")
SERVICE_ALERT = EventType(
    "nl.klantsignaal.service-alert.v1", "service-alert.v1.json", "service-alerts"
)
OPT_OUT = EventType("nl.klantsignaal.opt-out.v1", "opt-out.v1.json", "opt-outs")
ALERT_STATUS = EventType("nl.klantsignaal.alert-status.v1", "alert-status.v1.json", "alert-status")
DISPATCH = EventType("nl.klantsignaal.dispatch.v1", "dispatch.v1.json", "dispatch-outcomes")
# Internal: contacts and signals re-keyed by dienst|kanaal for the monitoring stage.
MONITOR_OBSERVATION = EventType(
    "nl.klantsignaal.monitor-observation.v1", "monitor-observation.v1.json", "monitor-observations"
)
# Internal: the observations of one run of records, one record per dienst|kanaal, on the
# same topic (pipeline/monitoring/batches.py); the monitoring stage reads both types.
MONITOR_OBSERVATIONS = EventType(
    "nl.klantsignaal.monitor-observations.v1",
    "monitor-observations.v1.json",
    "monitor-observations",
)

EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        CONTACT,
        INVITATION,
        RESPONSE,
        PAGE_FEEDBACK,
        SIGNAL,
        ALERT,
        SERVICE_ALERT,
        OPT_OUT,
        ALERT_STATUS,
        DISPATCH,
        MONITOR_OBSERVATION,
        MONITOR_OBSERVATIONS,
    )
}

# Types that outside systems may publish; the rest are produced by the pipeline itself.
PUBLIC_INPUT_TYPES = frozenset({CONTACT.name, RESPONSE.name, PAGE_FEEDBACK.name})


def event_type(name: str) -> EventType | None:
    return EVENT_TYPES.get(name)
