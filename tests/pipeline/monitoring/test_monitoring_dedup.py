"""Each observation counted once in its cell however long the replay
(pipeline/monitoring/dedup.py): a monitor-feed that crashed replays every observation since
its last commit with the same ids, and a replay of more than a cell's window of ids
(SEEN_IDS) used to count the older ones twice. Observations carry where they came from
(`bronpositie`); records without it (older ones) keep the id window."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.monitoring.batches import coalesce
from pipeline.monitoring.cell import SEEN_IDS
from pipeline.monitoring.charts import MonitorConfig
from pipeline.monitoring.dedup import LOG_WINDOW
from pipeline.monitoring.outcomes import CONTACT_FAILED
from pipeline.monitoring.pending import MemoryStore
from pipeline.processing import (
    DeadLetter,
    Output,
    outputs,
    positioned,
    process_record,
    record_items,
    with_event,
)
from pipeline.stages.monitoring import MonitorFeedStage, MonitoringStage
from pipeline.times import iso
from schemas.cloudevents import CloudEvent, built, derived_id, new_event
from schemas.models import Dienst, MonitorObservation
from schemas.types import CONTACT, MONITOR_OBSERVATION
from schemas.validation import schema_id, validate_data
from tests.support.events import contact_event, klant

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
TOPIC = MONITOR_OBSERVATION.topic
CELL = "paspoort|telefoon"


def _observation(n: int, log: str | None = "contact-events/0", item: int = 0) -> CloudEvent:
    """Observation n of one cell, from the input record at offset 3n of `log` (other
    records between, for other cells); a warm-up at one failed contact in seven, then
    every contact failing (a service alert). `log` None: an older record, no position."""
    obs = MonitorObservation(
        observation_id=derived_id("test-observation", str(n), str(item)),
        bron="contact",
        oorzaak_id=f"cause-{n}",
        dienst=Dienst("paspoort", "Paspoort"),
        kanaal="telefoon",
        waargenomen_op=iso(T0 + timedelta(minutes=10 * n)),
        uitkomsten={CONTACT_FAILED: n > 120 or n % 7 == 3},
        bronpositie=None if log is None else {"log": log, "offset": 3 * n, "item": item},
    )
    event = new_event(MONITOR_OBSERVATION.name, obs.to_dict(), source="/t", key=CELL)
    stamped = {**event.__dict__, "dataschema": schema_id(MONITOR_OBSERVATION.name)}
    return built({**stamped, "id": obs.observation_id})


def _stage(warmup: int) -> MonitoringStage:
    return MonitoringStage(config=MonitorConfig(warmup_min=warmup, warmup_days=0, arl0=300))


def _run(store: MemoryStore, records: list[CloudEvent], warmup: int = 10**9) -> list[Any]:
    """Records through the path both runtimes take: (topic, id) of every output. With the
    default `warmup` the charts stay in warm-up, where `n` counts every outcome."""
    stage, out = _stage(warmup), []
    for offset, record in enumerate(records):
        for item, position, raw in record_items(TOPIC, record, f"0/{offset}", None):
            outcome = process_record(stage, TOPIC, item, {"monitor_cells": store}, position, raw)
            out += [(o.topic, o.event.id) for o in outputs(outcome, stage.name, CELL) if o.event]
    return out


def _runs(events: list[CloudEvent], size: int) -> list[CloudEvent]:
    return [r for i in range(0, len(events), size) for r in coalesce(events[i : i + size])]


def _counted(store: MemoryStore) -> int:
    return store[CELL]["charts"][CONTACT_FAILED]["n"]


def _windows(store: MemoryStore) -> list[str]:
    """The logs that have a window in the cell (dedup.window_key)."""
    prefix = f"{CELL}|b|"
    return sorted(k.removeprefix(prefix) for k in store if k.startswith(prefix))


def _at(log: str, offset: int, item: int = 0) -> CloudEvent:
    """An observation of the cell from `offset` of `log` (its own id), failed contacts at
    one in seven."""
    obs = MonitorObservation(
        observation_id=derived_id("test-observation", log, str(offset), str(item)),
        bron="contact",
        oorzaak_id=f"cause-{log}-{offset}-{item}",
        dienst=Dienst("paspoort", "Paspoort"),
        kanaal="telefoon",
        waargenomen_op=iso(T0 + timedelta(seconds=offset)),
        uitkomsten={CONTACT_FAILED: offset % 7 == 3},
        bronpositie={"log": log, "offset": offset, "item": item},
    )
    event = new_event(MONITOR_OBSERVATION.name, obs.to_dict(), source="/t", key=CELL)
    stamped = {**event.__dict__, "dataschema": schema_id(MONITOR_OBSERVATION.name)}
    return built({**stamped, "id": obs.observation_id})


def test_a_replay_of_more_than_the_window_of_one_cell_counts_nothing_twice() -> None:
    events = [_observation(n) for n in range(300)]
    store = MemoryStore()
    alerts = _run(store, _runs(events, 7), warmup=40)
    assert alerts, "the failing service alarms"
    counted = copy.deepcopy(dict(store))
    # A feed worker killed 250 observations of this cell after its last commit replays
    # them all (2.5 x SEEN_IDS), coalesced otherwise, then one by one: no alert, no
    # change to the cell.
    replay = events[-250:]
    assert len(replay) > 2 * SEEN_IDS
    assert _run(store, _runs(replay, 9), warmup=40) == []
    assert _run(store, replay, warmup=40) == []
    assert dict(store) == counted
    # Counted: each once, and what comes after the replay counts as usual.
    plain = MemoryStore()
    _run(plain, events)
    _run(plain, _runs(replay, 9) + [_observation(n) for n in range(300, 310)])
    assert _counted(plain) == 310


def test_an_observation_first_seen_after_later_ones_still_counts() -> None:
    """The Kafka worker seeks back to records faust dropped after it processed later ones
    (docs/kafka.md, Offsets fix 5): their observations come after higher positions of
    their log, for the first time, and must count; the ones around them must not again."""
    events = [_observation(n) for n in range(200)]
    dropped = set(range(150, 160))
    store = MemoryStore()
    _run(store, [e for n, e in enumerate(events) if n not in dropped])
    assert _counted(store) == 190
    _run(store, events[150:])  # sought back to 150: the dropped ten, then again the rest
    assert _counted(store) == 200
    _run(store, events)  # a replay from the start after that, too
    assert _counted(store) == 200


def test_two_logs_and_two_items_of_a_record_each_count_once() -> None:
    """A contact's own observation and its invitation's share the record's offset (items
    0 and 1); the answers' log has marks of its own."""
    events = [_observation(n, "contact-events/1", item) for n in range(120) for item in (0, 1)]
    events += [_observation(1000 + n, "survey-responses/1") for n in range(120)]
    store = MemoryStore()
    _run(store, events)
    assert _counted(store) == 360
    _run(store, events[100:])  # a replay across both logs
    assert _counted(store) == 360
    assert _windows(store) == ["contact-events/1", "survey-responses/1"]


