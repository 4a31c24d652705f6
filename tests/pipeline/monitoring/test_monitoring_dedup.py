"""Each observation counted once in its cell however long the replay
(pipeline/monitoring/dedup.py): a monitor-feed that crashed replays every observation since
its last commit with the same ids, and a replay of more than a cell's window of ids
(SEEN_IDS) used to count the older ones twice. Observations carry where they came from
(`bronpositie`); records without it (older ones) keep the id window."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.monitoring.batches import coalesce
from pipeline.monitoring.cell import SEEN_IDS
from pipeline.monitoring.charts import MonitorConfig
from pipeline.monitoring.outcomes import CONTACT_FAILED
from pipeline.monitoring.pending import MemoryStore
from pipeline.processing import Output, outputs, positioned, process_record, record_items
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
    assert sorted(store[CELL]["logs"]) == ["contact-events/1", "survey-responses/1"]


def test_old_records_without_a_position_keep_the_id_window() -> None:
    """Records on the topic from before the position (no `bronpositie`), and a cell in the
    old layout (ids only), are read as before: a replay within the window counts nothing."""
    old = [_observation(n, log=None) for n in range(150)]
    store = MemoryStore()
    _run(store, old)
    assert "seen_at" not in store[CELL], "the old layout stays as long as nothing is placed"
    _run(store, old[-60:])
    assert _counted(store) == 150
    new = [_observation(n) for n in range(150, 400)]
    _run(store, new[:50])
    _run(store, old[-50:] + new[:50])  # across the upgrade, within the window: nothing
    _run(store, new[50:])
    _run(store, new)  # placed ones beyond the window: by their marks
    assert _counted(store) == 400


def test_the_cell_stays_small() -> None:
    """The dedup state of a cell fed from 24 logs (3 topics x 8 partitions) at high
    offsets: under 4.5 KiB of JSON (the ids alone are about 1.9 KiB; measured 4,153 bytes
    with offsets of 6 million, the cell's charts and examples come on top)."""
    events = [
        _observation(n, f"{t}/{n % 8}", n % 2)
        for n in range(2_000_000, 2_000_600)
        for t in ("contact-events", "survey-responses", "page-feedback")[n % 3 : n % 3 + 1]
    ]
    store = MemoryStore()
    _run(store, events)
    cell = store[CELL]
    dedup = {k: cell[k] for k in ("seen", "seen_at", "logs", "marks")}
    size = len(json.dumps(dedup, separators=(",", ":")))
    assert size < 4.5 * 1024, size


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


def test_a_cell_an_older_worker_wrote_to_is_read_as_ids_only() -> None:
    """During a rolling upgrade an older worker appends ids without positions to a cell a
    newer one wrote: its positions no longer line up with the ids and are let go (the id
    window as before), nothing breaks and nothing in the window counts twice."""
    events = [_observation(n) for n in range(150)]
    store = MemoryStore()
    _run(store, events[:120])
    cell = store[CELL]
    cell["seen"] = [*cell["seen"], "older-worker-id1"][-SEEN_IDS:]  # as an older worker did
    store.put(CELL, cell)
    _run(store, events[100:])
    assert _counted(store) == 150
    assert len(store[CELL]["seen_at"]) == len(store[CELL]["seen"])
