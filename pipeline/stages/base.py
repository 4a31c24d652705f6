"""The contract between a stage and the runtime that drives it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

# Re-exported: stages and older callers import these from here.
from pipeline.times import iso as iso
from pipeline.times import parse_time as parse_time
from schemas.cloudevents import CloudEvent, new_event
from schemas.fastinit import fast_init
from schemas.models import Model
from schemas.types import EventType


class StateUnavailable(Exception):
    """A stage's state could not be read or written because what it depends on failed (the
    key store sealing it: a lost grant, a missing table), never because of the record.
    `process_record` raises it on instead of dead-lettering the record: the runtime stops
    (the Kafka worker, exit 75, before the record is acked) or rolls back and retries (the
    embedded runtime). Its text names the cause by type only, never a value."""


class State(Protocol):
    """Key-value state of one stage, keyed by klant (co-partitioned with the input topics)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...

    def delete(self, key: str) -> None:
        """Remove the entry (absent keys are fine); `get` then answers None."""
        ...


@fast_init  # one __dict__ update, not a setattr per field
@dataclass(frozen=True)
class Emit:
    topic: str  # logical topic name, e.g. "survey-invitations"
    event: CloudEvent


def emit(event_type: EventType, model: Model, *, source: str, key: str, event_id: str) -> Emit:
    """A derived event on its type's topic; the id follows from its cause, so a replay
    produces the same event and consumers can deduplicate it."""
    event = new_event(event_type.name, model.to_dict(), source=source, key=key, event_id=event_id)
    return Emit(event_type.topic, event)


class Rejected(Exception):
    """A record the stage cannot process; the runtime sends it to dead-letter with this reason."""


class Clock(Protocol):
    def __call__(self) -> datetime: ...


def system_clock() -> datetime:
    return datetime.now(UTC)


class Stage(Protocol):
    name: str
    inputs: tuple[str, ...]  # logical topics the stage reads
    outputs: tuple[str, ...]  # logical topics the stage writes
    state_names: tuple[str, ...]  # names of the key-value states it needs

    def process(self, topic: str, event: CloudEvent, state: Mapping[str, State]) -> list[Emit]: ...


# Optional on a stage (both runtimes read them through these helpers):
# - `state_use`: input topic -> the states its records read or write (by default every
#   state for every input). The Kafka worker hands a record only these, so a wrong
#   declaration fails (KeyError, dead-lettered) instead of hiding a cross-topic read.
# - `awaited_states`: states written from one input topic and read for another whose
#   reader waits when the entry is not there yet (the join parks an answer in `pending`
#   until its contact's context comes). Such a state tolerates its writes arriving late,
#   so the Kafka worker may defer its changelog writes to the commit (table_writes.py).
# - `replay_after`: input topic -> input topics whose records already on the log come first
#   when a runtime (re)starts reading (the join: answers after contacts, so that a replayed
#   answer sees every contact of its klant that was there before it; the Kafka worker holds
#   a newly assigned answers partition until then, context_first.py).


def states_for(stage: Stage, topic: str) -> tuple[str, ...]:
    """The states a record of `topic` may read or write in `stage`."""
    use: Mapping[str, tuple[str, ...]] = getattr(stage, "state_use", None) or {}
    return tuple(use.get(topic, stage.state_names))


def awaited_states(stage: Stage) -> tuple[str, ...]:
    return tuple(getattr(stage, "awaited_states", ()))


def replay_after(stage: Stage) -> Mapping[str, tuple[str, ...]]:
    return dict(getattr(stage, "replay_after", None) or {})
