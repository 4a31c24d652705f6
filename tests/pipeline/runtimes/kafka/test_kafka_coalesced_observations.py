"""The worker coalesces the monitor's observations of a run of records (one record per
service cell, pipeline/monitoring/batches.py) and the monitoring agent takes them apart:
fewer records on `monitor-observations` than contacts, and the same service alerts as the
same contacts through the same stages one record and one observation at a time. A poison
contact in the middle of the run is dead-lettered and loses none of the others'
observations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.monitoring.pending import MemoryStore
from pipeline.processing import outputs, process_record
from pipeline.sentiment import lexicon_scorer
from pipeline.stages.base import State
from pipeline.times import iso
from pipeline.topology import Topology, build_topology
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT, MONITOR_OBSERVATION, SERVICE_ALERT
from tests.support.events import contact_event, klant
from tests.support.kafka_harness import KafkaHarness, unique_prefix
from tests.support.observations import observations

pytestmark = pytest.mark.kafka

MONITOR = {"monitor_warmup_min": 40, "monitor_warmup_days": 0, "monitor_arl0": 300}
CONTACTS = 120


def _contacts() -> list[CloudEvent]:
    """One citizen (one partition: a deterministic order per cell), one service and
    channel; a warm-up with one failed contact in seven, then every contact failing."""
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    return [
        contact_event(
            klant=klant(4242),
            plaatsgevondenOp=iso(start + timedelta(minutes=3 * i)),
            indicatieContactGelukt=i < 60 and i % 7 != 3,
        )
        for i in range(CONTACTS)
    ]


def _one_by_one(topology: Topology, contacts: list[CloudEvent]) -> list[dict[str, Any]]:
    """The stages as the worker's agent runs them (trigger, signals, monitor-feed on the
    contact, then monitor-feed on the invitation), each observation handed to monitoring
    on its own, uncoalesced: the service alerts (structured)."""
    stages = {s.name: s for s in topology.stages}
    states: dict[str, State] = {name: MemoryStore() for name in topology.state_names()}

    def run(name: str, topic: str, event: CloudEvent) -> list[CloudEvent]:
        stage = stages[name]
        mine = {n: states[n] for n in stage.state_names}
        outcome = process_record(stage, topic, event, mine, "ref", None)
        return [o.event for o in outputs(outcome, name, None) if o.event is not None]

    alerts = []
    for contact in contacts:
        invitations = run("trigger", CONTACT.topic, contact)
        run("signals", CONTACT.topic, contact)
        seen = run("monitor-feed", CONTACT.topic, contact)
        for invitation in invitations:
            seen += run("monitor-feed", "survey-invitations", invitation)
        for observation in seen:
            alerts += run("monitoring", MONITOR_OBSERVATION.topic, observation)
    return [a.to_structured() for a in alerts]


@pytest.mark.parametrize("coalesce", ["on", "off"])
def test_a_run_of_contacts_makes_fewer_observation_records_and_the_same_service_alerts(
    kafka_broker: Any, tmp_path: Path, coalesce: str
) -> None:
    """With KLANTSIGNAAL_MONITOR_COALESCE=off (a rolling upgrade from workers that do not
    know the coalesced type) every observation goes as a record of its own, and the
    service alerts are the same."""
    env = {f"KLANTSIGNAAL_{k.upper()}": str(v) for k, v in MONITOR.items()}
    env["KLANTSIGNAAL_MONITOR_COALESCE"] = coalesce
    harness = KafkaHarness(kafka_broker.bootstrap, unique_prefix("coal"), tmp_path, env=env)
    try:
        contacts = _contacts()
        poison = contact_event(klant=klant(4242))
        bad = {k: v for k, v in poison.to_structured().items() if k != "dataschema"}
        poison = CloudEvent.from_structured({**bad, "data": {**poison.data, "kanaal": 42}})
        harness.start_worker()
        harness.wait_idle(timeout=60)  # ready and recovered: no replay of the start-up
        # One transaction: fetched together, taken by the agent in runs of queued records.
        harness.publish(CONTACT.topic, [*contacts[:50], poison, *contacts[50:]])
        # Seen by a read_committed reader once the markers are written (just after the
        # publish returns): wait for the first outputs, then for idle.
        harness.records("dead-letter", min_count=3, timeout=60)
        harness.wait_idle(timeout=90)
        harness.wait_monitoring_done(timeout=90)
        settings = replace(harness.settings, **MONITOR)  # type: ignore[arg-type]
        expected = _one_by_one(build_topology(settings, lexicon_scorer()), contacts)
        assert expected, "the failing contacts must open a service alert"

        records = harness.records(MONITOR_OBSERVATION.topic, min_count=1)
        items = observations(records)
        if coalesce == "on":
            assert len(records) < CONTACTS / 4, f"coalesced: {len(records)} records"
        else:
            assert {r["type"] for r in records} == {MONITOR_OBSERVATION.name}
            assert len(records) == len(items)
        # Every observation of every good contact (and its invitation), none of the poison.
        assert len({o["observationId"] for o in items}) == CONTACTS + 1
        alerts = harness.records(SERVICE_ALERT.topic, min_count=len(expected), timeout=60)
        got = {a["id"]: a["data"] for a in alerts}
        assert got == {a["id"]: a["data"] for a in expected}
        dead = harness.records("dead-letter", min_count=3, timeout=30)
        assert {d["stage"] for d in dead} == {"trigger", "signals", "monitor-feed"}
        assert all(d["record"]["id"] == poison.id for d in dead)
    finally:
        harness.close()
