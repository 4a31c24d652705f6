"""Operations of the Kafka runtime on the real broker: `klantsignaal worker` and `klantsignaal
sink` with the commands of docker-compose.yml (JSON logs, the ops listener), their /readyz
going from 503 to 200, /metrics counting exactly what flowed, consumer lag back to zero, and
logs that carry the event id and never a value from an event."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from consumers.warehouse import WarehouseSink
from pipeline.ops.metrics import reason_type
from pipeline.runtimes.kafka.sinks import sink_group, sink_topics
from pipeline.runtimes.kafka.topics import app_id
from pipeline.runtimes.kafka.worker import READY_MARKER
from pipeline.sentiment import lexicon_scorer
from pipeline.topology import DEAD_LETTER, TOPICS, build_topology
from schemas.cloudevents import CloudEvent
from schemas.types import MONITOR_OBSERVATION
from tests.infra._proc import terminate
from tests.support.events import contact_event, klant, response_event
from tests.support.kafka_harness import KafkaHarness, unique_prefix
from tests.support.live_server import free_port
from tests.support.observations import observations
from tests.support.ops_helpers import (
    PII,
    PII_COMMENT,
    assert_no_pii,
    compose_args,
    json_lines,
    kafka_env,
    metrics,
    run_compose_healthcheck,
    series,
    spawn,
    status,
    value,
    watch_readiness,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CONTACTS = 12
GARBAGE = 2  # records that are no CloudEvent at all
INVALID = 3  # CloudEvents whose data breaks the schema (and carry a BSN and an e-mail)


@dataclass
class OpsStack:
    harness: KafkaHarness
    worker_port: int
    sink_port: int
    worker_log: Path
    sink_log: Path
    readiness: dict[str, list[int | None]]
    healthy_before_ready: dict[str, bool]


@pytest.fixture(scope="module")
def stack(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsStack]:
    workdir = tmp_path_factory.mktemp("ops-kafka")
    harness = KafkaHarness(kafka_broker.bootstrap, unique_prefix("ops"), workdir)
    harness.settings.data_dir.mkdir(parents=True, exist_ok=True)  # the sink's SQLite warehouse
    ports = {"worker": free_port(), "sink": free_port()}
    logs = {name: workdir / f"{name}.log" for name in ports}
    procs = {}
    try:
        for name, port in ports.items():
            env = kafka_env(harness.settings, KLANTSIGNAAL_OPS_PORT=str(port))
            procs[name] = spawn(compose_args(name), env, logs[name])
        readiness = watch_readiness(
            {name: (procs[name], port, logs[name]) for name, port in ports.items()}
        )
        healthy = {name: status(port, "/healthz") == 200 for name, port in ports.items()}
        yield OpsStack(
            harness,
            ports["worker"],
            ports["sink"],
            logs["worker"],
            logs["sink"],
            readiness,
            healthy,
        )
    finally:
        for proc in procs.values():
            terminate(proc, 20)
        harness.close()


def test_readiness_goes_from_503_to_200_and_health_answers(stack: OpsStack) -> None:
    for name in ("worker", "sink"):
        answers = [a for a in stack.readiness[name] if a is not None]
        assert answers[0] == 503, f"{name} /readyz answered {stack.readiness[name]}"
        assert answers[-1] == 200
        assert stack.healthy_before_ready[name]
    # The worker is ready only once the runtime says so (partitions assigned, resumed).
    assert READY_MARKER in stack.worker_log.read_text()
    assert status(stack.worker_port, "/healthz") == 200
    assert status(stack.sink_port, "/nothing-here") == 404
    # docker-compose.yml's own health checks pass against these processes.
    assert run_compose_healthcheck("worker", stack.worker_port) == 0
    assert run_compose_healthcheck("sink", stack.sink_port) == 0


def _publish(harness: KafkaHarness) -> tuple[list[CloudEvent], list[CloudEvent]]:
    contacts = [contact_event(klant=klant(n)) for n in range(CONTACTS)]
    harness.publish("contact-events", contacts)
    for n in range(GARBAGE):
        harness.publish_raw("contact-events", f"no event {n}".encode(), key=b"k")
    invalid = []
    for _ in range(INVALID):
        event = contact_event(klant=klant(99))
        data = {**event.data, "bsn": PII["bsn"], "kanaal": PII["email"]}
        invalid.append(CloudEvent(**{**event.__dict__, "data": data}))
    harness.publish("contact-events", invalid)
    invitations = harness.records("survey-invitations", min_count=CONTACTS, timeout=60)
    comment = {"score": 1, "opmerking": PII_COMMENT}
    responses = [
        response_event(i["data"], ces={"score": 1, "schaal": 5}, nps=comment)
        for i in invitations[:CONTACTS]
    ]
    harness.publish("survey-responses", responses)
    harness.records("scored-signals", min_count=len(responses), timeout=60)
    harness.wait_idle(60)
    return invalid, responses


@pytest.fixture(scope="module")
def flowed(stack: OpsStack) -> tuple[list[CloudEvent], list[CloudEvent]]:
    """The records of these tests, published once (after the readiness test saw the start)."""
    return _publish(stack.harness)


def _on_topics(harness: KafkaHarness) -> dict[str, list[dict[str, Any]]]:
    return {t: harness.records(t, min_count=0, timeout=5) for t in TOPICS}


def _wait_for(port: int, done: Any, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        samples = metrics(port)
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


def test_metrics_count_exactly_what_flowed(stack: OpsStack, flowed: Any) -> None:
    harness = stack.harness
    invalid, responses = flowed
    on = _on_topics(harness)
    # On monitor-observations the stage metrics count observations (a coalesced record
    # holds several); elsewhere records.
    units = {t: len(r) for t, r in on.items()}
    units[MONITOR_OBSERVATION.topic] = len(observations(on[MONITOR_OBSERVATION.topic]))
    worker_group = app_id(harness.settings)

    def worker_caught_up(s: dict) -> bool:
        lags = {k: v for k, v in series(s, "klantsignaal_consumer_lag").items()}
        mine = [v for k, v in lags.items() if ("group", worker_group) in k]
        return bool(mine) and not any(mine)

    samples = _wait_for(stack.worker_port, worker_caught_up)
    lag = series(samples, "klantsignaal_consumer_lag")
    assert worker_caught_up(samples), f"worker group lag: {lag}"
    topology = build_topology(harness.settings, lexicon_scorer())
    for stage in topology.stages:
        taken = 0
        for topic in stage.inputs:
            got = value(
                samples, "klantsignaal_stage_records_in_total", stage=stage.name, topic=topic
            )
            assert got == units[topic], (stage.name, topic, got, units[topic])
            taken += units[topic]
        timed = value(samples, "klantsignaal_stage_processing_seconds_count", stage=stage.name)
        assert timed == taken, stage.name
    emitted = Counter()
    for labels, n in series(samples, "klantsignaal_stage_records_out_total").items():
        emitted[dict(labels)["topic"]] += int(n)
    for topic in {t for stage in topology.stages for t in stage.outputs}:
        assert emitted[topic] == units[topic], (topic, emitted[topic], units[topic])
    letters = Counter((d["stage"], reason_type(d["reason"])) for d in on[DEAD_LETTER])
    counted = {
        (dict(k)["stage"], dict(k)["reason"]): int(v)
        for k, v in series(samples, "klantsignaal_dead_letters_total").items()
    }
    assert counted == dict(letters)
    # Independently of the classifier: each bad record once per stage reading contacts.
    readers = [s.name for s in topology.stages if "contact-events" in s.inputs]
    for stage in readers:
        assert counted[(stage, "undecodable")] == GARBAGE
        assert counted[(stage, "schema")] == INVALID
    assert len(on["scored-signals"]) == len(responses)


def test_sink_counts_what_it_stored_and_its_lag_returns_to_zero(
    stack: OpsStack, flowed: Any
) -> None:
    on = _on_topics(stack.harness)
    # The topics it reads: those it has rows for (not monitor-observations).
    read = set(sink_topics(WarehouseSink(None, TOPICS)))  # type: ignore[arg-type]
    expected = {
        t: len([r for r in records if "undecodable" not in r])
        for t, records in on.items()
        if t in read
    }
    group = sink_group(stack.harness.settings, _warehouse_sink())

    def stored(s: dict) -> dict[str, int]:
        got = series(s, "klantsignaal_sink_records_total")
        return {dict(k)["topic"]: int(v) for k, v in got.items() if ("sink", "warehouse") in k}

    def caught_up(s: dict) -> bool:
        lags = [
            v for k, v in series(s, "klantsignaal_consumer_lag").items() if ("group", group) in k
        ]
        return (
            stored(s) == {t: n for t, n in expected.items() if n} and bool(lags) and not any(lags)
        )

    samples = _wait_for(stack.sink_port, caught_up)
    assert stored(samples) == {t: n for t, n in expected.items() if n}
    lags = {
        k: v
        for k, v in series(samples, "klantsignaal_consumer_lag").items()
        if ("group", group) in k
    }
    assert lags and not any(lags.values()), lags


def _warehouse_sink() -> Any:
    class Named:
        name = "warehouse"

    return Named()


def test_logs_are_json_with_the_event_id_and_never_a_value(stack: OpsStack, flowed: Any) -> None:
    invalid, _ = flowed
    for log in (stack.worker_log, stack.sink_log):
        json_lines(log)  # every line one JSON object
        assert_no_pii(log, extra=(PII_COMMENT[:30],))
    entries = json_lines(stack.worker_log)
    dead = [e for e in entries if e["message"].startswith("dead-letter from")]
    # Each invalid contact is dead-lettered by 3 stages, each line naming that event.
    invalid_ids = {e.get("correlation_id") for e in dead if "/data" in e["message"]}
    assert invalid_ids == {e.id for e in invalid}
    garbage = [e for e in dead if "ce_" in e["message"]]
    assert garbage and all("correlation_id" not in e for e in garbage)  # no id to name
    assert any(READY_MARKER in e["message"] for e in entries)
