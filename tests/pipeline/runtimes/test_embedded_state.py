"""The embedded stage state hands out a fresh value on every get, equal to the JSON last
put: also when a get right after a put takes the value the put's NaN check decoded
(jsonfast.dumps_read_back) instead of decoding again."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from pipeline.runtimes.embedded import EventLog, SQLiteState
from schemas import jsonfast


def _cell() -> dict[str, Any]:
    # The monitor cell's shape: nulls (read back by the NaN check), small lists of positions.
    return {
        "seen": ["a", "b"],
        "seen_at": [[0, 1, 0], None],
        "marks": [None],
        "response": {"pending": {"n": 0, "next": None}},
    }


def test_a_get_after_a_put_is_fresh_and_equal_to_the_json(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.db")
    with log.transaction() as conn:
        state = SQLiteState(conn, "monitor_cells")
        put = _cell()
        state.put("x", put)
        put["seen"].append("changed after the put")  # the stage's own object
        first = state.get("x")
        assert first == _cell() and first is not put
        first["seen"].append("the stage mutates what it got, then fails")
        first["marks"][0] = [9, 9]
        again = state.get("x")  # decoded from the JSON: the failed record left nothing
        assert again == _cell() and again is not first
        again["seen"].append("c")
        state.put("x", again)
        state.flush()
        after_flush = state.get("x")
        assert after_flush == {**_cell(), "seen": ["a", "b", "c"]}
        assert state.get("x") == after_flush and state.get("x") is not after_flush
    with log.transaction() as conn:  # and what was written is the same value
        assert SQLiteState(conn, "monitor_cells").get("x") == after_flush


def test_a_nan_a_delete_and_a_value_without_nulls_replace_what_a_put_read_back(
    tmp_path: Path,
) -> None:
    log = EventLog(tmp_path / "log.db")
    with log.transaction() as conn:
        state = SQLiteState(conn, "s")
        state.put("k", _cell())
        with_nan = copy.deepcopy(_cell())
        with_nan["marks"] = [math.nan]
        state.put("k", with_nan)  # the stdlib writes NaN: nothing read back, get decodes
        got = state.get("k")
        assert got is not None and math.isnan(got["marks"][0])
        assert state._unwritten["k"] == jsonfast._stdlib_dumps(with_nan).decode()
        state.put("k", _cell())
        state.delete("k")
        assert state.get("k") is None
        state.put("k", _cell())
        state.put("k", {"no": "nulls"})  # orjson's text, not read back: the older one must go
        assert state.get("k") == {"no": "nulls"}


def test_a_handed_over_value_comes_back_once_and_its_json_stays(tmp_path: Path) -> None:
    """`hand_over` (the monitor's cells): a get after a put hands back the object put, and
    keeps a copy first, so what a failing record then changes in it is not kept; the next
    get gives that copy (a NaN included); flush writes the JSON; a delete drops it."""
    log = EventLog(tmp_path / "log.db")
    with log.transaction() as conn:
        state = SQLiteState(conn, "monitor_cells", hand_over=True)
        put = _cell()
        state.put("x", put)
        assert "x" not in state._unwritten, "no JSON yet"
        first = state.get("x")
        assert first is put and "x" not in state._unwritten
        first["seen"].append("the stage mutates what it got, then fails")
        first["marks"][0] = [9, 9]
        again = state.get("x")
        assert again == _cell() and again is not first
        assert state.get("x") == _cell(), "the copy stays until a put"
        again["seen"].append("c")
        state.put("x", again)
        state.put("gone", _cell())
        state.delete("gone")
        state.put("nan", {"v": [math.nan, None]})
        assert state.get("nan") is not None  # handed back; the record then fails
        state.flush()
        assert state.get("gone") is None
        assert state._stored["nan"] == '{"v":[NaN,null]}', "the copy, NaN kept, as JSON"
        assert state.get("x") == {**_cell(), "seen": ["a", "b", "c"]}
    with log.transaction() as conn:
        assert SQLiteState(conn, "monitor_cells").get("x") == {**_cell(), "seen": ["a", "b", "c"]}


def test_a_failed_records_changes_do_not_reach_the_next_record_through_the_hand_over(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The monitor's cells handed from one record to the next within a batch
    (SQLiteState `hand_over`, pipeline/runtimes/embedded.py): `get` hands back the very
    object the previous record put. A record that changes it and then fails (dead-lettered)
    must leave the next record the value before it: its observation not counted, the
    same cell and window as without the hand-over. Six observations of one cell in one
    batch through the embedded runtime, the fourth failing after the stage changed the
    cell it read."""
    import dataclasses

    import pipeline.stages.monitoring as monitoring
    from pipeline.monitoring.outcomes import CONTACT_FAILED
    from pipeline.runtimes.embedded import EmbeddedRuntime
    from pipeline.topology import DEAD_LETTER, Topology
    from schemas.types import MONITOR_OBSERVATION
    from tests.pipeline.monitoring.test_monitoring_dedup import CELL, _observation, _stage

    save_window, calls = monitoring.save_window, [0]

    def failing_fourth(*args: Any) -> None:  # after observe_cell changed the cell in place
        calls[0] += 1
        if calls[0] == 4:
            raise RuntimeError("a bug in the stage")
        save_window(*args)

    monkeypatch.setattr(monitoring, "save_window", failing_fourth)
    found = []
    for handed in (("monitor_cells",), ()):
        calls[0] = 0
        stage = dataclasses.replace(_stage(warmup=10**9), handed_over_states=handed)
        log = EventLog(tmp_path / f"{bool(handed)}.db")
        runtime = EmbeddedRuntime(log, Topology((stage,)))
        runtime.publish(MONITOR_OBSERVATION.topic, [_observation(n) for n in range(6)])
        assert runtime._run_stages() == 6  # one batch: handed over record to record
        rows = log._connection().execute("SELECT key, value FROM state ORDER BY key").fetchall()
        cell = jsonfast.loads(dict(rows)[CELL])
        assert cell["charts"][CONTACT_FAILED]["n"] == 5, "the failed record was counted"
        assert _observation(3).id not in cell["seen"]
        assert len(log.records(DEAD_LETTER)) == 1
        found.append(rows)
    assert found[0] == found[1], "handed over or not: the same cell and window"
