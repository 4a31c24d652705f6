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
