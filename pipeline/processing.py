"""Running one record through one stage, the same way in every runtime.

Validation of the input, all-or-nothing state changes and dead-lettering live here so that
the embedded and the Kafka runtime cannot differ in what they accept or reject.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.monitoring.batches import coalesce_groups, is_single, observations_of, placed
from pipeline.ops.metrics import observed_outputs, observed_processing
from pipeline.ports import SinkRecord
from pipeline.stages.base import Emit, Rejected, Stage, State, StateUnavailable
from pipeline.topology import DEAD_LETTER, TOPIC_ACCEPTS
from schemas.cloudevents import CloudEvent, built, utc_now
from schemas.fastinit import fast_init
from schemas.types import MONITOR_OBSERVATIONS
from schemas.validation import data_is_valid, schema_id, validate_data

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

    __slots__ = ("_inner", "_writes")  # one or two per record a stage reads

    def __init__(self, inner: State):
        self._inner = inner
        self._writes: dict[str, dict[str, Any] | None] = {}  # None: delete

    def get(self, key: str) -> dict[str, Any] | None:
        if key in self._writes:
            return self._writes[key]
        return self._inner.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._writes[key] = value

    def delete(self, key: str) -> None:
        self._writes[key] = None

    def flush(self) -> None:
        for key, value in self._writes.items():
            if value is None:
                self._inner.delete(key)
            else:
                self._inner.put(key, value)
        self._writes.clear()


@dataclass
class Outcome:
    emits: list[Emit] = field(default_factory=list)
    dead_letter: DeadLetter | None = None


def is_validated(event: CloudEvent) -> bool:
    """Validate once: the edge and the stages stamp what they validated with its schema id;
    only they may write the topics the stages read (docs/kafka.md), so the stamp is trusted."""
    return event.dataschema is not None and event.dataschema == schema_id(event.type)


def input_problem(topic: str, event: CloudEvent) -> str | None:
    accepted = TOPIC_ACCEPTS.get(topic)
    if accepted is not None and event.type not in accepted:
        expected = " of ".join(sorted(accepted))
        return f"type {event.type} hoort niet op {topic} (verwacht {expected})"
    if is_validated(event):
        return None
    problems = validate_data(event.type, event.data)
    if problems:
        # Pointer and rule, not the message: messages repeat values (comments, addresses).
        return "; ".join(f"{p.pointer}: voldoet niet aan '{p.rule}'" for p in problems)
    return None


Item = tuple[CloudEvent | str, str, dict[str, Any] | None]  # (decoded, position, raw)


def record_items(
    topic: str, decoded: CloudEvent | str, position: str, raw: dict[str, Any] | None = None
) -> list[Item]:
    """What the stages take of a record, each for `process_record`: the record itself, or,
    for coalesced monitor observations on their topic, each observation at
    `position#i` (pipeline/monitoring/batches.py). Each is then validated, processed
    all-or-nothing and dead-lettered on its own: one bad item loses none of the others."""
    if not (
        isinstance(decoded, CloudEvent)
        and decoded.type == MONITOR_OBSERVATIONS.name
        and topic == MONITOR_OBSERVATIONS.topic
    ):
        return [(decoded, position, raw)]
    items = observations_of(decoded)
    if isinstance(items, str):
        return [(items, position, decoded.to_structured())]
    data = decoded.data.get("observaties") or []
    return [
        (item, f"{position}#{i}", None if not isinstance(item, str) else {"item": data[i]})
        for i, item in enumerate(items)
    ]


@observed_processing  # metrics per stage, correlation id for the logs (pipeline/ops)
def process_record(
    stage: Stage,
    topic: str,
    decoded: CloudEvent | str,
    states: dict[str, State],
    position: str,
    raw: dict[str, Any] | None = None,
) -> Outcome:
    """`decoded` is the event, or the reason it could not be decoded. A record's own fault
    becomes a dead letter; StateUnavailable (a stage's state could not be reached: no fault
    of the record) is raised on, for the runtime to stop or retry without skipping it."""
    if isinstance(decoded, str):
        return Outcome(dead_letter=DeadLetter(decoded, stage.name, topic, position, raw or {}))
    problem = input_problem(topic, decoded)
    if problem:
        return Outcome(
            dead_letter=DeadLetter(problem, stage.name, topic, position, decoded.to_structured())
        )
    # Only the states the runtime hands over: the Kafka worker gives a record of a topic
    # only those its stage declares for it (pipeline.stages.base.states_for).
    buffered = {name: BufferedState(states[name]) for name in stage.state_names if name in states}
    try:
        emits = [_checked(emit) for emit in stage.process(topic, decoded, buffered)]
    except Rejected as exc:
        return Outcome(
            dead_letter=DeadLetter(str(exc), stage.name, topic, position, decoded.to_structured())
        )
    except StateUnavailable:  # not the record's fault: the runtime stops or retries
        raise
    except Exception as exc:  # one bad record must never stop the stream
        log.exception("stage %s failed on %s at %s", stage.name, topic, position)
        reason = f"interne fout in {stage.name}: {type(exc).__name__}"
        return Outcome(
            dead_letter=DeadLetter(reason, stage.name, topic, position, decoded.to_structured())
        )
    try:
        for state in buffered.values():
            state.flush()
    except StateUnavailable:
        raise
    except Exception as exc:
        log.exception("state of %s could not be saved at %s", stage.name, position)
        reason = f"state van {stage.name} niet op te slaan: {type(exc).__name__}"
        return Outcome(
            dead_letter=DeadLetter(reason, stage.name, topic, position, decoded.to_structured())
        )
    return Outcome(emits=emits)


class DerivedEventInvalid(ValueError):
    """A stage built an event its own schema refuses (a bug in the stage)."""


def _checked(emit: Emit) -> Emit:
    """Re-check only what a stage derives (fast check), and stamp it as validated."""
    event = emit.event
    if not data_is_valid(event.type, event.data):
        raise DerivedEventInvalid(f"{event.type} voldoet niet aan zijn schema")
    # As dataclasses.replace(event, dataschema=...), without its per-call field walk.
    stamped = built({**event.__dict__, "dataschema": schema_id(event.type)})
    return Emit(emit.topic, stamped)


def runtime_failure(
    stage: str, topic: str, position: str, exc: BaseException, record: dict[str, Any]
) -> DeadLetter:
    """The dead letter for a record the runtime itself could not get through (after its
    retries): the exception type only, as for stage errors (never its text: it may quote
    values)."""
    return DeadLetter(
        f"interne fout in {stage}: {type(exc).__name__}", stage, topic, position, record
    )


@fast_init  # one __dict__ update, not a setattr per field
@dataclass(frozen=True)
class Output:
    """One record to write for an outcome: an event, or a dead letter (as its JSON body)."""

    topic: str
    key: str | None
    event: CloudEvent | None = None
    dead_letter: DeadLetter | None = None


_new_object = object.__new__


def with_event(out: Output, event: CloudEvent) -> Output:
    """`out` with `event` in place of its own: what dataclasses.replace(out, event=event)
    makes (the test compares them), once per placed monitor observation (`positioned`
    here, the Kafka worker's `_place`). Its fields copied in one dict update, a little
    faster than the positional construction this replaces and much faster than a keyword
    one (fast_init's __init__ binding four keywords); measured in the commit message."""
    new = _new_object(Output)
    new.__dict__.update(out.__dict__, event=event)
    return new


@observed_outputs
def outputs(outcome: Outcome, stage: str, key: str | None) -> list[Output]:
    """What a runtime writes for an outcome, in order; logs a dead letter the same way in
    every runtime. `key` is the input record's key (dead letters keep it)."""
    out = [Output(emit.topic, emit.event.partitionkey, event=emit.event) for emit in outcome.emits]
    dl = outcome.dead_letter
    if dl is not None:
        log.warning("dead-letter from %s at %s %s: %s", stage, dl.topic, dl.position, dl.reason)
        out.append(Output(DEAD_LETTER, key, dead_letter=dl))
    return out


def positioned(outs: Sequence[Output], log: str, offset: int) -> list[Output]:
    """One input record's outputs with its monitor observations placed: `log`, the
    record's `offset`, their index among them (pipeline/monitoring/batches.placed)."""
    if not any(is_single(out.event) for out in outs):
        return list(outs)
    events = placed([out.event for out in outs if out.event is not None], log, offset)
    found = iter(events)
    return [out if out.event is None else with_event(out, next(found)) for out in outs]


def coalesced(outs: Sequence[Output]) -> list[Output]:
    """A run's outputs with its monitor observations coalesced, one record per cell
    (pipeline/monitoring/batches.py), each where the first of its observations was; the
    other outputs as they were, in order."""
    singles = [i for i, out in enumerate(outs) if is_single(out.event)]
    if len(singles) < 2:
        return list(outs)
    events = [outs[i].event for i in singles]
    placed = {singles[group[0]]: record for group, record in coalesce_groups(events)}  # type: ignore[arg-type]
    result: list[Output] = []
    skip = set(singles)
    for i, out in enumerate(outs):
        if i in placed:
            result.append(Output(out.topic, placed[i].partitionkey, event=placed[i]))
        elif i not in skip:
            result.append(out)
    return result


def dead_letter_json(dl: DeadLetter) -> str:
    return json.dumps(dl.to_dict(), ensure_ascii=False, separators=(",", ":"))


def sink_record(
    topic: str,
    position: str,
    decoded: CloudEvent | str | None,
    body: str | bytes | None = None,
    raw: dict[str, Any] | None = None,
) -> SinkRecord | None:
    """A stored record as a sink sees it, the same in every runtime.

    Dead-letter records: `body` is the JSON; a malformed one is still delivered (a dead
    letter never disappears). Events: `decoded` is the event or the reason it is none; an
    undecodable record is logged and skipped (it was dead-lettered by the stage reading it,
    or is on a topic only stages write).
    """
    if topic == DEAD_LETTER:
        try:
            parsed = json.loads(body) if body is not None else None
        except (ValueError, TypeError):
            parsed = None
        if not isinstance(parsed, dict):
            parsed = {"reason": "dead-letter record is not a JSON object", "record": raw or {}}
        return SinkRecord(topic, position, None, parsed)
    if isinstance(decoded, CloudEvent):
        return SinkRecord(topic, position, decoded)
    log.warning("skipping undecodable record on %s at %s: %s", topic, position, decoded)
    return None
