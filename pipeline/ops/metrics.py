"""Prometheus metrics of the pipeline, on the official client's default registry.

Labels are bounded: stage, topic, sink, route, outcome and a reason *type* — never an event
id, a team or a value. The hooks below wrap the functions every runtime calls once per
record (pipeline.processing), so both runtimes count the same way; the per-record cost is
two clock reads and a few counter increments on pre-bound children.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any, TypeVar

from prometheus_client import Counter, disable_created_metrics

from pipeline.ops.fast_counter import LabelledCounter
from pipeline.ops.fast_histogram import LabelledHistogram
from pipeline.ops.logs import correlation_id

F = TypeVar("F", bound=Callable[..., Any])
disable_created_metrics()  # no *_created series: half the scrape for nobody's use

# Incremented per record and per event written: the cheap collector (fast_counter.py), the
# same series as the client's Counter.
RECORDS_IN = LabelledCounter(
    "klantsignaal_stage_records_in",
    "Records a stage took from its input topic (valid or not).",
    ["stage", "topic"],
)
RECORDS_OUT = LabelledCounter(
    "klantsignaal_stage_records_out",
    "Events a stage emitted, by output topic (dead letters not included).",
    ["stage", "topic"],
)
DEAD_LETTERS = LabelledCounter(
    "klantsignaal_dead_letters",
    "Records a stage sent to the dead-letter topic, by reason type.",
    ["stage", "reason"],
)
# Observed once per record: the cheap collector (fast_histogram.py), the same series.
PROCESSING = LabelledHistogram(
    "klantsignaal_stage_processing_seconds",
    "Time to run one record through one stage (validation, stage logic, state).",
    "stage",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SINK_RECORDS = Counter(
    "klantsignaal_sink_records",
    "Records a sink stored (committed after this), by topic.",
    ["sink", "topic"],
)
DISPATCH_OUTCOMES = Counter(
    "klantsignaal_dispatch_outcomes",
    "Invitation dispatch results: delivered, reminded, failed, retry (temporary failure).",
    ["route", "outcome"],
)
NOTIFICATION_OUTCOMES = Counter(
    "klantsignaal_notification_outcomes",
    "Team notifications (alerts, overdue alerts, service alerts): sent, retry, given_up.",
    ["kanaal", "outcome"],
)
EDGE_ACCEPTED = Counter(
    "klantsignaal_edge_events_accepted",
    "Events the HTTP ingestion edge accepted (202), by topic.",
    ["topic"],
)

REASON_TYPES = ("undecodable", "wrong_topic", "schema", "internal", "state", "rejected")


def reason_type(reason: str) -> str:
    """The bounded type of a dead-letter reason (reasons themselves name fields and ids)."""
    if reason.startswith(("not a CloudEvent", "record value", "geen CloudEvent", "geen geldig")):
        return "undecodable"
    if " hoort niet op " in reason:
        return "wrong_topic"
    if ": voldoet niet aan '" in reason:
        return "schema"
    if reason.startswith("interne fout"):
        return "internal"
    if reason.startswith("state van"):
        return "state"
    return "rejected"


def observed_processing(process: F) -> F:
    """Wraps process_record(stage, topic, decoded, ...): counts the record in, times it, and
    sets the correlation id to its event id for every log line until its outputs are done."""

    @functools.wraps(process)
    def wrapper(
        stage: Any, topic: str, decoded: Any, states: Any, position: str, raw: Any = None
    ) -> Any:
        # process_record's own parameters, not *args/**kwargs: no tuple and dict per record.
        correlation_id.set(getattr(decoded, "id", None))
        started = perf_counter()
        try:
            return process(stage, topic, decoded, states, position, raw)
        finally:
            name = stage.name
            PROCESSING.observe(name, perf_counter() - started)
            RECORDS_IN.inc((name, topic))

    return wrapper  # type: ignore[return-value]


def observed_outputs(outputs: F) -> F:
    """Wraps outputs(outcome, stage, key): counts what is written, then ends the record's
    correlation id (the dead-letter warning inside still carries it)."""

    @functools.wraps(outputs)
    def wrapper(outcome: Any, stage: str, *args: Any, **kwargs: Any) -> Any:
        try:
            written = outputs(outcome, stage, *args, **kwargs)
        finally:
            correlation_id.set(None)
        for out in written:
            if out.event is not None:
                RECORDS_OUT.inc((stage, out.topic))
            elif out.dead_letter is not None:
                DEAD_LETTERS.inc((stage, reason_type(out.dead_letter.reason)))
        return written

    return wrapper  # type: ignore[return-value]


def sink_stored(sink: str, records: Iterable[Any]) -> None:
    """After a sink stored a batch of SinkRecords."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.topic] = counts.get(record.topic, 0) + 1
    for topic, n in counts.items():
        SINK_RECORDS.labels(sink, topic).inc(n)


def dispatch_outcome(route: str, state: str, outcome: str | None) -> None:
    DISPATCH_OUTCOMES.labels(route, outcome or ("retry" if state == "pending" else state)).inc()


def notification_outcome(kanaal: str, outcome: str) -> None:
    """After one attempt to send a team notification (consumers/notifications.py)."""
    NOTIFICATION_OUTCOMES.labels(kanaal, outcome).inc()


def edge_accepted(topics: Iterable[str]) -> None:
    for topic in topics:
        EDGE_ACCEPTED.labels(topic).inc()
