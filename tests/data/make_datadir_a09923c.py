"""Make tests/data/datadir-a09923c: a data directory written by the code of commit a09923c
(the last schema without migrations), as SQL dumps of its log.db and warehouse.db.

Run from a checkout of a09923c, with this repository's tests/ importable:
    git archive a09923c | tar -x -C /tmp/old
    cd /tmp/old && PYTHONPATH=/tmp/old:/tmp/old-tests python <this file> <out dir>
where /tmp/old-tests holds this repository's tests/ (for tests/support/warehouse_scenario.py).
tests/consumers/test_warehouse_migrations.py restores the dumps and upgrades them.
"""

from __future__ import annotations

import gzip
import sqlite3
import sys
import tempfile
from pathlib import Path

from consumers.warehouse import Warehouse, WarehouseSink
from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog
from pipeline.sentiment import load_scorer
from pipeline.settings import Settings
from pipeline.topology import TOPICS, build_topology
from tests.support.warehouse_scenario import play


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        warehouse = Warehouse(f"sqlite:///{data / 'warehouse.db'}")
        settings = Settings(data_dir=data, link_key="test-link-key")
        log = EventLog(data / "log.db")
        runtime = EmbeddedRuntime(
            log, build_topology(settings, load_scorer()), sinks=[WarehouseSink(warehouse, TOPICS)]
        )
        play(runtime.publish, runtime.run_until_idle, log.records, contacts=120, seed=3)
        warehouse.engine.dispose()
        out.mkdir(parents=True, exist_ok=True)
        for name in ("log.db", "warehouse.db"):
            conn = sqlite3.connect(data / name)
            dump = "\n".join(conn.iterdump()) + "\n"
            conn.close()
            with gzip.open(out / f"{name}.sql.gz", "wt", encoding="utf-8") as fh:
                fh.write(dump)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
