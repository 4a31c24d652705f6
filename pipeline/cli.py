"""The `klantsignaal` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pipeline.settings import Settings

log = logging.getLogger("klantsignaal")


def _settings(args: argparse.Namespace, runtime: str | None = None) -> Settings:
    return Settings.from_env(
        runtime=runtime,
        data_dir=Path(args.data_dir) if getattr(args, "data_dir", None) else None,
        port=getattr(args, "port", None),
        host=getattr(args, "host", None),
        log_format=getattr(args, "log_format", None),
        ops_port=getattr(args, "ops_port", None),
    )


def _logging(settings: Settings) -> None:
    from pipeline.ops.logs import configure

    configure(settings.log_level, settings.log_format)  # text or JSON lines, scrubbed


def _ops(settings: Settings, component: str) -> None:
    """/healthz, /readyz and /metrics on KLANTSIGNAAL_OPS_PORT (docs/operations.md)."""
    from pipeline.ops.health import serve_ops

    serve_ops(settings, component)


def cmd_run(args: argparse.Namespace) -> int:
    """The whole system on the embedded default."""
    import uvicorn

    from pipeline.app import build_embedded

    settings = _settings(args)
    _logging(settings)
    os.umask(0o077)  # whatever the process writes (models, exports) is for its account only
    system = build_embedded(settings)
    from pipeline.gc_tuning import freeze_startup_heap, raise_young_threshold

    freeze_startup_heap()  # the pipeline thread's full collections skip it (gc_tuning.py)
    raise_young_threshold()  # fewer young collections per record (gc_tuning.py)
    system.start()
    _ops(settings, "run")
    from pipeline.privacy_cli import RetentionJob

    retention = RetentionJob(system.settings, log)
    retention.start()
    s = system.settings
    print(
        f"klantsignaal draait op {s.base_url}  (data: {s.data_dir.resolve()})\n"
        f"API-token staat in {s.data_dir.resolve() / 'secrets.json'} "
        "(of zet KLANTSIGNAAL_API_TOKEN)\n"
        "Stoppen: Ctrl+C",
        flush=True,
    )
    try:
        uvicorn.run(system.web, host=s.host, port=s.port, log_level="warning", log_config=None)
    finally:
        retention.stop()
        system.close()
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    """Only the web edge (API, questionnaire) publishing to Kafka; workers run apart."""
    import uvicorn

    from consumers.warehouse import Warehouse
    from pipeline.app import build_web
    from pipeline.runtimes.kafka.broker_probe import watch_broker
    from pipeline.runtimes.kafka.publisher import KafkaPublisher

    settings = _settings(args, runtime="kafka").with_secrets()
    _logging(settings)
    publisher = KafkaPublisher(settings)
    try:
        web = build_web(settings, publisher, Warehouse(settings.warehouse))
        watch_broker(settings)  # /readyz: 503 while no Kafka broker answers
        _ops(settings, "web")
        from pipeline.gc_tuning import freeze_startup_heap

        freeze_startup_heap()  # full collections no longer stall requests (gc_tuning.py)
        uvicorn.run(
            web, host=settings.host, port=settings.port, log_level="warning", log_config=None
        )
    finally:
        publisher.close()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """The stream processors (faust agents) on Kafka."""
    from pipeline.runtimes.kafka.worker import run_worker

    settings = _settings(args, runtime="kafka")
    _logging(settings)
    run_worker(settings)
    return 0


def cmd_sink(args: argparse.Namespace) -> int:
    """The warehouse sink reading the Kafka topics."""
    from consumers.warehouse import Warehouse, WarehouseSink
    from pipeline.runtimes.kafka.sinks import run_sink
    from pipeline.topology import TOPICS

    settings = _settings(args, runtime="kafka")
    _logging(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    _ops(settings, "sink")
    run_sink(settings, WarehouseSink(Warehouse(settings.warehouse), TOPICS), stop)
    return 0


def cmd_notifications_status(args: argparse.Namespace) -> int:
    """Counts per status and the failures of the notification outbox, as JSON."""
    from consumers.notify_outbox import Outbox

    settings = _settings(args)
    print(json.dumps(Outbox(settings.warehouse).status(), indent=2, ensure_ascii=False))
    return 0


def cmd_notifications_run(args: argparse.Namespace) -> int:
    """Kafka mode: new alerts from the topic into the outbox, and the sender."""
    from consumers.notifications import build_notifications
    from pipeline.runtimes.kafka.sinks import run_sink

    settings = _settings(args, runtime="kafka")
    _logging(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sink, sender = build_notifications(settings)
    _ops(settings, "notifications")
    sender.start()
    try:
        run_sink(settings, sink, stop)
    finally:
        sender.stop()
    return 0


def cmd_dispatch(args: argparse.Namespace) -> int:
    """Kafka mode: e-mail/SMS dispatch (its sink on the topics plus the sending loop)."""
    from consumers.dispatcher import build_dispatch
    from pipeline.runtimes.kafka.publisher import KafkaPublisher
    from pipeline.runtimes.kafka.sinks import run_sink

    settings = _settings(args, runtime="kafka").with_secrets()
    _logging(settings)
    stop = threading.Event()
    publisher = KafkaPublisher(settings)
    sink, dispatcher = build_dispatch(settings, publisher)
    _ops(settings, "dispatch")
    feeding = threading.Thread(target=run_sink, args=(settings, sink, stop), daemon=True)
    feeding.start()
    dispatcher.start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            if not feeding.is_alive():
                log.error("dispatch sink stopped; exiting")
                return 1
    finally:
        dispatcher.stop()
        feeding.join(timeout=10)
        publisher.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulated contacts, invitations and answers through the embedded pipeline."""
    from tqdm import tqdm

    from consumers.funnel import SqlVisitRecorder, funnel
    from pipeline.app import build_embedded
    from producers.simulator import ContactSimulator, run_demo

    settings = _settings(args)
    system = build_embedded(settings)
    simulator = ContactSimulator(seed=args.seed, pseudonym_key=system.settings.pseudonym_key)
    with tqdm(total=args.contacts, desc="contacten", unit="contact") as bar:
        counts = run_demo(
            system.runtime,
            args.contacts,
            simulator=simulator,
            progress=bar.update,
            visits=SqlVisitRecorder(system.warehouse),
        )
    system.runtime.run_until_idle()  # type: ignore[union-attr]
    totals = funnel(system.warehouse, "kanaal")["totals"]
    print(json.dumps({**counts, "alerts": system.warehouse.count("alerts"), "funnel": totals}))
    system.close()
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pipeline.bench import run_bench

    print(json.dumps(run_bench(args), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="klantsignaal",
        description="Klantsignalen voor gemeenten: enquête na elk contact, sentiment, "
        "terugbelsignalen en een warehouse. Configuration: KLANTSIGNAAL_* environment "
        "variables (see docs/operations.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole system on the embedded default (SQLite)")
    run.add_argument("--port", type=int, help="web port (default 8000)")
    run.add_argument("--host", help="listen address (default 127.0.0.1)")
    run.add_argument("--data-dir", help="where log, state and warehouse live")
    run.set_defaults(func=cmd_run)

    web = sub.add_parser("web", help="Kafka mode: the web edge (API, questionnaire, alerts)")
    web.add_argument("--port", type=int)
    web.add_argument("--host")
    web.add_argument("--data-dir")
    web.set_defaults(func=cmd_web)

    worker = sub.add_parser("worker", help="Kafka mode: the stream processing stages (faust)")
    worker.add_argument("--data-dir")
    worker.set_defaults(func=cmd_worker)

    sink = sub.add_parser("sink", help="Kafka mode: the warehouse sink")
    sink.add_argument("--data-dir")
    sink.set_defaults(func=cmd_sink)

    notify = sub.add_parser("notifications", help="team notifications (e-mail, webhooks)")
    notify_sub = notify.add_subparsers(dest="notifications_command", required=True)
    status = notify_sub.add_parser("status", help="outbox counts and failures (JSON)")
    status.add_argument("--data-dir")
    status.set_defaults(func=cmd_notifications_status)
    notify_run = notify_sub.add_parser("run", help="Kafka mode: the notification sink and sender")
    notify_run.add_argument("--data-dir")
    notify_run.set_defaults(func=cmd_notifications_run)

    dispatch = sub.add_parser("dispatch", help="Kafka mode: e-mail and SMS dispatch")
    dispatch.add_argument("--data-dir")
    dispatch.set_defaults(func=cmd_dispatch)

    for long_running in (run, web, worker, sink, notify_run, dispatch):
        add_ops_arguments(long_running)

    from pipeline.bench import add_arguments

    bench = sub.add_parser(
        "bench",
        help="run the benchmarks; prints one JSON object (progress on stderr)",
        description="Pipeline throughput against a raw-log baseline, schema validation and "
        "sentiment speed against the lexicon baseline, all in one process.",
    )
    add_arguments(bench)
    bench.set_defaults(func=cmd_bench)

    demo = sub.add_parser(
        "demo", help="fill the embedded system with simulated contacts and answers"
    )
    demo.add_argument("--contacts", type=int, default=2000, help="how many contacts (2000)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--data-dir")
    demo.set_defaults(func=cmd_demo)

    from pipeline.sentiment.cli import register

    def warehouse_weak_labels(url: str) -> Any:
        from consumers.warehouse import weak_label_source  # only retrain needs SQLAlchemy

        return weak_label_source(url)

    def warehouse_corrections(url: str) -> Any:
        from consumers.sentiment_corrections import correction_source

        return correction_source(url)

    register(sub, warehouse_weak_labels, warehouse_corrections)

    from pipeline.privacy_cli import register as register_privacy

    register_privacy(sub, _settings)

    from pipeline.web.admin_cli import register as register_admin

    register_admin(sub)
    from pipeline.monitoring.cli import register as register_monitor

    register_monitor(sub)
    from pipeline.warehouse_cli import register as register_warehouse

    register_warehouse(sub, _settings)
    return parser


def add_ops_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log lines as text or one JSON object each (default: KLANTSIGNAAL_LOG_FORMAT, text)",
    )
    parser.add_argument(
        "--ops-port",
        type=int,
        help="port of /healthz, /readyz and /metrics (default: KLANTSIGNAAL_OPS_PORT; 0: off)",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
