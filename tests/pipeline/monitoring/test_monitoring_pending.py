"""The response chart's open invitations under state keys of their own: every observation
reads and writes a bounded number of state keys of bounded size, however many invitations
are open; decided invitations leave no keys behind; a replay decides exactly alike."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.monitoring.charts import MonitorConfig
from pipeline.monitoring.outcomes import CONTACT_FAILED, NOT_ANSWERED
from pipeline.monitoring.pending import CHUNK, MemoryStore, Queue, new_meta
from pipeline.monitoring.response import DECIDE_BUDGET, MAX_EARLY
from pipeline.processing import BufferedState
from pipeline.runtimes.embedded import SQLiteState
from pipeline.runtimes.kafka.table_writes import WriteBehind
from pipeline.runtimes.kafka.worker import TableState
from pipeline.stages.monitoring import MonitoringStage
from pipeline.times import iso
from schemas.cloudevents import CloudEvent, derived_id, new_event
from schemas.models import Dienst, MonitorObservation
from schemas.types import MONITOR_OBSERVATION

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
CELL = "paspoort|telefoon"


class CountingStore(MemoryStore):
    """MemoryStore that records, per observation, the keys read, written and deleted."""

    def __init__(self) -> None:
        super().__init__()
        self.touched: set[str] = set()
        self.ops = 0
        self.largest = 0  # bytes of the largest value written (when `sizes`)
        self.sizes = True

    def get(self, key: str, default: Any = None) -> Any:
        self.touched.add(key)
        self.ops += 1
        return super().get(key, default)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.touched.add(key)
        self.ops += 1
        if self.sizes:
            self.largest = max(self.largest, len(json.dumps(value)))
        super().put(key, value)

    def delete(self, key: str) -> None:
        self.touched.add(key)
        self.ops += 1
        super().delete(key)

    def reset(self) -> None:
        self.touched, self.ops, self.largest = set(), 0, 0


def _observation(
    n: int, hours: float, bron: str = "contact", contact_id: str | None = None, bad: bool = False
) -> CloudEvent:
    observation = MonitorObservation(
        observation_id=derived_id("test-observation", str(n)),
        bron=bron,
        oorzaak_id=f"cause-{n}",
        dienst=Dienst("paspoort", "Paspoort"),
        kanaal="telefoon",
        waargenomen_op=iso(T0 + timedelta(hours=hours)),
        uitkomsten={CONTACT_FAILED: bad} if bron == "contact" else {},
        contact_id=contact_id,
    )
    return new_event(MONITOR_OBSERVATION.name, observation.to_dict(), source="/test", key=CELL)


def _stage(**config: Any) -> MonitoringStage:
    return MonitoringStage(config=MonitorConfig(**config))


def test_a_burst_of_20000_invitations_costs_the_same_few_keys_per_observation() -> None:
    store = CountingStore()
    stage = _stage(warmup_min=10**9)  # the chart only counts (stays in warm-up)
    state = {"monitor_cells": store}
    per_invitation = []
    for i in range(20_000):  # all within one hour: one deadline hour, one busy cell
        store.reset()
        store.sizes = i % 50 == 0 or i % CHUNK == CHUNK - 1  # sizes: a sample, full chunks
        stage.process(
            "monitor-observations", _observation(i, i / 20_000, "invitation", f"c{i}"), state
        )
        per_invitation.append((len(store.touched), store.ops, store.largest))
    assert store[CELL]["response"]["pending"]["n"] == 20_000
    # Cell, the invitation's index key, the early-answer index key, the tail chunk.
    assert max(k for k, _, _ in per_invitation) == 4
    assert max(o for _, o, _ in per_invitation) <= 7
    # Values stay small: the cell holds counters, a chunk at most CHUNK entries.
    assert max(b for _, _, b in per_invitation) < 5_000
    assert per_invitation[-1][:2] == per_invitation[CHUNK // 2][:2], "the 20,000th: the same"

    # An answer: its index key and its chunk (plus the cell).
    store.reset()
    store.sizes = True
    stage.process("monitor-observations", _observation(20_000, 2, "response", "c7"), state)
    assert len(store.touched) == 3 and store.largest < 5_000

    # Past the deadline: each observation decides at most DECIDE_BUDGET invitations, in
    # the order they were made, and deletes their keys; the backlog drains in order.
    drained, n = [], 20_001
    while store[CELL]["response"]["pending"]["n"]:
        store.reset()
        stage.process("monitor-observations", _observation(n, 80 + n / 1000), state)
        drained.append(len(store.touched))
        n += 1
    assert max(drained) <= DECIDE_BUDGET + 4  # index keys + two chunks + the cell
    assert len(drained) <= 20_000 // (DECIDE_BUDGET - 1) + 2  # a chunk change costs one
    chart = store[CELL]["charts"][NOT_ANSWERED]
    assert (chart["n"], chart["bad"]) == (20_000, 19_999), "c7 answered, the rest not"
    assert sorted(store) == [CELL], "no invitation keys left behind"


def _stream(seed: int) -> list[CloudEvent]:
    """Invitations over 12 days, ~30% answered within hours, some answers arriving before
    their invitation (another topic on Kafka), some after the window; contacts between."""
    rng = random.Random(seed)
    events: list[tuple[float, int, str, str | None, bool]] = []
    for i in range(1500):
        at = i * 0.2  # an invitation every 12 minutes, 300 hours
        events.append((at, 3 * i, "invitation", f"c{i}", False))
        events.append((at + 0.05, 3 * i + 1, "contact", None, rng.random() < 0.1))
        if rng.random() < 0.3 and i < 1400:
            delay = rng.choice([-0.1, 1.0, 5.0, 80.0])  # early, normal, late (> 72 h)
            events.append((at + delay, 3 * i + 2, "response", f"c{i}", False))
    events.sort()
    return [_observation(n, at, bron, ref, bad) for at, n, bron, ref, bad in events]


def _run(events: list[CloudEvent], repeat: bool = False) -> tuple[list[dict], MemoryStore]:
    store = MemoryStore()
    stage = _stage(warmup_min=100, warmup_days=1, arl0=300)
    alerts = []
    for event in events:
        for _ in range(2 if repeat else 1):  # at-least-once: every observation twice
            for out in stage.process("monitor-observations", event, {"monitor_cells": store}):
                alerts.append(out.event.data)
    return alerts, store


def test_a_replay_decides_exactly_alike_and_leaves_only_open_invitations() -> None:
    events = _stream(3)
    first, store = _run(events)
    again, store_again = _run(events)
    twice, store_twice = _run(events, repeat=True)
    assert first == again == twice
    assert store == store_again == store_twice
    cell = store[CELL]
    assert cell["charts"][NOT_ANSWERED]["phase"] != "warmup", "invitations were decided"
    # Only the invitations of the last 72 h (event time) are still open, each with one
    # index key, in chunks of CHUNK.
    last = max(e.data["waargenomenOp"] for e in events)
    made = [e.data["waargenomenOp"] for e in events if e.data["bron"] == "invitation"]
    cut = iso(datetime.fromisoformat(last) - timedelta(hours=72))
    open_now = cell["response"]["pending"]["n"]
    assert open_now == len([m for m in made if m > cut]) > 0, open_now
    index = [k for k in store if k.startswith(f"{CELL}|p|i|")]
    chunks = [k for k in store if k.startswith(f"{CELL}|p|q|")]
    assert len(index) == open_now
    assert len(chunks) == -(-open_now // CHUNK) or len(chunks) == -(-open_now // CHUNK) + 1
    # Answers after their invitation was decided wait as "early" for one window too
    # (they change nothing); those of the last 72 h are still there, nothing else.
    invited_at = {
        e.data["contactId"]: e.data["waargenomenOp"]
        for e in events
        if e.data["bron"] == "invitation"
    }
    late = [
        e.data["waargenomenOp"]
        for e in events
        if e.data["bron"] == "response"
        and datetime.fromisoformat(e.data["waargenomenOp"])
        >= datetime.fromisoformat(invited_at[e.data["contactId"]]) + timedelta(hours=72)
    ]
    waiting = len([m for m in late if m > cut])
    assert cell["response"]["early"]["n"] == waiting > 0
    assert len([k for k in store if k.startswith(f"{CELL}|e|i|")]) == waiting


def test_early_answers_are_bounded_and_expire() -> None:
    store = MemoryStore()
    stage = _stage(warmup_min=10**9)
    state = {"monitor_cells": store}
    for i in range(MAX_EARLY + 50):  # answers whose invitations never come
        stage.process("monitor-observations", _observation(i, i / 1000, "response", f"x{i}"), state)
    # The oldest are let go before a new one waits: never more than MAX_EARLY + 1.
    assert store[CELL]["response"]["early"]["n"] == MAX_EARLY + 1
    assert len([k for k in store if k.startswith(f"{CELL}|e|i|")]) == MAX_EARLY + 1
    for n in range(MAX_EARLY // 16 + 2):  # a window later they expire, 16 per observation
        stage.process("monitor-observations", _observation(10_000 + n, 100 + n), state)
    assert sorted(store) == [CELL]


def test_the_queue_decides_the_oldest_beyond_its_limit() -> None:
    store, meta = MemoryStore(), new_meta()
    queue = Queue(store, "q", meta)
    for i in range(200):
        queue.push(f"k{i}", 10_000 + i)
    queue.flush()
    queue = Queue(store, "q", meta)
    gone = [key for key, _ in queue.expire(now=0, limit=150, budget=1000)]
    queue.flush()
    assert gone == [f"k{i}" for i in range(50)] and len(queue) == 150
    assert queue.remove("k120") == [10_120, 0] and "k120" not in queue
    queue.flush()
    gone = [key for key, _ in Queue(store, "q", meta).expire(now=10_130, limit=150, budget=1000)]
    assert gone == [f"k{i}" for i in range(50, 131) if i != 120]


def test_state_adapters_delete() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE state (namespace TEXT, key TEXT, value TEXT, PRIMARY KEY (namespace, key))"
    )
    sqlite_state = SQLiteState(conn, "monitor_cells")
    sqlite_state.put("a", {"x": 1})
    sqlite_state.put("b", {"x": 2})
    sqlite_state.flush()
    buffered = BufferedState(sqlite_state)
    buffered.delete("a")
    assert buffered.get("a") is None and sqlite_state.get("a") == {"x": 1}, "not before flush"
    buffered.flush()
    assert sqlite_state.get("a") is None, "read sees the unwritten delete"
    sqlite_state.flush()
    assert conn.execute("SELECT key FROM state").fetchall() == [("b",)]
    table = FakeTable({"a": {"x": 1}})
    TableState(table, None, None).delete("a")
    assert table == {}
    # Write-behind (monitor_cells on Kafka): the tombstone replaces a pending value.
    writes = WriteBehind()
    kafka_state = TableState(table, None, writes)
    kafka_state.put("b", {"x": 2})
    kafka_state.put("c", {"x": 3})
    kafka_state.delete("b")
    kafka_state.delete("never-there")
    assert kafka_state.get("b") is None and dict(table) == {"c": {"x": 3}}
    asyncio.run(writes.publish())
    assert table.sent == [("b", None), ("c", {"x": 3})]


class FakeTable(dict):
    """The part of a faust Table that TableState and WriteBehind use."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.data = self
        self.sent: list[tuple[str, Any]] = []

    def __hash__(self) -> int:  # a table is a key of the pending writes
        return id(self)

    def partition_for_key(self, key: str) -> int:
        return 0

    def send_changelog(self, partition: int, key: str, value: Any) -> None:
        self.sent.append((key, value))
