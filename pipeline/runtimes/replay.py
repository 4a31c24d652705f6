"""Reading the embedded runtime's log from the start, as its sinks read it (for rebuilds).

The records come exactly as `EmbeddedRuntime._run_sink` hands them to a sink: same topics,
same order, same positions (log offsets). Read-only: no consumer offset moves, so a rebuild
never disturbs the running system's own sinks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.ports import SinkRecord
from pipeline.processing import sink_record
from pipeline.runtimes.embedded import EventLog, _decode
from pipeline.topology import DEAD_LETTER


@dataclass(frozen=True)
class ReplayBatch:
    records: list[SinkRecord]
    read: int  # log records read for this batch (some may be skipped as undecodable)


class LogReplay:
    """The sink's view of the log, from offset 0 up to the end as it was when counted."""

    def __init__(self, path: Path, topics: Sequence[str], batch_size: int = 500):
        if not path.exists():
            raise FileNotFoundError(f"geen log gevonden: {path}")
        self.path = path
        self.topics = tuple(topics)
        self.batch_size = batch_size
        conn = self._connect()
        marks = ",".join("?" * len(self.topics))
        self.end, self.total = conn.execute(
            f"SELECT COALESCE(MAX(offset), 0), COUNT(*) FROM log WHERE topic IN ({marks})",
            self.topics,
        ).fetchone()
        conn.close()

    def _connect(self) -> sqlite3.Connection:
        # Read-only: a rebuild must never write to the log of a running system.
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)

    def batches(self) -> Iterator[ReplayBatch]:
        conn = self._connect()
        after = 0
        try:
            while after < self.end:
                rows = EventLog.read(conn, self.topics, after, self.batch_size)
                rows = [r for r in rows if r.offset <= self.end]
                if not rows:
                    return
                after = rows[-1].offset
                batch = []
                for rec in rows:
                    decoded = None if rec.topic == DEAD_LETTER else _decode(rec.value)
                    item = sink_record(
                        rec.topic, str(rec.offset), decoded, rec.value, {"value": rec.value}
                    )
                    if item is not None:
                        batch.append(item)
                yield ReplayBatch(batch, len(rows))
        finally:
            conn.close()
