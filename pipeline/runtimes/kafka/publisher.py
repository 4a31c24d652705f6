"""The Publisher port on Kafka: a transactional kafka-python producer.

A publish is one Kafka transaction, so a batch is all-or-nothing for read_committed readers
(the faust workers and the sinks read that way), and it returns only after the broker
committed it with acks from all in-sync replicas: durable once it returns.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer

from pipeline.settings import Settings
from schemas.cloudevents import CloudEvent

log = logging.getLogger(__name__)


class PublishFailed(RuntimeError):
    """Nothing of the batch became visible; the caller may retry it."""


class KafkaPublisher:
    def __init__(
        self,
        settings: Settings,
        *,
        transactional_id: str | None = None,
        timeout: float = 30.0,
        **producer_configs: Any,
    ) -> None:
        self.settings = settings
        # Unique per instance: a fixed id would make two API processes fence each other.
        self.transactional_id = (
            transactional_id
            or f"{settings.kafka_topic_prefix}klantsignaal-publisher-{uuid.uuid4().hex[:12]}"
        )
        self.timeout = timeout
        self._configs = producer_configs
        self._lock = threading.Lock()  # one transaction at a time per producer
        self._producer: KafkaProducer | None = None

    def _connect(self) -> KafkaProducer:
        if self._producer is None:
            producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                client_id=self.transactional_id,
                transactional_id=self.transactional_id,
                enable_idempotence=True,
                acks="all",
                max_block_ms=int(self.timeout * 1000),
                **self._configs,
            )
            try:
                producer.init_transactions()
            except BaseException:
                producer.close(timeout=1)
                raise
            self._producer = producer
        return self._producer

    def _discard(self) -> None:
        # After a fatal error (fenced, timed out mid-commit) the producer cannot be reused.
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception:
                log.debug("closing a failed producer", exc_info=True)
            self._producer = None

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        """Put events on a logical topic in one transaction; raise PublishFailed if not."""
        if not events:
            return
        target = self.settings.topic(topic)
        with self._lock:
            producer = self._connect()
            producer.begin_transaction()
            try:
                futures = []
                for event in events:
                    key, headers, value = event.to_binary()
                    futures.append(producer.send(target, value=value, key=key, headers=headers))
                producer.flush(timeout=self.timeout)
                for future in futures:
                    future.get(timeout=self.timeout)  # raises the send error, if any
                producer.commit_transaction()
            except Exception as exc:
                self._abort()
                raise PublishFailed(
                    f"publishing {len(events)} event(s) to {target} failed: {exc!r}"
                ) from exc

    def _abort(self) -> None:
        producer = self._producer
        if producer is None:
            return
        try:
            producer.abort_transaction()
        except Exception:
            log.warning("abort failed; reconnecting the producer", exc_info=True)
            self._discard()

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self.timeout)
                self._producer = None

    def __enter__(self) -> KafkaPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
