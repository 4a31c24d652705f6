"""The stage processing histogram (a collector of its own, cheap per record) exposes exactly
what the client library's Histogram exposes for the same observations."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from pipeline.ops.fast_histogram import LabelledHistogram
from pipeline.ops.metrics import PROCESSING

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def test_the_same_exposition_as_the_client_histogram() -> None:
    import pipeline.ops.metrics  # noqa: F401  (disables the *_created series, as in use)

    client_registry, own_registry = CollectorRegistry(), CollectorRegistry()
    name, doc = "klantsignaal_stage_processing_seconds", PROCESSING.documentation
    client = Histogram(name, doc, ["stage"], buckets=BUCKETS, registry=client_registry)
    own = LabelledHistogram(name, doc, "stage", BUCKETS, registry=own_registry)
    assert generate_latest(own_registry) == generate_latest(client_registry)  # nothing yet
    rng = random.Random(3)
    values = [*BUCKETS, 0.0, 1e-7, 2.5000001, 30.0] + [rng.random() / 50 for _ in range(2000)]
    for value in values:
        stage = rng.choice(["trigger", "signals", "monitoring"])
        client.labels(stage).observe(value)
        own.observe(stage, value)
        if rng.random() < 0.01:
            assert generate_latest(own_registry) == generate_latest(client_registry)
    assert generate_latest(own_registry) == generate_latest(client_registry)
