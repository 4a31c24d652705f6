"""Consumer lag per topic and partition, as Prometheus sees it: the end offset (last stable
offset: consumers read committed records only) minus the group's committed offset.

This is the broker's view, the same number `kafka-consumer-groups.sh --describe` shows, so
it measures what a crash would replay as well as what is waiting. It is read when Prometheus
scrapes (at most every `min_interval` seconds), never on the processing path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


def _family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "klantsignaal_consumer_lag",
        "Records (and transaction markers) between the group's committed offset and the end "
        "of the partition.",
        labels=["group", "topic", "partition"],
    )


class ConsumerLag(Collector):
    """`klantsignaal_consumer_lag{group, topic, partition}` for the groups of this process."""

    def __init__(self, bootstrap: str, min_interval: float = 2.0) -> None:
        self._bootstrap = bootstrap
        self._min_interval = min_interval
        self._groups: dict[str, tuple[str, ...]] = {}
        self._consumers: dict[str, KafkaConsumer] = {}
        self._lock = threading.Lock()
        self._cached: list[tuple[str, str, int, int]] = []
        self._read_at = float("-inf")

    def watch(self, group: str, topics: Iterable[str]) -> None:
        with self._lock:
            self._groups[group] = tuple(sorted(set(self._groups.get(group, ())) | set(topics)))
            self._read_at = float("-inf")

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield _family()  # registering must not query the broker

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = _family()
        for group, topic, partition, lag in self._read():
            family.add_metric([group, topic, str(partition)], lag)
        yield family

    def _read(self) -> list[tuple[str, str, int, int]]:
        with self._lock:
            if time.monotonic() - self._read_at < self._min_interval:
                return self._cached
            rows: list[tuple[str, str, int, int]] = []
            try:
                for group, topics in self._groups.items():
                    rows.extend(self._group_lag(group, topics))
            except Exception as exc:  # the broker away: report nothing rather than fail scrapes
                log.warning("consumer lag unavailable: %s", type(exc).__name__)
                self._close_consumers()
                return []
            self._cached, self._read_at = rows, time.monotonic()
            return rows

    def _group_lag(
        self, group: str, topics: tuple[str, ...]
    ) -> Iterator[tuple[str, str, int, int]]:
        consumer = self._consumer(group)
        tps = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not tps:
            return
        ends = consumer.end_offsets(tps)
        for tp in tps:
            committed = consumer.committed(tp) or 0
            yield group, tp.topic, tp.partition, max(0, ends[tp] - committed)

    def _consumer(self, group: str) -> Any:
        if group not in self._consumers:
            # The group id only to read its committed offsets: never subscribes, never commits.
            self._consumers[group] = KafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=group,
                client_id=f"{group}-lag",
                enable_auto_commit=False,
                isolation_level="read_committed",
            )
        return self._consumers[group]

    def _close_consumers(self) -> None:
        for consumer in self._consumers.values():
            try:
                consumer.close()
            except Exception:
                log.debug("closing a lag consumer failed", exc_info=True)
        self._consumers.clear()


_LAG: ConsumerLag | None = None
_LAG_LOCK = threading.Lock()


def watch_lag(bootstrap: str, group: str, topics: Iterable[str]) -> ConsumerLag:
    """Report the lag of `group` on `topics` (Kafka names) in this process's /metrics."""
    global _LAG
    with _LAG_LOCK:
        if _LAG is None:
            _LAG = ConsumerLag(bootstrap)
            REGISTRY.register(_LAG)
    _LAG.watch(group, topics)
    return _LAG
