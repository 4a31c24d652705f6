"""Creating the pipeline's topics on Kafka, with the partition count the joins rely on."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kafka.admin import KafkaAdminClient

from pipeline.settings import Settings
from pipeline.topology import TOPICS

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code


class TopicMismatch(RuntimeError):
    """An existing topic has another partition count than the settings ask for."""


def app_id(settings: Settings) -> str:
    """The faust app id: consumer group of the workers and prefix of faust's own topics.

    It includes the topic prefix, so parallel deployments (and tests) on one cluster never
    share a consumer group, changelog or transactional id.
    """
    return f"{settings.kafka_topic_prefix}klantsignaal"


def changelog_topic(settings: Settings, state_name: str) -> str:
    return f"{app_id(settings)}-{state_name}-changelog"  # faust's naming


def leader_topic(settings: Settings) -> str:
    return f"{app_id(settings)}-__assignor-__leader"  # faust's naming, one partition


def ensure_topics(
    settings: Settings,
    replication_factor: int | None = None,
    *,
    state_names: Iterable[str] = (),
    timeout_ms: int = 30_000,
) -> list[str]:
    """Create every topic of the topology (prefixed) that does not exist yet.

    All topics get `settings.kafka_partitions` partitions: a klant's records must land in
    the same partition number on every topic and in every table changelog, or joins break.
    An existing topic with another count is an error, not something to paper over.

    With `state_names`, faust's changelog (compacted) and leader topics are created too:
    faust would create them itself, but only just before joining the group, and a topic
    missing from the consumer's metadata at that moment is left out of the assignment.
    Returns the names that were created.
    """
    rf = replication_factor if replication_factor is not None else settings.kafka_replication_factor
    n = settings.kafka_partitions
    spec: dict[str, dict] = {
        settings.topic(t): {"num_partitions": n, "replication_factor": rf} for t in TOPICS
    }
    state_names = sorted(state_names)
    for state in state_names:
        spec[changelog_topic(settings, state)] = {
            "num_partitions": n,
            "replication_factor": rf,
            "configs": {"cleanup.policy": "compact"},
        }
    if state_names:
        spec[leader_topic(settings)] = {"num_partitions": 1, "replication_factor": rf}
    names = list(spec)
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.kafka_topic_prefix}klantsignaal-admin",
    )
    try:
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
        _check_partitions(admin, [t for t in names if t != leader_topic(settings)], n)
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
