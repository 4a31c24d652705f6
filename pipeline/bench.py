"""`klantsignaal bench`: throughput of the embedded pipeline, validation and sentiment.

Prints progress to stderr (tqdm); the caller prints the returned dict as the one JSON
object on stdout. Figures are wall-clock on this machine, so the machine is in the output.

Sections:
- pipeline_embedded: simulated contacts, page feedback and the responses to the
  invitations the pipeline made, through the EmbeddedRuntime (stages, plus the warehouse
  sink when available) in a temporary directory; compared with a baseline in the same
  process: the raw SQLite append + read loop over the same records without stages.
- validation: CloudEvent + JSON Schema validation of simulated events.
- sentiment: `pipeline.sentiment.bench.run(n)` when that module exists.
- alert_policy: decisions/s of the alert policy vs only its score rules (the old rules).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from producers.simulator import ContactSimulator
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT, INVITATION, PAGE_FEEDBACK, RESPONSE


@dataclass(frozen=True)
class BenchSizes:
    contacts: int = 5000  # contacts through the embedded pipeline
    validation: int = 3000  # events validated
    comments: int = 20_000  # comments for the sentiment bench (the issue measures at 20k)
    batch_size: int = 500  # events per publish call (like an HTTP batch)
    feedback_ratio: float = 0.05  # page feedback per contact
    seed: int = 42
    warehouse: bool = True  # include the warehouse sink when consumers.warehouse exists
    scorer: str = "default"  # "default" (load_scorer) or "lexicon"
    progress: bool = True
    runtime: str = "embedded"  # "kafka": the worker against a bare pass-through
    bootstrap: str | None = None  # Kafka broker; None: one started from tests/infra
    # Single-event requests to the Kafka web edge: 3/5 as fast as 32 clients go, 2/5 paced
    # at 500/s.
    edge_requests: int = 5000
    latency_seconds: float = 10.0  # per rate, for accepted -> alert stored
    kafka_workers: int = 1  # worker processes in one consumer group (--runtime kafka)
    edge_only: bool = False  # --runtime kafka: only the web edge phase (no worker phases)


QUICK = BenchSizes(
    contacts=300, validation=200, comments=50, batch_size=100, edge_requests=300, latency_seconds=2
)


def _raw(args: argparse.Namespace | Mapping[str, Any] | None) -> dict[str, Any]:
    return vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})


def sizes_from(args: argparse.Namespace | Mapping[str, Any] | None) -> BenchSizes:
    """BenchSizes from CLI args or a dict; unknown or None values keep their defaults."""
    raw = _raw(args)
    base = QUICK if raw.get("quick") else BenchSizes()
    known = {k: v for k, v in raw.items() if k in BenchSizes.__dataclass_fields__}
    if raw.get("no_warehouse"):
        known["warehouse"] = False
    if raw.get("no_progress"):
        known["progress"] = False
    return replace(base, **{k: v for k, v in known.items() if v is not None})


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "sqlite": sqlite3.sqlite_version,
    }


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _bar(total: int, desc: str, sizes: BenchSizes) -> tqdm:
    return tqdm(total=total, desc=desc, unit="ev", file=sys.stderr, disable=not sizes.progress)


def _make_scorer(name: str) -> Any:
    from pipeline import sentiment

    return sentiment.lexicon_scorer() if name == "lexicon" else sentiment.load_scorer()


def _warehouse_sink(settings: Any) -> tuple[list[Any], str]:
    """The warehouse sink when that consumer exists; the bench also runs without it."""
    if importlib.util.find_spec("consumers.warehouse") is None:
        return [], "not available"
    try:
        from consumers.warehouse import Warehouse, WarehouseSink
        from pipeline.topology import TOPICS

        sink = WarehouseSink(Warehouse(settings.warehouse), TOPICS)
        return [sink], sink.warehouse.engine.dialect.name
    except Exception as exc:  # a broken optional sink must not sink the whole bench
        return [], f"not available: {type(exc).__name__}: {exc}"


def _when(event: CloudEvent) -> datetime:
    return datetime.fromisoformat((event.time or "").replace("Z", "+00:00"))


def _batches(events: Sequence[CloudEvent], size: int) -> list[Sequence[CloudEvent]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def bench_pipeline(sizes: BenchSizes, workdir: Path) -> dict[str, Any]:
    from pipeline.bench_kafka import stamped
    from pipeline.gc_tuning import freeze_startup_heap, raise_young_threshold
    from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog
    from pipeline.settings import Settings
    from pipeline.topology import DEAD_LETTER, build_topology
    from schemas.types import ALERT, SIGNAL

    settings = Settings(
        data_dir=workdir / "pipeline",
        api_token="bench",
        pseudonym_key="bench-pseudonyms",
        link_key="bench-links",
    )
    # Simulated in advance: the figures are about the pipeline, not the simulator.
    sim = ContactSimulator(seed=sizes.seed, pseudonym_key=settings.pseudonym_key)
    # Stamped as the edge stamps what it validated (the stages trust the stamp).
    contacts = [stamped(c) for c in sim.contacts(sizes.contacts)]
    n_feedback = round(sizes.contacts * sizes.feedback_ratio)
    # Web visitors leave smileys during the same hours as the contacts happen.
    feedback = [
        stamped(sim.page_feedback(_when(contacts[i * len(contacts) // n_feedback])))
        for i in range(n_feedback)
    ]

    loaded = time.perf_counter()
    scorer = _make_scorer(sizes.scorer)
    scorer_load_s = time.perf_counter() - loaded
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sinks, warehouse = _warehouse_sink(settings) if sizes.warehouse else ([], "disabled")
    event_log = EventLog(settings.data_dir / "log.db")
    runtime = EmbeddedRuntime(
        event_log, build_topology(settings, scorer), sinks=sinks, batch_size=sizes.batch_size
    )
    # As `klantsignaal run` does before its pipeline thread starts (pipeline/gc_tuning.py);
    # undone after this section, so the other sections run as before.
    freeze_startup_heap()
    thresholds = raise_young_threshold()

    elapsed = cpu = 0.0
    inputs: list[tuple[str, CloudEvent]] = []  # what went in, for the baseline
    contact_batches = _batches(contacts, sizes.batch_size)
    with _bar(len(contacts) + len(feedback), "pipeline: contacts", sizes) as bar:
        for i, batch in enumerate(contact_batches):
            # The page feedback that belongs to this stretch of time goes in with it.
            lo, hi = (j * len(feedback) // len(contact_batches) for j in (i, i + 1))
            extra = feedback[lo:hi]
            began, cpu_began = time.perf_counter(), time.process_time()
            runtime.publish(CONTACT.topic, batch)
            if extra:
                runtime.publish(PAGE_FEEDBACK.topic, extra)
            runtime.run_until_idle()
            elapsed += time.perf_counter() - began
            cpu += time.process_time() - cpu_began
            inputs += [(CONTACT.topic, e) for e in batch]
            inputs += [(PAGE_FEEDBACK.topic, e) for e in extra]
            bar.update(len(batch) + len(extra))

    # Citizens answer the invitations the trigger made (not timed: that is the simulator).
    invitations = event_log.records(INVITATION.topic)
    responses = [stamped(r) for inv in invitations for r in sim.responses_for(inv["data"])]
    with _bar(len(responses), "pipeline: responses", sizes) as bar:
        for batch in _batches(responses, sizes.batch_size):
            began, cpu_began = time.perf_counter(), time.process_time()
            runtime.publish(RESPONSE.topic, batch)
            runtime.run_until_idle()
            elapsed += time.perf_counter() - began
            cpu += time.process_time() - cpu_began
            inputs += [(RESPONSE.topic, e) for e in batch]
            bar.update(len(batch))

    counts = {
        topic: len(event_log.records(topic))
        for topic in (INVITATION.topic, SIGNAL.topic, ALERT.topic, DEAD_LETTER)
    }
    warehouse_rows = None
    if sinks:
        wh = sinks[0].warehouse
        tables = ("contacts", "invitations", "responses", "signals", "alerts")
        warehouse_rows = {t: wh.count(t) for t in tables}
    latency = _embedded_latency(runtime, sinks, contacts, sizes)
    baseline = bench_baseline(inputs, sizes, workdir / "baseline" / "log.db")
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    eps = _rate(len(inputs), elapsed)
    return {
        "input_events": len(inputs),
        "contacts": len(contacts),
        "page_feedback": len(feedback),
        "responses": len(responses),
        "response_rate": round(len(responses) / len(invitations), 3) if invitations else 0.0,
        "derived": {
            "invitations": counts[INVITATION.topic],
            "signals": counts[SIGNAL.topic],
            "alerts": counts[ALERT.topic],
            "dead_letter": counts[DEAD_LETTER],
        },
        "seconds": round(elapsed, 3),
        "events_per_s": eps,
        # End to end: `seconds` covers publishing the contacts, their page feedback and the
        # responses, and running until idle (trigger, join, sentiment, alerting, monitoring,
        # warehouse), so every contact's invitation, response, signal and warehouse rows are
        # stored within it (`complete` checks the warehouse rows).
        "contacts_per_s": _rate(len(contacts), elapsed),
        "complete": _complete(
            warehouse_rows,
            {"invitations": counts[INVITATION.topic], "signals": counts[SIGNAL.topic]},
            len(contacts),
            len(responses),
        ),
        # CPU time of this process in the same spans: on a shared machine the wall-clock
        # figures follow the load, this one much less (it excludes fsync and run-queue waits).
        "cpu_seconds": round(cpu, 3),
        "contacts_per_cpu_s": _rate(len(contacts), cpu),
        "scorer": getattr(scorer, "version", type(scorer).__name__),
        "scorer_load_s": round(scorer_load_s, 3),
        "warehouse": warehouse,
        "warehouse_rows": warehouse_rows,
        "batch_size": sizes.batch_size,
        "alert_latency": latency,
        "baseline": baseline,
        # Fraction of the raw log's speed the full pipeline reaches (1.0 = no overhead).
        "ratio_to_baseline": round(eps / baseline["events_per_s"], 4)
        if baseline["events_per_s"]
        else None,
    }


def _complete(
    rows: Mapping[str, int] | None, derived: Mapping[str, int], contacts: int, responses: int
) -> bool | None:
    """Whether the warehouse holds every contact, invitation, response and signal."""
    if rows is None:
        return None
    return (
        rows["contacts"] == contacts
        and rows["invitations"] == derived["invitations"]
        and rows["responses"] == responses
        and rows["signals"] == derived["signals"]
    )


def _embedded_latency(
    runtime: Any, sinks: Sequence[Any], contacts: Sequence[CloudEvent], sizes: BenchSizes
) -> dict[str, Any]:
    """Answer accepted (publish returned) -> alert row stored, at 50 and 200 answers/s, with
    the runtime running in its background thread as `klantsignaal run` runs it."""
    from pipeline.bench_kafka import alert_latency

    if not sinks:
        return {"skipped": "no warehouse"}
    runtime.start()
    try:
        return {
            f"{rate}/s": alert_latency(
                lambda e: runtime.publish(RESPONSE.topic, [e]),
                sinks[0].warehouse,
                contacts,
                rate,
                sizes.latency_seconds,
                sizes.progress,
            )
            for rate in (50, 200)
        }
    finally:
        runtime.stop()


def bench_baseline(
    inputs: Sequence[tuple[str, CloudEvent]], sizes: BenchSizes, path: Path
) -> dict[str, Any]:
    """The same records appended and read back through the same SQLite log, no stages."""
    from pipeline.runtimes.embedded import EventLog

    encoded = [
        (topic, e.partitionkey, json.dumps(e.to_structured(), ensure_ascii=False))
        for topic, e in inputs
    ]
    event_log = EventLog(path)
    topics = sorted({t for t, _, _ in encoded})
    began = time.perf_counter()
    read = 0
    with _bar(len(encoded), "baseline: raw log", sizes) as bar:
        for i in range(0, len(encoded), sizes.batch_size):
            with event_log.transaction() as conn:
                for topic, key, value in encoded[i : i + sizes.batch_size]:
                    event_log.append(conn, topic, key, value)
            # One consumer, same transaction pattern as a stage: read, decode, move offset.
            while True:
                with event_log.transaction() as conn:
                    rows = event_log.read(
                        conn, topics, event_log.offset(conn, "baseline"), sizes.batch_size
                    )
                    if not rows:
                        break
                    for row in rows:
                        json.loads(row.value)
                    event_log.commit_offset(conn, "baseline", rows[-1].offset)
                read += len(rows)
                bar.update(len(rows))
    elapsed = time.perf_counter() - began
    return {"events": read, "seconds": round(elapsed, 3), "events_per_s": _rate(read, elapsed)}


def bench_validation(sizes: BenchSizes) -> dict[str, Any]:
    from schemas.validation import validate_event

    sim = ContactSimulator(seed=sizes.seed + 1)
    events: list[dict[str, Any]] = []
    for contact in sim.stream(sizes.validation):
        events.append(contact.to_structured())
        invitation = {
            "invitationId": "inv-" + contact.data["contactId"],
            "contactId": contact.data["contactId"],
            "klant": contact.data["klant"],
            "dispatch": ["email"],
        }
        response = sim.response_for(contact.data, invitation, force=len(events) % 4 == 0)
        if response is not None:
            events.append(response.to_structured())
        if len(events) % 20 == 0:
            events.append(sim.page_feedback().to_structured())
    events = events[: sizes.validation]
    validate_event(events[0])  # compiles the validators; not part of the figure
    began = time.perf_counter()
    for raw in tqdm(events, desc="validation", file=sys.stderr, disable=not sizes.progress):
        validate_event(raw)
    elapsed = time.perf_counter() - began
    return {
        "events": len(events),
        "seconds": round(elapsed, 3),
        "events_per_s": _rate(len(events), elapsed),
    }


def bench_sentiment(sizes: BenchSizes) -> dict[str, Any]:
    name = "pipeline.sentiment.bench"
    try:
        if importlib.util.find_spec(name) is None:
            return {"skipped": f"{name} not available"}
        module = importlib.import_module(name)
        result = module.run(sizes.comments)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return dict(result) if isinstance(result, Mapping) else {"result": result}


def bench_alert_policy(sizes: BenchSizes) -> dict[str, Any]:
    from pipeline.alertpolicy_bench import run

    return run(min(sizes.contacts, 5000), sizes.seed)


def run_bench(args: argparse.Namespace | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """All sections; returns one JSON-serialisable dict."""
    sizes = sizes_from(args)
    began = time.perf_counter()
    out: dict[str, Any] = {
        "benchmark": "klantsignaal",
        "quick": bool(_raw(args).get("quick")),
        "machine": machine_info(),
        "sizes": {k: v for k, v in vars(sizes).items() if k != "progress"},
        # 1/5/15-minute load averages: figures from a busy machine are not comparable.
        "load_average_start": _load(),
    }
    if sizes.runtime == "kafka":
        from pipeline.bench_kafka import run_kafka_bench

        with tempfile.TemporaryDirectory(prefix="klantsignaal-bench-kafka-") as tmp:
            out["pipeline_kafka"] = run_kafka_bench(sizes, sizes.bootstrap, Path(tmp))
        out["load_average_end"] = _load()
        out["total_seconds"] = round(time.perf_counter() - began, 3)
        return out
    with tempfile.TemporaryDirectory(prefix="klantsignaal-bench-") as tmp:
        out["pipeline_embedded"] = bench_pipeline(sizes, Path(tmp))
    out["validation"] = bench_validation(sizes)
    out["sentiment"] = bench_sentiment(sizes)
    out["alert_policy"] = bench_alert_policy(sizes)
    out["load_average_end"] = _load()
    out["total_seconds"] = round(time.perf_counter() - began, 3)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--contacts", type=int, help="contacts through the embedded pipeline")
    parser.add_argument("--validation", type=int, help="events to validate")
    parser.add_argument("--comments", type=int, help="comments for the sentiment bench")
    parser.add_argument("--batch-size", type=int, help="events per publish")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--scorer", choices=("default", "lexicon"))
    parser.add_argument("--no-warehouse", action="store_true", help="stages only, no sink")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.add_argument(
        "--runtime",
        choices=("embedded", "kafka"),
        help="kafka: the worker against a bare kafka-python pass-through on one broker",
    )
    parser.add_argument("--bootstrap", help="Kafka broker (default: start one from tests/infra)")
    parser.add_argument("--edge-requests", type=int, help="single-event requests to the edge")
    parser.add_argument(
        "--workers",
        type=int,
        dest="kafka_workers",
        help="Kafka worker processes in one consumer group (default 1)",
    )
    parser.add_argument(
        "--edge-only",
        action="store_true",
        help="--runtime kafka: only the web edge (single-event requests), no worker phases",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench", description=__doc__)
    add_arguments(parser)
    print(json.dumps(run_bench(parser.parse_args(argv)), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
