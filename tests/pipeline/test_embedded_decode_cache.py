"""The events a stage appends go into the runtime's decode cache: the stages and sinks after
it get that event instead of decoding its JSON, so it must be exactly what decoding gives
(same types, not only equal values: a tuple would equal nothing a decode makes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pipeline.runtimes.embedded as embedded
from consumers.warehouse import Warehouse, WarehouseSink
from pipeline.bench_kafka import stamped
from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog, _decode
from pipeline.sentiment import lexicon_scorer
from pipeline.settings import Settings
from pipeline.topology import TOPICS, build_topology
from producers.simulator import ContactSimulator
from schemas.cloudevents import CloudEvent
from schemas.types import ALERT, CONTACT, INVITATION, MONITOR_OBSERVATION, RESPONSE, SIGNAL


def _shape(value: Any) -> Any:
    """Value and type at every level (True == 1 and (1,) != [1] are told apart)."""
    if isinstance(value, dict):
        return ("dict", [(type(k).__name__, k, _shape(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_shape(v) for v in value])
    return (type(value).__name__, value)


def test_appended_events_are_what_decoding_their_json_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path, link_key="k", pseudonym_key="p")
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    runtime = EmbeddedRuntime(
        EventLog(tmp_path / "log.db"),
        build_topology(settings, lexicon_scorer()),
        sinks=[WarehouseSink(warehouse, TOPICS)],
        batch_size=50,
        sink_batch_size=10_000,
        max_hold_s=60.0,  # each publish handled in one pass: everything derived is cached
    )
    decodes: list[str] = []
    monkeypatch.setattr(embedded, "_decode", lambda v: decodes.append(v) or _decode(v))
    cached: list[tuple[str, CloudEvent]] = []
    remember = runtime._remember_appended

    def capture(conn: Any, appends: Any, made: Any) -> None:
        remember(conn, appends, made)
        cached.extend(
            (value, event) for (_, _, value), event in zip(appends, made, strict=True) if event
        )

    runtime._remember_appended = capture  # type: ignore[method-assign]
    sim = ContactSimulator(seed=7, pseudonym_key=settings.pseudonym_key)
    runtime.publish(CONTACT.topic, [stamped(c) for c in sim.contacts(300)])
    runtime.run_until_idle()
    invitations = runtime.log.records(INVITATION.topic)
    responses = [stamped(r) for inv in invitations for r in sim.responses_for(inv["data"])]
    runtime.publish(RESPONSE.topic, responses)
    runtime.run_until_idle()
    # Only what was published is decoded (once a pass); what the stages made is not.
    assert len(decodes) == 300 + len(responses)

    types = {event.type for _, event in cached}
    for wanted in (INVITATION, SIGNAL, MONITOR_OBSERVATION):
        assert wanted.name in types
    assert len(cached) == sum(
        len(runtime.log.records(t.topic)) for t in (INVITATION, SIGNAL, ALERT, MONITOR_OBSERVATION)
    )
    for value, event in cached:
        decoded = _decode(value)
        assert isinstance(decoded, CloudEvent)
        assert _shape(decoded.to_structured()) == _shape(event.to_structured()), event.type
    assert warehouse.count("signals") == len(runtime.log.records(SIGNAL.topic)) > 0
