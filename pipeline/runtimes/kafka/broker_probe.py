"""Readiness of the web edge on Kafka: does the cluster answer?

`klantsignaal web` publishes every accepted event to Kafka before it answers 202, so while
no broker answers it can only answer 503s: a load balancer should send the traffic to
another instance. The probe asks for the cluster's metadata (brokers and controller),
reusing one admin connection, and keeps its answer a few seconds so a busy /readyz does
not become load on the brokers.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kafka.admin import KafkaAdminClient

from pipeline.ops.health import READINESS, Readiness
from pipeline.settings import Settings

log = logging.getLogger(__name__)


class BrokerProbe:
    """Callable: True when the cluster answered a metadata request (cached `ttl` seconds)."""

    def __init__(self, bootstrap: str, *, ttl: float = 5.0, timeout: float = 3.0) -> None:
        self.bootstrap = bootstrap
        self.ttl = ttl
        self.timeout_ms = int(timeout * 1000)
        self._lock = threading.Lock()
        self._admin: Any = None
        self._checked_at = -float("inf")
        self._answer = False

    def __call__(self) -> bool:
        with self._lock:
            if time.monotonic() - self._checked_at < self.ttl:
                return self._answer
            self._answer = self._ask()
            self._checked_at = time.monotonic()
            return self._answer

    def _ask(self) -> bool:
        try:
            if self._admin is None:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    client_id="klantsignaal-readiness",
                    request_timeout_ms=self.timeout_ms,
                    bootstrap_timeout_ms=self.timeout_ms,
                )
            return bool(self._admin.describe_cluster().get("brokers"))
        except Exception as exc:
            log.warning("kafka cluster does not answer (%s)", type(exc).__name__)
            self.close()
            return False

    def close(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:
                log.debug("closing the readiness admin client", exc_info=True)
            self._admin = None


def watch_broker(settings: Settings, readiness: Readiness = READINESS) -> BrokerProbe:
    """Make the process ready only while the Kafka cluster answers (part "kafka")."""
    probe = BrokerProbe(settings.kafka_bootstrap)
    readiness.check("kafka", probe)
    return probe
