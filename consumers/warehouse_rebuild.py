"""Rebuilding the warehouse from the log (embedded) or the topics (Kafka), from the start.

Every event-derived table (REBUILT) is filled again through the same WarehouseSink the live
system uses, so the result equals the live warehouse row for row, apart from arrival-time
columns (ARRIVAL_COLUMNS). Tables written by the web side and not by events (NOT_REBUILT)
are never touched. The target must be empty, unless `replace` clears its rebuilt tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import delete, func, select

from consumers.warehouse import EXTRA_ROWS, ROWS, Warehouse, WarehouseSink, metadata
from consumers.warehouse_revisions import response_details
from consumers.warehouse_schema import KANALEN, dim_kanaal, star_metadata
from pipeline.ports import SinkRecord
from pipeline.topology import TOPICS

log = logging.getLogger(__name__)

FACTS: tuple[str, ...] = tuple(
    sorted(
        {table.name for table, _ in ROWS.values()}
        | {table.name for extras in EXTRA_ROWS.values() for table, _ in extras}
        | {"contact_sources", "dead_letters", response_details.name}
    )
)
DIMENSIONS: tuple[str, ...] = tuple(sorted(star_metadata.tables))
REBUILT: tuple[str, ...] = FACTS + DIMENSIONS
# Written by the web side (questionnaire, inbox), not derived from events: kept as they are.
NOT_REBUILT: tuple[str, ...] = ("questionnaire_visits", "sentiment_corrections")
# The only columns a rebuild cannot reproduce: when the sink happened to store the row.
ARRIVAL_COLUMNS: tuple[str, ...] = ("stored_at",)


class NotEmpty(Exception):
    """The target warehouse already holds event-derived rows."""


class Replay(Protocol):
    total: int

    def batches(self) -> Iterable[Any]: ...  # ReplayBatch: .records, .read


@dataclass
class RebuildReport:
    target: str
    read: int = 0
    stored: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _table(name: str) -> Any:
    return (metadata.tables | star_metadata.tables | {response_details.name: response_details})[
        name
    ]


def row_counts(warehouse: Warehouse, tables: Iterable[str] = REBUILT) -> dict[str, int]:
    with warehouse.engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(_table(name))).scalar_one())
            for name in tables
        }


def prepare_target(url: str, replace: bool) -> Warehouse:
    """The target warehouse at the newest schema, empty of event-derived rows."""
    warehouse = Warehouse(url)
    filled = {name: n for name, n in row_counts(warehouse, FACTS).items() if n}
    if filled and not replace:
        raise NotEmpty(
            "het doel-warehouse is niet leeg ("
            + ", ".join(f"{name}: {n}" for name, n in sorted(filled.items()))
            + "); kies --into met een lege database, of --replace"
        )
    if filled or replace:
        log.warning("clearing the rebuilt tables of the target: %s", ", ".join(REBUILT))
        with warehouse.engine.begin() as conn:
            for name in REBUILT:
                conn.execute(delete(_table(name)))
            # The channel dimension starts with every known channel, as a new schema does.
            conn.execute(
                dim_kanaal.insert(),
                [{"kanaal": k, "omschrijving": v} for k, v in KANALEN.items()],
            )
    return warehouse


def rebuild(
    replay: Replay,
    warehouse: Warehouse,
    progress: Callable[[int], None] = lambda _n: None,
) -> RebuildReport:
    """Feed every batch of `replay` through the warehouse sink."""
    sink = WarehouseSink(warehouse, TOPICS)
    report = RebuildReport(target=warehouse.engine.url.render_as_string(hide_password=True))
    started = time.monotonic()
    for batch in replay.batches():
        records: list[SinkRecord] = batch.records
        if records:
            sink.handle(records)
        report.read += batch.read
        progress(batch.read)
    report.seconds = round(time.monotonic() - started, 2)
    report.stored = row_counts(warehouse)
    log.info(
        "rebuild done: %d record(s) read in %.1f s; rows: %s",
        report.read,
        report.seconds,
        ", ".join(f"{k}={v}" for k, v in report.stored.items()),
    )
    return report
