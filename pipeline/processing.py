"""Running one record through one stage, the same way in every runtime.

Validation of the input, all-or-nothing state changes and dead-lettering live here so that
the embedded and the Kafka runtime cannot differ in what they accept or reject.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pipeline.stages.base import Emit, Rejected, Stage, State
from pipeline.topology import TOPIC_TYPES
from schemas.cloudevents import CloudEvent, utc_now
from schemas.validation import validate_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    stage: str
    topic: str
    position: str  # where the record was: "partition/offset" or the embedded log offset
    record: dict[str, Any]  # the structured CloudEvent, or the raw parts when undecodable
    at: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "stage": self.stage,
            "topic": self.topic,
            "position": self.position,
            "at": self.at,
            "record": self.record,
        }


class BufferedState:
    """Collects a stage's writes so they apply only when the whole record succeeded."""

    def __init__(self, inner: State):
        self._inner = inner
        self._writes: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        if key in self._writes:
            return self._writes[key]
        return self._inner.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._writes[key] = value

    def flush(self) -> None:
        for key, value in self._writes.items():
            self._inner.put(key, value)
        self._writes.clear()


@dataclass
class Outcome:
    emits: list[Emit] = field(default_factory=list)
    dead_letter: DeadLetter | None = None


def input_problem(topic: str, event: CloudEvent) -> str | None:
    expected = TOPIC_TYPES.get(topic)
    if expected is not None and event.type != expected:
        return f"type {event.type} hoort niet op {topic} (verwacht {expected})"
    problems = validate_data(event.type, event.data)
    if problems:
        # Pointer and rule, not the message: messages repeat values (comments, addresses).
        return "; ".join(f"{p.pointer}: voldoet niet aan '{p.rule}'" for p in problems)
    return None


def process_record(
    stage: Stage,
    topic: str,
    decoded: CloudEvent | str,
    states: dict[str, State],
    position: str,
    raw: dict[str, Any] | None = None,
) -> Outcome:
    """`decoded` is the event, or the reason it could not be decoded."""
    if isinstance(decoded, str):
        return Outcome(dead_letter=DeadLetter(decoded, stage.name, topic, position, raw or {}))
    record = decoded.to_structured()
    problem = input_problem(topic, decoded)
    if problem:
        return Outcome(dead_letter=DeadLetter(problem, stage.name, topic, position, record))
    buffered = {name: BufferedState(states[name]) for name in stage.state_names}
    try:
        emits = stage.process(topic, decoded, buffered)
    except Rejected as exc:
        return Outcome(dead_letter=DeadLetter(str(exc), stage.name, topic, position, record))
    except Exception as exc:  # one bad record must never stop the stream
        log.exception("stage %s failed on %s at %s", stage.name, topic, position)
        reason = f"interne fout in {stage.name}: {type(exc).__name__}"
        return Outcome(dead_letter=DeadLetter(reason, stage.name, topic, position, record))
    try:
        for state in buffered.values():
            state.flush()
    except Exception as exc:
        log.exception("state of %s could not be saved at %s", stage.name, position)
        reason = f"state van {stage.name} niet op te slaan: {type(exc).__name__}"
        return Outcome(dead_letter=DeadLetter(reason, stage.name, topic, position, record))
    return Outcome(emits=emits)
