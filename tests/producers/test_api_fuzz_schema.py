"""Fuzzing POST /v1/events with events GENERATED from the schemas in the OpenAPI document
(/openapi.json; tests/support/schema_strategy.py): for every public event type, the CloudEvents
envelope with that type's `data` schema. Fixed budget (derandomized, a bounded number of
examples, ~20 s in CI): no 5xx, no request over the time bound, and all or nothing: a
refused request stores nothing, an accepted one exactly the events it acknowledged."""

from __future__ import annotations

import copy
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.openapi import openapi_document
from tests.support.live_server import LiveServer, live_server
from tests.support.schema_strategy import from_schema

# Measured bound for one request; see docs/privacy.md (fuzzing).
TIME_BOUND = 1.0
INPUT_TOPICS = ("contact-events", "survey-responses", "page-feedback")
SEEN: Counter[int] = Counter()  # status codes of the generated requests


def _without_meta(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id", "title")}


def _resolve(pointer: str, root: dict[str, Any]) -> Any:
    node: Any = root
    for part in pointer.strip("/").split("/"):
        node = node[part]
    return node


def _inline(node: Any, root: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """The schema with its $refs replaced by what they point to (the document's own
    components and a schema's own $defs), as hypothesis-jsonschema fetches nothing."""
    if isinstance(node, list):
        return [_inline(n, root, schemas) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target, _, pointer = node["$ref"].partition("#")
        base = schemas[target.removesuffix(".json")] if target else root
        return _inline(_resolve(pointer, base), base, schemas)
    return {k: _inline(v, root, schemas) for k, v in node.items() if k != "$defs"}


def _event_schemas(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One schema per public event type: the envelope with that type's data schema."""
    schemas = document["components"]["schemas"]
    envelope = _without_meta(schemas["cloudevent"])
    types = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    public = types["application/cloudevents+json"]["schema"]["properties"]["type"]["enum"]
    out = []
    for name in public:
        key = next(k for k in schemas if name.endswith("." + k.split(".v")[0] + ".v1"))
        schema = copy.deepcopy(envelope)
        schema["properties"]["type"] = {"const": name}
        schema["properties"]["data"] = _inline(_without_meta(schemas[key]), schemas[key], schemas)
        schema["required"] = [*schema["required"], "data"]
        schema.pop("propertyNames", None)
        schema["additionalProperties"] = False
        out.append(schema)
    return out


EVENTS = st.one_of([from_schema(s) for s in _event_schemas(openapi_document())])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("fuzz-schema")) as running:
        yield running


def test_the_served_document_is_the_one_generated_from(server: LiveServer) -> None:
    served = httpx.get(server.base + "/openapi.json").json()
    assert served["components"]["schemas"] == openapi_document()["components"]["schemas"]


def _stored(server: LiveServer) -> int:
    path = server.log_path.parent / "data" / "log.db"
    marks = ",".join("?" * len(INPUT_TOPICS))
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        query = f"SELECT count(*) FROM log WHERE topic IN ({marks})"
        return int(conn.execute(query, INPUT_TOPICS).fetchone()[0])


@settings(
    max_examples=80,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=st.lists(EVENTS, min_size=1, max_size=3), batch=st.booleans())
def test_generated_events_never_5xx_never_hang_never_half_stored(
    server: LiveServer, events: list[dict[str, Any]], batch: bool
) -> None:
    body: Any = events if batch else events[0]
    content_type = "application/cloudevents-batch+json" if batch else "application/cloudevents+json"
    sent = len(events) if batch else 1
    before = _stored(server)
    started = time.monotonic()
    response = httpx.post(
        server.base + "/v1/events",
        content=json.dumps(body).encode(),
        headers={**server.auth, "Content-Type": content_type},
        timeout=30,
    )
    elapsed = time.monotonic() - started
    SEEN[response.status_code] += 1
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert elapsed < TIME_BOUND, elapsed
    if response.status_code == 202:
        assert _stored(server) - before == sent  # every acknowledged event, once
    else:
        assert 400 <= response.status_code < 500
        assert _stored(server) == before  # refused: nothing of it stored


def test_the_generated_events_were_both_accepted_and_refused() -> None:
    """The fuzz is no fuzz if every event is refused (or every one accepted)."""
    accepted = SEEN[202]
    refused = sum(n for code, n in SEEN.items() if 400 <= code < 500)
    print(f"generated requests by status: {dict(SEEN)}")
    assert accepted >= 10 and refused >= 3, SEEN
