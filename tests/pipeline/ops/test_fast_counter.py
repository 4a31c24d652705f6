"""The stage counters (a collector of their own, cheap per record) expose exactly what the
client library's Counter exposes for the same increments."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from pipeline.ops.fast_counter import LabelledCounter
from pipeline.ops.metrics import DEAD_LETTERS, RECORDS_IN, RECORDS_OUT


@pytest.mark.parametrize("ours", [RECORDS_IN, RECORDS_OUT, DEAD_LETTERS], ids=lambda c: c.name)
def test_the_same_exposition_as_the_client_counter(ours: LabelledCounter) -> None:
    client_registry, own_registry = CollectorRegistry(), CollectorRegistry()
    name, doc, labels = ours.name, ours.documentation, ours.labelnames
    client = Counter(name, doc, labels, registry=client_registry)
    own = LabelledCounter(name, doc, labels, registry=own_registry)
    assert generate_latest(own_registry) == generate_latest(client_registry)  # nothing yet
    rng = random.Random(5)
    client.labels("trigger", "bound-first")  # a bound child shows 0 before any increment
    own.labels("trigger", "bound-first")
    for _ in range(3000):
        values = (rng.choice(["trigger", "signals", "monitoring"]), rng.choice(["a", "b", "c"]))
        amount = rng.choice([1, 1, 1, 2, 0, 0.5])
        client.labels(*values).inc(amount)
        if rng.random() < 0.5:
            own.inc(values, amount)
        else:
            own.labels(*values).inc(amount)
        if rng.random() < 0.01:
            assert generate_latest(own_registry) == generate_latest(client_registry)
    assert generate_latest(own_registry) == generate_latest(client_registry)
    with pytest.raises(ValueError):
        own.inc(("trigger", "a"), -1)
    with pytest.raises(ValueError):
        own.labels("trigger")