def test_old_records_without_a_position_keep_the_id_window() -> None:
    """Records on the topic from before the position (no `bronpositie`), and a cell in the
    old layout (ids only), are read as before: a replay within the window counts nothing."""
    old = [_observation(n, log=None) for n in range(150)]
    store = MemoryStore()
    _run(store, old)
    assert _windows(store) == [], "the old layout stays as long as nothing is placed"
    _run(store, old[-60:])
    assert _counted(store) == 150
    new = [_observation(n) for n in range(150, 400)]
    _run(store, new[:50])
    _run(store, old[-50:] + new[:50])  # across the upgrade, within the window: nothing
    _run(store, new[50:])
    _run(store, new)  # placed ones beyond the window: by their marks
    assert _counted(store) == 400


def test_what_an_observation_writes_stays_small() -> None:
    """A cell fed from 24 logs (3 topics x 8 partitions) at offsets of 6 million, every
    window full: an observation rewrites the cell's ids and ONE window (its log's), not
    the positions of every log. Measured: ids 1,910 bytes, a window 517 (the previous
    layout wrote 4,153 bytes of dedup state per observation, and a shared window)."""
    topics = ("contact-events", "survey-responses", "page-feedback")
    events = [_at(f"{topics[n % 3]}/{n % 8}", 3 * n, n % 2) for n in range(2_000_000, 2_003_000)]
    store = MemoryStore()
    _run(store, events)
    assert len(_windows(store)) == 24
    ids = len(json.dumps({"seen": store[CELL]["seen"]}, separators=(",", ":")))
    window = max(
        len(json.dumps(store[f"{CELL}|b|{log}"], separators=(",", ":"))) for log in _windows(store)
    )
    assert ids + window < 2.6 * 1024, (ids, window)
    assert len(store[f"{CELL}|b|contact-events/0"]["w"]) == 2 + 2 * LOG_WINDOW


def test_a_busy_log_does_not_push_a_quiet_logs_positions_out() -> None:
    """Worker A counted offsets 500-549 and 551-600 of partition 0 for this cell, but
    faust dropped 550 on its way (fetched again later); the partition moves to worker B,
    while the cell's observations from other partitions keep coming. When B processes 550
    for the first time it must count; a replay of the rest of partition 0 must not. With
    one window shared by all logs the other partitions pushed 551+ out, partition 0's mark
    rose above 550 and 550 was thrown away as a repeat."""
    p0 = [_at("contact-events/0", offset) for offset in range(500, 601)]
    others = [_at(f"contact-events/{p}", 1000 + n) for n in range(100) for p in (1, 2, 3)]
    store = MemoryStore()
    _run(store, [e for e in p0 if e.data["bronpositie"]["offset"] != 550] + others)
    assert _counted(store) == 100 + 300
    _run(store, [p0[50]])  # offset 550, for the first time
    assert _counted(store) == 401
    _run(store, p0 + others[-150:])  # replayed
    assert _counted(store) == 401


