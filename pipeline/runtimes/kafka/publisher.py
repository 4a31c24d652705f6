"""The Publisher port on Kafka: a transactional kafka-python producer.

A publish is one Kafka transaction, so a batch is all-or-nothing for read_committed readers
(the faust workers and the sinks read that way), and it returns only after the broker
committed it with acks from all in-sync replicas: durable once it returns.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import KafkaProducer

from pipeline.settings import Settings
from schemas.cloudevents import CloudEvent

log = logging.getLogger(__name__)


class PublishFailed(RuntimeError):
    """The batch was not published; the caller may retry it.

    `maybe_published` is set when the commit's outcome is unknown (timed out): readers
    then see all of the batch or none of it, never a part.
    """

    def __init__(self, message: str, *, maybe_published: bool = False) -> None:
        super().__init__(message)
        self.maybe_published = maybe_published


class CommitOutcomeUnknown(RuntimeError):
    """A transaction commit did not finish in time; it may or may not take effect."""


def _bounded(call: Callable[[], object], timeout: float, what: str) -> None:
    """Run a blocking producer call with a deadline.

    kafka-python waits without a limit for commit_transaction/abort_transaction; with the
    broker gone that would hang the HTTP request (and, through the lock, every other one).
    """
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=f"kafka-txn-{what}", daemon=True).start()
    if not done.wait(timeout):
        raise CommitOutcomeUnknown(f"transaction {what} did not complete within {timeout:.0f} s")
    if errors:
        raise errors[0]


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
                bootstrap_timeout_ms=int(self.timeout * 1000),
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
        self.publish_many({topic: events})

    def publish_many(self, batches: Mapping[str, Sequence[CloudEvent]]) -> None:
        """Events for several logical topics in ONE transaction (an HTTP batch may mix types)."""
        if not any(len(events) for events in batches.values()):
            return
        count = sum(len(events) for events in batches.values())
        targets = ", ".join(self.settings.topic(topic) for topic in batches)
        what = f"publishing {count} event(s) to {targets}"
        with self._lock:
            try:
                producer = self._connect()
                producer.begin_transaction()
            except Exception as exc:
                self._discard()
                raise PublishFailed(f"{what} failed: {exc!r}") from exc
            try:
                futures = []
                for topic, events in batches.items():
                    target = self.settings.topic(topic)
                    for event in events:  # lazily: a failing item aborts what went before
                        key, headers, value = event.to_binary()
                        futures.append(producer.send(target, value=value, key=key, headers=headers))
                producer.flush(timeout=self.timeout)
                for future in futures:
                    future.get(timeout=self.timeout)  # raises the send error, if any
                _bounded(producer.commit_transaction, self.timeout, "commit")
            except CommitOutcomeUnknown as exc:
                # The broker may still commit it: the caller must treat the batch as maybe
                # published (a retry is safe: consumers dedupe on event id).
                self._discard()
                raise PublishFailed(f"{what}: {exc}", maybe_published=True) from exc
            except Exception as exc:
                self._abort()
                raise PublishFailed(f"{what} failed: {exc!r}") from exc

    def _abort(self) -> None:
        producer = self._producer
        if producer is None:
            return
        try:
            _bounded(producer.abort_transaction, self.timeout, "abort")
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
