"""Ports: what the edges (HTTP, questionnaire, sinks) need from a runtime, transport-free."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from schemas.cloudevents import CloudEvent
from schemas.fastinit import fast_init


class Publisher(Protocol):
    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        """Put events on a logical topic; all or nothing, and durable once it returns."""
        ...

    def publish_many(self, batches: Mapping[str, Sequence[CloudEvent]]) -> None:
        """Events for several logical topics, all or nothing together."""
        ...


class AsyncPublisher(Publisher, Protocol):
    """A publisher that an asyncio caller can await without holding a thread (the Kafka
    publisher's group commit); same guarantees as `publish_many`."""

    async def publish_many_async(self, batches: Mapping[str, Sequence[CloudEvent]]) -> None: ...


@fast_init  # one __dict__ update, not a setattr per field
@dataclass(frozen=True)
class SinkRecord:
    topic: str
    position: str
    event: CloudEvent | None  # None for dead-letter records
    raw: dict[str, Any] | None = None  # the dead-letter body


class Sink(Protocol):
    name: str
    topics: tuple[str, ...]

    def handle(self, records: Sequence[SinkRecord]) -> None:
        """Store a batch; must be idempotent, because a crash replays the last batch."""
        ...


class VisitRecorder(Protocol):
    """Where the questionnaire reports how far a citizen got, for the response funnel."""

    def record_visit(self, invitation_id: str, stage: str) -> None:
        """stage: "opened" (the questionnaire was shown) or "started" (a first answer was
        submitted). Idempotent: only the first of each (invitation, stage) counts."""
        ...
