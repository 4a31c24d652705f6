"""`klantsignaal warehouse rebuild`: replay the log (embedded) or the topics (Kafka) into an
empty warehouse, with a progress bar on stderr and a JSON summary on stdout."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger("klantsignaal.warehouse")

DESCRIPTION = """\
Rebuild the warehouse from the start of the event log (embedded runtime: log.db in the
data directory) or of the Kafka topics (Kafka runtime: read from the beginning with
read_committed, without a consumer group, so the running sinks are not disturbed).

The target is the configured warehouse (KLANTSIGNAAL_WAREHOUSE_URL, else warehouse.db in
the data directory) or --into URL. It is brought to the newest schema first and must hold
no event-derived rows, unless --replace: then those tables are cleared and filled again.
Tables the web side writes (questionnaire_visits, sentiment_corrections) are never touched.
Stop the warehouse sink (or `klantsignaal run`) before --replace on the live warehouse.
See docs/warehouse.md."""


def _replay(settings: Any, batch_size: int) -> Any:
    from pipeline.topology import TOPICS

    if settings.runtime == "kafka":
        from pipeline.runtimes.kafka.replay import TopicReplay

        if not settings.kafka_seal:
            log.warning(
                "Kafka without crypto-shredding: `privacy forget` does not reach the topics; "
                "citizens forgotten since will come back: forget them again afterwards"
            )
        return TopicReplay(settings, TOPICS, batch_size=batch_size)
    from pipeline.runtimes.replay import LogReplay

    return LogReplay(settings.data_dir / "log.db", TOPICS, batch_size=batch_size)


def cmd_rebuild(args: argparse.Namespace, settings: Any) -> int:
    from tqdm import tqdm

    from consumers.warehouse_rebuild import NotEmpty, prepare_target, rebuild

    target = args.into or settings.warehouse
    source = "Kafka topics" if settings.runtime == "kafka" else "log.db"
    try:
        replay = _replay(settings, args.batch_size)
        warehouse = prepare_target(target, replace=args.replace)
    except (NotEmpty, FileNotFoundError, LookupError) as exc:
        print(f"klantsignaal warehouse rebuild: {exc}", file=sys.stderr)
        return 2
    log.info("rebuilding from %s (%d records) into %s", source, replay.total, target)
    with tqdm(total=replay.total, desc="warehouse", unit="record", file=sys.stderr) as bar:
        report = rebuild(replay, warehouse, progress=bar.update)
    print(json.dumps({"source": source, **report.__dict__}, indent=2, ensure_ascii=False))
    return 0


def register(sub: Any, settings_of: Callable[..., Any]) -> None:
    warehouse = sub.add_parser("warehouse", help="the warehouse: rebuild it from the log")
    commands = warehouse.add_subparsers(dest="warehouse_command", required=True)
    rebuild = commands.add_parser(
        "rebuild",
        help="replay the log (embedded) or the topics (Kafka) into an empty warehouse",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rebuild.add_argument("--data-dir", help="data directory (log.db, warehouse.db)")
    rebuild.add_argument(
        "--runtime",
        choices=("embedded", "kafka"),
        help="where the events are (default: KLANTSIGNAAL_RUNTIME, else embedded)",
    )
    rebuild.add_argument("--into", metavar="URL", help="SQLAlchemy URL of the target database")
    rebuild.add_argument(
        "--replace",
        action="store_true",
        help="clear the event-derived tables of a non-empty target first",
    )
    rebuild.add_argument("--batch-size", type=int, default=500, help="records per write (500)")

    def run(args: argparse.Namespace) -> int:
        settings = settings_of(args, runtime=args.runtime)
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return cmd_rebuild(args, settings)

    rebuild.set_defaults(func=run)
