"""The worker's table state (pipeline/runtimes/kafka/worker.py `TableState`) hands out
copies, sealed or not: a stage mutates what it reads (the monitor's cells, in place) and
its writes apply only when the whole record succeeded (processing.BufferedState). With
sealing on, a key that is no klant (a monitor cell, its windows) is not sealed, and `get`
used to hand out the table's own object: a record that failed after the stage changed
its cell (dead-lettered, or retried) had already changed the table's value, so the retry
counted the observation twice and the next commit could write the failed record's change
to the changelog."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import pipeline.stages.monitoring as monitoring
from pipeline.monitoring.outcomes import CONTACT_FAILED
from pipeline.runtimes.kafka.keystore import SqlKeyStore
from pipeline.runtimes.kafka.table_writes import WriteBehind
from pipeline.runtimes.kafka.worker import TableState, _process
from pipeline.sealing import Sealer
from schemas.types import MONITOR_OBSERVATION
from tests.pipeline.monitoring.test_monitoring_dedup import CELL, _observation, _stage
from tests.pipeline.monitoring.test_monitoring_pending import FakeTable

TOPIC = MONITOR_OBSERVATION.topic


def _state(
    tmp_path: Path, sealed: bool, hand_over: bool = True
) -> tuple[FakeTable, WriteBehind, TableState]:
    """monitor_cells as the worker keeps it: write-behind, handed over by its stage, sealing
    on (the default) or off."""
    sealer = Sealer(SqlKeyStore(f"sqlite:///{tmp_path / 'keys.db'}")) if sealed else None
    table, writes = FakeTable(), WriteBehind()
    return table, writes, TableState(table, sealer, writes, hand_over)


def _frozen(values: Any) -> str:
    return json.dumps(values, sort_keys=True)


@pytest.mark.parametrize("hand_over", [True, False], ids=["handed-over", "copied"])
@pytest.mark.parametrize("sealed", [True, False], ids=["sealing", "no-sealing"])
def test_a_failed_record_leaves_the_tables_value_unchanged(
    sealed: bool, hand_over: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, writes, cells = _state(tmp_path, sealed, hand_over)
    states = {"monitor_cells": cells}
    stage = _stage(warmup=10**9)
    for n in range(3):  # the cell and its window are in the table
        outcome = asyncio.run(_process(stage, TOPIC, _observation(n), states, f"0/{n}", None))
        assert outcome.dead_letter is None
    before = _frozen(dict(table))
    pending = _frozen({k: v for k, (_, v) in writes._pending[table].items()})

    def bug(*args: Any) -> None:  # the stage fails after it changed the cell it read
        raise RuntimeError("a bug in the stage")

    monkeypatch.setattr(monitoring, "save_window", bug)
    failed = asyncio.run(_process(stage, TOPIC, _observation(3), states, "0/3", None))
    assert failed.dead_letter is not None
    assert _frozen(dict(table)) == before, "the failed record changed the table's value"
    assert _frozen({k: v for k, (_, v) in writes._pending[table].items()}) == pending
    monkeypatch.undo()
    # Processed again (a retry, a replay): counted once.
    asyncio.run(_process(stage, TOPIC, _observation(3), states, "0/3", None))
    cell = cells.get(CELL)
    assert cell is not None and cell["charts"][CONTACT_FAILED]["n"] == 4


@pytest.mark.parametrize("hand_over", [True, False], ids=["handed-over", "copied"])
@pytest.mark.parametrize("sealed", [True, False], ids=["sealing", "no-sealing"])
def test_what_a_stage_gets_or_puts_is_not_the_tables_object(
    sealed: bool, hand_over: bool, tmp_path: Path
) -> None:
    """`get` always copies; `put` copies unless the stage hands its values over (it
    neither keeps nor shares them: the monitor's cells)."""
    _, _, state = _state(tmp_path, sealed, hand_over)
    value = {"n": 1, "ids": [1, 2]}
    state.put(CELL, value)
    if not hand_over:
        value["ids"].append(3)  # kept by a stage after the put
    got = state.get(CELL)
    assert got == {"n": 1, "ids": [1, 2]}
    got["ids"].append(4)  # changed by a record that then fails (no put)
    assert state.get(CELL) == {"n": 1, "ids": [1, 2]}


@pytest.mark.parametrize("sealed", [True, False], ids=["sealing", "no-sealing"])
def test_a_memory_table_is_read_from_its_store_as_faust_reads_it(
    sealed: bool, tmp_path: Path
) -> None:
    """On memory:// TableState reads the store's dict itself, not through faust's
    Table.get (Mapping.get, a sensor call, a KeyError for a key not there): the same values
    for keys there and not there, sealed or not, copied as before."""
    import faust

    app = faust.App("t-read", broker="kafka://localhost:1", store="memory://")
    table = app.Table("monitor_cells", partitions=1)
    sealer = Sealer(SqlKeyStore(f"sqlite:///{tmp_path / 'keys.db'}")) if sealed else None
    cells = TableState(table, sealer, None, True)
    klant = "k-" + "cd" * 16
    for key, value in ((CELL, {"n": [1, 2], "x": None}), (klant, {"c-1": {"k": "telefoon"}})):
        table.data[key if sealer is None else sealer.state_key(key, create=True)] = (
            value if sealer is None else sealer.seal_state(key, value)
        )
    faust_reads: list[Any] = []
    real_get = type(table).get

    def counted(self: Any, key: Any, default: Any = None) -> Any:
        faust_reads.append(key)
        return real_get(self, key, default)

    for key in (CELL, klant, "none|here", "k-" + "ef" * 16):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(type(table), "get", counted)
            want = TableState(_Via(table), sealer, None, True).get(key)  # through faust
        no_key = sealer is not None and sealer.state_key(key, create=False) is None
        assert no_key or faust_reads, "the reference read went through faust's Table.get"
        faust_reads.clear()
        got = cells.get(key)
        assert got == want
        if got is not None:
            assert got is not table.data.data.get(key)  # a copy, as before


class _Via:
    """A faust table seen through its Table.get only (not a memory store's dict)."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.data = object()  # no MemoryStore: TableState reads through get

    def get(self, key: Any) -> Any:
        return self._table.get(key)
