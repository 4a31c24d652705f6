"""A Prometheus counter with labels, cheap enough to increment once per record.

The client library's Counter checks, takes its value's lock and looks for an exemplar on
every `inc`; the stage counters (records in, records out, dead letters) are incremented
for every record and every event a stage writes, several per record. This one keeps the
counts in a dict under one lock and hands the registry the same series (`<name>_total`
per label set, no `_created`, as `disable_created_metrics` leaves the client's) whenever
it collects. Like fast_histogram.py for the processing time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import CollectorRegistry


class LabelledCounter:
    """A counter with fixed label names: `inc(label values, amount)`, or through a child
    bound to its label values with `labels(...)` (as the client's Counter)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry | None = REGISTRY,
    ):
        self.name = name.removesuffix("_total")
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._counts: dict[tuple[str, ...], float] = {}  # label values -> count, in order
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def inc(self, values: tuple[str, ...], amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        with self._lock:
            self._counts[values] = self._counts.get(values, 0.0) + amount

    def labels(self, *values: str) -> CounterChild:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected {len(self.labelnames)} label values")
        key = tuple(str(v) for v in values)
        with self._lock:
            self._counts.setdefault(key, 0.0)  # a bound child is exposed at 0, as the client's
        return CounterChild(self, key)

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self._lock:
            counts = dict(self._counts)
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, count in counts.items():
            family.add_metric(list(values), count)
        yield family


class CounterChild:
    """A LabelledCounter bound to one set of label values."""

    __slots__ = ("_counter", "_key")

    def __init__(self, counter: LabelledCounter, key: tuple[str, ...]):
        self._counter = counter
        self._key = key

    def inc(self, amount: float = 1.0) -> None:
        self._counter.inc(self._key, amount)