def test_a_cell_of_the_previous_layout_is_rewritten_per_log() -> None:
    """A cell written before the windows per log (`seen_at` beside the ids, `logs`,
    `marks`), to which an older worker then appended an id without a position: the ids
    and positions no longer line up (`len(seen_at) != len(seen)` did not notice, both
    holding 100), and the observation whose id it pushed out, with its position still in
    `seen_at` but above the mark, was counted again when replayed. Now every position of
    `seen_at` goes into its log's window, the marks are kept, and nothing counts twice."""
    events = [_observation(n) for n in range(150)]
    store = MemoryStore()
    _run(store, events[:120])
    cell = store[CELL]
    store.pop(f"{CELL}|b|contact-events/0", None)  # (none in the previous layout)
    # As the previous version left it: the last 100 positions (observations 20-119) beside
    # the ids, observation 19's as the mark; then an older worker's id pushed 20's out.
    cell["seen_at"] = [[0, 3 * n, 0] for n in range(20, 120)]
    cell["logs"], cell["marks"] = ["contact-events/0"], [[3 * 19, 0]]
    cell["seen"] = [*cell["seen"], "older-worker-id1"][-SEEN_IDS:]
    store.put(CELL, cell)
    _run(store, [events[20]])  # its id is gone, its position not: a repeat
    assert _counted(store) == 120
    _run(store, events)  # 0-19 by the mark, 20-119 by the window, then 30 new ones
    assert _counted(store) == 150
    assert not {"seen_at", "logs", "marks"} & set(store[CELL])
    assert _windows(store) == ["contact-events/0"]


def test_the_runtimes_place_a_records_observations_in_order() -> None:
    """`positioned` (both runtimes, per input record): a contact's observations get its
    log and offset and their index among them; other outputs are left alone; the
    observation stays valid against its schema (the stamp is kept)."""
    feed = MonitorFeedStage()
    contact = contact_event(klant=klant(7), indicatieContactGelukt=False)
    outcome = process_record(feed, CONTACT.topic, contact, {}, "0/41", None)
    outs = outputs(outcome, feed.name, None)
    outs = [*outs, Output("elders", None, event=contact), *outs]  # twice: items 0 and 1
    placed = positioned(outs, "contact-events/0", 41)
    assert placed[1] == outs[1]
    got = [o.event.data["bronpositie"] for o in placed if o.event and o.topic == TOPIC]
    assert got == [{"log": "contact-events/0", "offset": 41, "item": i} for i in (0, 1)]
    event = placed[0].event
    assert event is not None and event.dataschema == schema_id(MONITOR_OBSERVATION.name)
    assert validate_data(MONITOR_OBSERVATION.name, event.data) == []
    assert positioned(placed, "x/1", 99) == placed, "a placed observation keeps its position"


def test_an_output_with_its_event_placed_is_what_dataclasses_replace_made() -> None:
    """`with_event` (positioned here, the Kafka worker's _place) makes the Output that
    dataclasses.replace(out, event=...) made, every other field kept."""
    first, placed = _observation(1), _observation(2)
    dead = DeadLetter("reden", "monitor-feed", "contact-events", "0/1", {})
    for out in (Output(TOPIC, CELL, event=first), Output(TOPIC, None, first, dead)):
        got = with_event(out, placed)
        assert got == dataclasses.replace(out, event=placed) and got is not out
        assert got.event is placed and out.event is first


def test_the_embedded_monitor_state_is_the_same_handed_over_or_not(tmp_path: Path) -> None:
    """The monitoring stage's values handed over between observations (SQLiteState's
    `hand_over`, the stage's `handed_over_states`) give the same cells, windows, queues
    and alerts as JSON written and read for every observation."""
    from pipeline.runtimes.embedded import EventLog, SQLiteState

    topics = ("contact-events", "survey-responses")
    events = [_observation(n, f"{topics[n % 2]}/{n % 3}") for n in range(260)]
    replay = _runs(events[100:], 9)
    found = []
    for hand_over in (False, True):
        log = EventLog(tmp_path / f"{hand_over}.db")
        with log.transaction() as conn:
            state = SQLiteState(conn, "monitor_cells", hand_over=hand_over)
            alerts = _run(state, _runs(events, 7) + replay, warmup=40)  # type: ignore[arg-type]
            state.flush()
            rows = conn.execute("SELECT key, value FROM state ORDER BY key").fetchall()
        found.append((alerts, rows))
    assert found[0] == found[1] and found[0][0], "the same alerts and state, and alerts"
