"""Operations in one process: stage metrics of the embedded runtime counted exactly, log lines
as JSON with the event id and without any value from an event, web readiness on a storage
that does not answer, dispatch outcomes counted. (The same over Kafka: test_ops_kafka.py;
`klantsignaal run` from outside: test_client_install.py.)"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from pipeline.app import System, build_embedded
from pipeline.ops.health import Readiness
from pipeline.ops.logs import correlation_id, make_handler
from pipeline.ops.metrics import reason_type
from pipeline.ops.web import readiness_route
from pipeline.settings import Settings
from pipeline.topology import DEAD_LETTER
from schemas.cloudevents import CloudEvent
from schemas.types import MONITOR_OBSERVATION
from tests.consumers.test_dispatch import Rig
from tests.support.events import contact_event, klant
from tests.support.observations import observations
from tests.support.ops_helpers import PII, PII_COMMENT
from tests.support.smtp_server import SmtpServer, smtp_server  # noqa: F401


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    built = build_embedded(
        Settings(data_dir=tmp_path, api_token="t", pseudonym_key="p", link_key="l")
    )
    yield built
    built.close()


@pytest.fixture
def captured() -> Iterator[dict[str, io.StringIO]]:
    """JSON and text log lines of everything logged meanwhile, through the real handlers."""
    streams = {"json": io.StringIO(), "text": io.StringIO()}
    handlers = [make_handler(fmt, stream) for fmt, stream in streams.items()]
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.INFO)
    for handler in handlers:
        root.addHandler(handler)
    yield streams
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(old_level)


def _invalid_contact() -> CloudEvent:
    event = contact_event(klant=klant(7))
    data = {**event.data, "bsn": PII["bsn"], "kanaal": PII["email"], "onderwerp": PII_COMMENT}
    return CloudEvent(**{**event.__dict__, "data": data})


def _count(log: Any, topic: str) -> int:
    """Records on a topic; on monitor-observations the observations (a coalesced record
    holds several, and the stage metrics count each)."""
    found = log.records(topic)
    return len(observations(found)) if topic == MONITOR_OBSERVATION.topic else len(found)


def test_stage_metrics_count_exactly_what_the_embedded_runtime_did(system: System) -> None:
    runtime = system.runtime
    assert runtime is not None
    stages = {s.name: s for s in runtime.topology.stages}
    before = {
        (s, t): sample("klantsignaal_stage_records_in_total", stage=s, topic=t)
        for s, stage in stages.items()
        for t in stage.inputs
    }
    timed_before = {
        s: sample("klantsignaal_stage_processing_seconds_count", stage=s) for s in stages
    }
    out_before = Counter()
    for s, stage in stages.items():
        for t in stage.outputs:
            out_before[t] += sample("klantsignaal_stage_records_out_total", stage=s, topic=t)
    kinds = ("schema", "undecodable", "rejected")
    dl_before = {
        (s, k): sample("klantsignaal_dead_letters_total", stage=s, reason=k)
        for s in stages
        for k in kinds
    }

    runtime.publish("contact-events", [contact_event(klant=klant(n)) for n in range(5)])
    runtime.publish("contact-events", [_invalid_contact(), _invalid_contact()])
    runtime.run_until_idle()

    log = runtime.log
    for (s, t), n in before.items():
        got = sample("klantsignaal_stage_records_in_total", stage=s, topic=t) - n
        assert got == _count(log, t), (s, t)
    for s, stage in stages.items():
        timed = sample("klantsignaal_stage_processing_seconds_count", stage=s) - timed_before[s]
        assert timed == sum(_count(log, t) for t in stage.inputs), s
    for t in out_before:
        got = sum(
            sample("klantsignaal_stage_records_out_total", stage=s, topic=t)
            for s, stage in stages.items()
            if t in stage.outputs
        )
        assert got - out_before[t] == _count(log, t), t
    letters = Counter((d["stage"], reason_type(d["reason"])) for d in log.records(DEAD_LETTER))
    for key, n in dl_before.items():
        assert (
            sample("klantsignaal_dead_letters_total", stage=key[0], reason=key[1]) - n
            == letters[key]
        )
    assert letters[("trigger", "schema")] == 2


def test_logs_carry_the_event_id_and_never_a_value(
    system: System, captured: dict[str, io.StringIO]
) -> None:
    runtime = system.runtime
    assert runtime is not None
    bad = _invalid_contact()
    runtime.publish("contact-events", [bad])
    runtime.run_until_idle()
    try:
        raise ValueError(f"kapot bij {PII['email']} ({PII['bsn']})")
    except ValueError:
        logging.getLogger("test").exception("an exception quoting values")
    logging.getLogger("test").warning("een adres in de tekst: %s", PII["street"])

    lines = [json.loads(line) for line in captured["json"].getvalue().splitlines()]
    dead = [e for e in lines if e["message"].startswith("dead-letter from")]
    assert dead and {e["correlation_id"] for e in dead} == {bad.id}
    assert correlation_id.get() is None  # ended with the record's outputs
    [failure] = [e for e in lines if e["message"] == "an exception quoting values"]
    assert "ValueError" in failure["exception"] and "correlation_id" not in failure
    text = captured["text"].getvalue()
    assert f"[event {bad.id}]" in text
    for stream in captured.values():
        for kind, secret in PII.items():
            assert secret not in stream.getvalue(), kind
        assert PII_COMMENT[:25] not in stream.getvalue()


def _ready_app(engine: object) -> TestClient:
    warehouse = type("W", (), {"engine": engine})()
    route = readiness_route(warehouse, Readiness())
    return TestClient(Starlette(routes=[Route("/readyz", route)]))


def test_web_readiness_is_503_while_the_storage_does_not_answer(tmp_path: Path) -> None:
    # Nothing listens on port 1: a real driver's connection is refused.
    down = create_engine("postgresql+psycopg://klantsignaal@127.0.0.1:1/klantsignaal")
    answer = _ready_app(down).get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "not ready", "parts": {"warehouse": False}}
    up = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    assert _ready_app(up).get("/readyz").status_code == 200


def test_dispatch_outcomes_are_counted(tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    rig = Rig(tmp_path, smtp_server)
    before = {
        o: sample("klantsignaal_dispatch_outcomes_total", route="email", outcome=o)
        for o in ("retry", "delivered", "failed")
    }
    smtp_server.recorder.temporary["later@example.nl"] = 1
    smtp_server.recorder.reject["weg@example.nl"] = "550 5.1.1 Onbekende gebruiker"
    rig.invite("later@example.nl", klant=klant(81))
    rig.invite("weg@example.nl", klant=klant(82))
    for _ in range(3):
        rig.dispatcher.step()
        rig.clock.advance(seconds=61)
    published = Counter(e.data["uitkomst"] for e in rig.events.published)
    assert published == {"delivered": 1, "failed": 1}
    got = {
        o: sample("klantsignaal_dispatch_outcomes_total", route="email", outcome=o) - n
        for o, n in before.items()
    }
    assert got == {"retry": 1, "delivered": 1, "failed": 1}
