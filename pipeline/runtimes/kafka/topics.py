"""Creating the pipeline's topics on Kafka, with the partition count the joins rely on."""

from __future__ import annotations

import logging
import os

from kafka.admin import KafkaAdminClient

from pipeline.settings import Settings
from pipeline.topology import TOPICS

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code
REPLICATION_ENV = "KLANTSIGNAAL_KAFKA_REPLICATION_FACTOR"


class TopicMismatch(RuntimeError):
    """An existing topic has another partition count than the settings ask for."""


def default_replication_factor() -> int:
    # 1 suits a single test/dev broker; production clusters should use 3.
    return int(os.environ.get(REPLICATION_ENV, "1"))


def ensure_topics(
    settings: Settings,
    replication_factor: int | None = None,
    *,
    timeout_ms: int = 30_000,
) -> list[str]:
    """Create every topic of the topology (prefixed) that does not exist yet.

    All topics get `settings.kafka_partitions` partitions: a klant's records must land in
    the same partition number on every topic and in every table changelog, or joins break.
    An existing topic with another count is an error, not something to paper over.
    Returns the names that were created.
    """
    rf = replication_factor if replication_factor is not None else default_replication_factor()
    names = [settings.topic(t) for t in TOPICS]
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.kafka_topic_prefix}klantsignaal-admin",
    )
    try:
        spec = {
            name: {"num_partitions": settings.kafka_partitions, "replication_factor": rf}
            for name in names
        }
        result = admin.create_topics(spec, timeout_ms=timeout_ms, raise_errors=False)
        created: list[str] = []
        for topic in result.get("topics", []):
            code = topic.get("error_code", 0)
            if code == 0:
                created.append(topic["name"])
            elif code != _TOPIC_ALREADY_EXISTS:
                raise RuntimeError(
                    f"could not create topic {topic['name']}: error {code} "
                    f"{topic.get('error_message') or ''}".rstrip()
                )
        admin.wait_for_topics(names, timeout_ms=timeout_ms)
        _check_partitions(admin, names, settings.kafka_partitions)
    finally:
        admin.close()
    if created:
        log.info(
            "created %d topic(s) with %d partitions, replication %d: %s",
            len(created),
            settings.kafka_partitions,
            rf,
            ", ".join(created),
        )
    return created


def _check_partitions(admin: KafkaAdminClient, names: list[str], expected: int) -> None:
    wrong = {
        t["topic"] if "topic" in t else t["name"]: len(t["partitions"])
        for t in admin.describe_topics(names)
        if len(t["partitions"]) != expected
    }
    if wrong:
        raise TopicMismatch(
            f"topics with a partition count other than KLANTSIGNAAL_KAFKA_PARTITIONS="
            f"{expected}: {wrong}; all topics must have the same count (see docs/kafka.md)"
        )
