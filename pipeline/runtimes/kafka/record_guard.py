"""Nothing leaves a worker's agent without its outputs sent or the process stopping.

faust acks a record in its stream's `finally`, whatever the agent did with it, and the
next commit passes it: an error that escapes the agent's body skips the record (faust
restarts the agent and goes on with the next one). So each error is decided where it
arises (docs/kafka.md, "Guarantees"):

- the record's own fault (it cannot be opened or decoded, an output of it cannot be
  written as a record): a dead letter with the reason, named by type, never a value; the
  stream goes on (`open_input` in codec.py, `wire_record` here);
- a dependency failing (the key store, the producer): retried in place, and the worker
  stops (exit 75) when that outlasts the limit (in_place.py);
- anything that still escapes (a bug, an error nobody foresaw, a cancellation with the
  record in hand): the worker stops at once, exit 75, before faust's `finally` can ack
  the record (`unhandled`); the restarted worker, or another one in the group, processes
  it again. A stop is seen and restarted by the orchestrator; a skip is not seen at all.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from pipeline.processing import DeadLetter, Output, runtime_failure
from pipeline.runtimes.kafka.codec import Headers, dead_letter_record
from pipeline.runtimes.kafka.in_place import Outage
from pipeline.topology import DEAD_LETTER
from schemas.cloudevents import CloudEvent

log = logging.getLogger(__name__)


class Escaped(Exception):
    """What escaped a record's processing, by type only (its text may quote values)."""


# (stage, topic, position, record as decoded, raw parts of an undecodable one)
Source = tuple[str, str, str, CloudEvent | str, dict[str, Any] | None]


def wire_record(
    out: Output, in_key: bytes | None, source: Source
) -> tuple[str, bytes | None, Headers, bytes]:
    """(logical topic, key, headers, value) of an output. An event that cannot be written
    as a record (a str UTF-8 cannot carry, say) goes as a dead letter of the record it came
    from (`source`) instead: the record's fault, not the stream's."""
    if out.event is not None:
        try:
            return (out.topic, *out.event.to_binary())
        except Exception as exc:
            log.error(
                "an output to %s is no record (%s): dead-lettering its input instead",
                out.topic,
                type(exc).__name__,
            )
            out = Output(DEAD_LETTER, None, dead_letter=_failure(source, exc))
    if out.dead_letter is None:
        raise ValueError("an output with neither an event nor a dead letter")
    value, headers = dead_letter_record(out.dead_letter)
    return DEAD_LETTER, in_key, headers, value


def _failure(source: Source, exc: BaseException) -> DeadLetter:
    stage, topic, position, record, raw = source
    body = raw or (record.to_structured() if isinstance(record, CloudEvent) else {})
    return runtime_failure(stage, topic, position, exc, body)


def unhandled(outage: Outage, message: Any, exc: BaseException) -> NoReturn:
    """Stop the worker (exit 75) before faust acks the record `exc` escaped from."""
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    what = f"processing the record at {message.topic} {message.partition}/{message.offset}"
    outage.give_up(what, Escaped(kind))
