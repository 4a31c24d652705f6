"""Monitoring: control charts per (dienst, kanaal) that warn when a service goes wrong.

Two stages, because the inputs are partitioned by klant and a chart needs every outcome
of its service and channel in one place:

- `monitor-feed` (stateless, reads contacts, scored signals and invitations keyed by
  klant) turns each into a `monitor-observation` keyed by ``dienst|kanaal`` — a re-keying
  step. On Kafka
  that record lands on the partition of its cell, on the embedded log it is just the next
  record.
- `monitoring` reads those observations; its state `monitor_cells` is keyed by the same
  ``dienst|kanaal``, so it is co-partitioned with its input on Kafka exactly as the klant
  state is with the klant topics, and one worker owns each cell's charts.

A chart crossing its limit emits `nl.klantsignaal.service-alert.v1` (status open), and a
recovery emits one with status hersteld. Times are the events' own, so a replay gives the
same alerts with the same ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.identity import contact_key
from pipeline.monitoring.batches import observations_of
from pipeline.monitoring.cell import already_seen, examples, new_cell, observe_cell
from pipeline.monitoring.charts import Finding, MonitorConfig
from pipeline.monitoring.dedup import load_window, position_of, save_window, upgrade, window_key
from pipeline.monitoring.outcomes import (
    METRICS,
    Outcomes,
    cell_key,
    from_contact,
    from_invitation,
    from_signal,
)
from pipeline.settings import Settings
from pipeline.stages.base import Emit, Rejected, State, emit
from schemas.cloudevents import CloudEvent, derived_id, new_event
from schemas.models import (
    Bewijs,
    Contact,
    Dienst,
    Invitation,
    ServiceAlert,
    Signal,
    parsed,
)
from schemas.types import (
    CONTACT,
    INVITATION,
    MONITOR_OBSERVATION,
    MONITOR_OBSERVATIONS,
    SERVICE_ALERT,
    SIGNAL,
)


def monitor_config(settings: Settings) -> MonitorConfig:
    baselines: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in settings.monitor_baselines.split(","))):
        metric, _, value = part.partition("=")
        if metric.strip() not in METRICS:
            raise ValueError(f"KLANTSIGNAAL_MONITOR_BASELINES: unknown metric {metric!r}")
        baselines[metric.strip()] = float(value)
    return MonitorConfig(
        warmup_min=settings.monitor_warmup_min,
        warmup_days=settings.monitor_warmup_days,
        odds_ratio=settings.monitor_odds_ratio,
        false_alarms_per_30d=settings.monitor_false_alarms_per_30d,
        charts_per_service=settings.monitor_charts_per_service,
        arl0=settings.monitor_arl0,
        baselines=baselines,
        response_days=settings.monitor_response_days,
    )


def feed_inputs(response_chart: bool = True) -> tuple[str, ...]:
    """What monitor-feed reads: invitations only for the response-rate chart."""
    base = (CONTACT.topic, SIGNAL.topic)
    return (*base, INVITATION.topic) if response_chart else base


@dataclass
class MonitorFeedStage:
    source: str = "/klantsignaal/monitor-feed"
    name: str = "monitor-feed"
    # Invitations feed the response-rate chart (pipeline/monitoring/response.py).
    inputs: tuple[str, ...] = field(default_factory=feed_inputs)
    outputs: tuple[str, ...] = (MONITOR_OBSERVATION.topic,)
    state_names: tuple[str, ...] = ()
    # False on Kafka with crypto-shredding (docs/privacy.md): an observation is keyed by its
    # cell, not by the citizen, so it could not be shredded with the citizen's key; it then
    # carries no comment (no example comments in service alerts) and no cause id.
    keep_links: bool = True

    def _contact_ref(self, event: CloudEvent, contact_id: str | None) -> str | None:
        """The contactId pairing an invitation with its answer (response rate); without
        links an opaque reference that pairs the same way but names no contact."""
        if contact_id is None or self.keep_links:
            return contact_id
        return contact_key(str(event.data.get("klant", "")), contact_id)

    def process(self, topic: str, event: CloudEvent, state: Mapping[str, State]) -> list[Emit]:
        if event.type == CONTACT.name:
            outcomes: Outcomes | None = from_contact(parsed(Contact, event.data))
            bron = "contact"
        elif event.type == SIGNAL.name:
            signal = parsed(Signal, event.data)  # once for alerting and monitor-feed
            outcomes, bron = from_signal(signal), signal.bron
        elif event.type == INVITATION.name:
            outcomes, bron = from_invitation(Invitation.from_dict(event.data)), "invitation"
        else:
            raise Rejected(f"onverwacht type {event.type} op {topic}")
        if outcomes is None:
            return []
        # A revised response is a new signal event with the same signalId: one observation.
        cause = event.data.get("signalId", event.id) if event.type == SIGNAL.name else event.id
        observation_id = derived_id("monitor-observation", cause)
        data = observation_data(
            observation_id=observation_id,
            bron=bron,
            cause=event.id if self.keep_links else observation_id,
            outcomes=outcomes,
            comment=outcomes.comment if self.keep_links else None,
            contact_ref=self._contact_ref(event, outcomes.invited or outcomes.answered),
        )
        # The event straight from its wire form: one observation per contact, invitation
        # and answer, and most of them end up as an item of a coalesced record.
        observed = new_event(
            MONITOR_OBSERVATION.name,
            data,
            source=self.source,
            key=outcomes.cell,
            event_id=observation_id,
        )
        return [Emit(MONITOR_OBSERVATION.topic, observed)]


def observation_data(
    *,
    observation_id: str,
    bron: str,
    cause: str,
    outcomes: Outcomes,
    comment: str | None,
    contact_ref: str | None,
) -> dict[str, Any]:
    """The wire form of a MonitorObservation (`MonitorObservation(...).to_dict()`: the
    fields in their order, a None left out), built as a dict without the model and its
    field walk (tests/pipeline/monitoring/test_monitoring_feed_wire.py compares the two).
    Only the optional comment and contact reference can be None; `outcomes.dienst` is a
    plain Dienst (from_contact, from_invitation, from_signal), written as its two fields."""
    dienst = outcomes.dienst
    data: dict[str, Any] = {
        "observationId": observation_id,
        "bron": bron,
        "oorzaakId": cause,
        "dienst": {"code": dienst.code, "naam": dienst.naam},
        "kanaal": outcomes.kanaal,
        "waargenomenOp": outcomes.at,
        "uitkomsten": dict(outcomes.bad),
    }
    if comment is not None:
        data["opmerking"] = comment
    if contact_ref is not None:
        data["contactId"] = contact_ref
    return data


def service_alert(
    dienst: Dienst, kanaal: str, found: Finding, evidence: tuple[str, ...]
) -> ServiceAlert:
    cell = cell_key(dienst.code, kanaal)
    opened = derived_id("service-alert", cell, found.metric, str(found.episode), "open")
    d = found.design
    return ServiceAlert(
        service_alert_id=opened
        if found.kind == "open"
        else derived_id("service-alert", cell, found.metric, str(found.episode), "hersteld"),
        dienst=dienst,
        kanaal=kanaal,
        metriek=found.metric,
        status=found.kind,
        herstel_van=opened if found.kind == "hersteld" else None,
        waarde=round(found.share, 4),
        drempel=found.threshold_share,
        venster=f"{found.window_start}/{found.window_end}",
        aantal=found.n,
        aangemaakt_op=found.window_end,
        bewijs=Bewijs(
            basislijn=round(d.p0, 4),
            ontwerpverschuiving=round(d.p1, 4),
            huidige_waarde=round(found.share, 4),
            limiet=round(d.limit / d.scale, 4),
            statistiek=found.statistic,
            arl0=round(d.arl0, 1),
            venster_start=found.window_start,
            venster_einde=found.window_end,
            aantal=found.n,
            aantal_slecht=found.bad,
            voorbeeld_opmerkingen=evidence if found.kind == "open" else (),
        ),
    )


@dataclass
class MonitoringStage:
    config: MonitorConfig = field(default_factory=MonitorConfig)
    source: str = "/klantsignaal/monitoring"
    name: str = "monitoring"
    inputs: tuple[str, ...] = (MONITOR_OBSERVATION.topic,)
    outputs: tuple[str, ...] = (SERVICE_ALERT.topic,)
    state_names: tuple[str, ...] = ("monitor_cells",)
    # The response-rate chart; its open invitations live under keys of their own in
    # monitor_cells ("<cell>|p|...", pipeline/monitoring/pending.py), beside the cell.
    response_chart: bool = True
    # What it puts in monitor_cells (cells, dedup windows, queue chunks) are its own dicts
    # and lists of JSON types, neither kept nor shared after the put: the embedded state
    # may hand them back to the next observation without reading JSON (SQLiteState).
    handed_over_states: tuple[str, ...] = ("monitor_cells",)

    def keys_beside(self, key: str, log: str) -> tuple[str, ...]:
        """Keys read with a record of cell `key` from `log`: its window (for the embedded
        runtime's prefetch, one query per batch instead of one per window)."""
        return (window_key(key, log),)

    def process(self, topic: str, event: CloudEvent, state: Mapping[str, State]) -> list[Emit]:
        """One observation, or a coalesced record's observations in order, each counted
        once (`already_seen`). The runtimes hand a coalesced record's items over one by one
        (`pipeline.processing.record_items`), so each is also dead-lettered on its own."""
        if event.type == MONITOR_OBSERVATIONS.name:
            found = observations_of(event)
            if isinstance(found, str):
                raise Rejected(found)
            out: list[Emit] = []
            for item in found:
                if isinstance(item, str):
                    raise Rejected(item)
                out += self._observe(item.data, state)
            return out
        return self._observe(event.data, state)

    def _observe(self, obs: Mapping[str, Any], state: Mapping[str, State]) -> list[Emit]:
        """One observation, read from its wire form (data valid against its schema, which
        the runtimes check or trust by its stamp before a stage sees it): the fields a
        MonitorObservation would hold, without building one per observation; the Dienst
        model only for a service alert."""
        observation_id = obs["observationId"]
        dienst, kanaal = obs["dienst"], obs["kanaal"]
        key = cell_key(dienst["code"], kanaal)
        cells = state["monitor_cells"]
        cell = cells.get(key) or new_cell()
        upgraded = upgrade(cell, cells, key)  # a cell of the previous layout (dedup.py)
        at = position_of(obs.get("bronpositie"))  # where it came from (dedup.py), None on old
        window = load_window(cells, key, at)  # its log's window in this cell
        if already_seen(cell, observation_id, at, window):
            if upgraded:
                cells.put(key, cell)
            return []  # a replayed observation must not count twice
        on = self.response_chart
        bron, contact_id = obs["bron"], obs.get("contactId")
        invited = contact_id if on and bron == "invitation" else None
        answered = contact_id if on and bron == "response" else None
        found = observe_cell(
            cell,
            observation_id,
            obs["uitkomsten"],
            obs["waargenomenOp"],
            obs.get("opmerking"),
            self.config,
            invited=invited,
            answered=answered,
            store=cells if on else None,
            key=key,
            position=at,
            window=window,
        )
        cells.put(key, cell)
        if at is not None:
            save_window(cells, key, at, window)
        if not found:
            return []
        service = Dienst.from_dict(dienst)  # the model only for a service alert
        out = []
        for finding in found:
            alert = service_alert(service, kanaal, finding, examples(cell, finding.metric))
            out.append(
                emit(
                    SERVICE_ALERT,
                    alert,
                    source=self.source,
                    key=key,
                    event_id=alert.service_alert_id,
                )
            )
        return out
