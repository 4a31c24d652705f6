"""Coalesced monitor observations (pipeline/monitoring/batches.py): one record per cell and
run, order kept within a cell; the monitoring stage counts a coalesced record's items
exactly as the same observations one by one, each once, whatever the grouping; one bad
item is dead-lettered alone."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.monitoring.batches import (
    BATCH_LIMIT,
    coalesce,
    group_by_cell,
    observation_batch,
    observation_items,
    observations_of,
)
from pipeline.monitoring.charts import MonitorConfig
from pipeline.monitoring.outcomes import CONTACT_FAILED
from pipeline.monitoring.pending import MemoryStore
from pipeline.processing import (
    Output,
    coalesced,
    outputs,
    process_record,
    record_items,
)
from pipeline.stages.monitoring import MonitorFeedStage, MonitoringStage
from pipeline.times import iso
from schemas.cloudevents import CloudEvent, built, derived_id, new_event
from schemas.models import Dienst, MonitorObservation, Sentiment, Signal
from schemas.types import MONITOR_OBSERVATION, MONITOR_OBSERVATIONS
from schemas.validation import schema_id, validate_data

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
SERVICES = {"paspoort": "Paspoort", "rijbewijs": "Rijbewijs"}
TOPIC = MONITOR_OBSERVATION.topic


def _observation(n: int, dienst: str, kanaal: str, bad: bool, stamped: bool = True) -> CloudEvent:
    obs = MonitorObservation(
        observation_id=derived_id("test-observation", str(n)),
        bron="contact",
        oorzaak_id=f"cause-{n}",
        dienst=Dienst(dienst, SERVICES[dienst]),
        kanaal=kanaal,
        waargenomen_op=iso(T0 + timedelta(minutes=10 * n)),
        uitkomsten={CONTACT_FAILED: bad},
        opmerking="Niemand nam op" if bad else None,
    )
    event = new_event(
        MONITOR_OBSERVATION.name, obs.to_dict(), source="/t", key=f"{dienst}|{kanaal}"
    )
    if stamped:
        event = built({**event.__dict__, "dataschema": schema_id(MONITOR_OBSERVATION.name)})
    return built({**event.__dict__, "id": obs.observation_id})


def _stream(n: int = 400, seed: int = 3) -> list[CloudEvent]:
    """Three cells mixed; paspoort|telefoon warms up at ~15% failed, then fails throughout
    (a service alert), the others stay calm."""
    rng = random.Random(seed)
    cells = [("paspoort", "telefoon"), ("paspoort", "balie"), ("rijbewijs", "telefoon")]
    events = []
    for i in range(n):
        dienst, kanaal = cells[rng.randrange(3)]
        drop = dienst == "paspoort" and kanaal == "telefoon" and i > n // 2
        events.append(_observation(i, dienst, kanaal, drop or rng.random() < 0.15))
    return events


def _stage() -> MonitoringStage:
    return MonitoringStage(config=MonitorConfig(warmup_min=40, warmup_days=0, arl0=300))


def _run(stage: MonitoringStage, store: MemoryStore, records: list[CloudEvent]) -> list[Any]:
    """Records through the shared path both runtimes take (record_items, process_record):
    (topic, id, data) of every output; dead letters as (topic, reason, position)."""
    out: list[Any] = []
    for offset, record in enumerate(records):
        for item, position, raw in record_items(TOPIC, record, f"0/{offset}", None):
            outcome = process_record(stage, TOPIC, item, {"monitor_cells": store}, position, raw)
            for o in outputs(outcome, stage.name, record.partitionkey):
                if o.event is not None:
                    out.append((o.topic, o.event.id, o.event.data))
                else:
                    assert o.dead_letter is not None
                    out.append((o.topic, o.dead_letter.reason, o.dead_letter.position))
    return out


def _runs(events: list[CloudEvent], size: int) -> list[CloudEvent]:
    """Coalesced as a runtime does it, `size` records per run."""
    return [r for i in range(0, len(events), size) for r in coalesce(events[i : i + size])]


def test_grouped_by_cell_in_order_of_first_appearance_order_kept_within() -> None:
    a1, b1, a2, c1, b2, a3 = (
        _observation(1, "paspoort", "telefoon", False),
        _observation(2, "paspoort", "balie", False),
        _observation(3, "paspoort", "telefoon", True),
        _observation(4, "rijbewijs", "telefoon", False),
        _observation(5, "paspoort", "balie", False),
        _observation(6, "paspoort", "telefoon", False),
    )
    events = [a1, b1, a2, c1, b2, a3]
    assert group_by_cell(events) == [[0, 2, 5], [1, 4], [3]]
    records = coalesce(events)
    assert [r.type for r in records] == [MONITOR_OBSERVATIONS.name] * 2 + [MONITOR_OBSERVATION.name]
    assert records[2] is c1, "alone in its cell: stays a single observation"
    first = records[0]
    assert first.partitionkey == "paspoort|telefoon"
    assert [i["observationId"] for i in first.data["observaties"]] == [a1.id, a2.id, a3.id]
    assert all("dienst" not in i and "kanaal" not in i for i in first.data["observaties"])
    assert validate_data(MONITOR_OBSERVATIONS.name, first.data) == []
    # Every field kept: the items are the observations again.
    assert observation_items(first.to_structured()) == [a1.data, a2.data, a3.data]
    assert [e.data for e in observations_of(first)] == [a1.data, a2.data, a3.data]  # type: ignore[union-attr]
    assert [e.id for e in observations_of(first)] == [a1.id, a2.id, a3.id]  # type: ignore[union-attr]
    # Deterministic id from the items' ids: the same items, the same record id.
    assert coalesce(events)[0].id == first.id != coalesce([a1, a2])[0].id


def test_a_busy_cell_is_split_at_the_limit_and_a_service_renamed_is_its_own_record() -> None:
    events = [_observation(i, "paspoort", "telefoon", False) for i in range(BATCH_LIMIT + 3)]
    assert [len(g) for g in group_by_cell(events)] == [BATCH_LIMIT, 3]
    renamed = _observation(9_999, "paspoort", "telefoon", False)
    renamed = built(
        {**renamed.__dict__, "data": {**renamed.data, "dienst": {"code": "paspoort", "naam": "P"}}}
    )
    assert group_by_cell([events[0], renamed, events[1]]) == [[0, 2], [1]]


def _per_cell(out: list[Any]) -> dict[str, list[Any]]:
    """Outputs per cell, in order: coalescing keeps the order within a cell, not across."""
    cells: dict[str, list[Any]] = {}
    for topic, event_id, data in out:
        cells.setdefault(f"{data['dienst']['code']}|{data.get('kanaal')}", []).append(
            (topic, event_id, data)
        )
    return cells


def test_a_batch_and_the_same_observations_one_by_one_give_identical_cells_and_alerts() -> None:
    events = _stream()
    one_by_one, store = _stage(), MemoryStore()
    singles = _run(one_by_one, store, events)
    assert {t for t, _, _ in singles} == {"service-alerts"}
    assert "paspoort|telefoon" in _per_cell(singles), "the drop must alarm"
    for size in (2, 7, 64, len(events)):
        batched_store = MemoryStore()
        records = _runs(events, size)
        assert len(records) < len(events)
        batched = _run(_stage(), batched_store, records)
        assert _per_cell(batched) == _per_cell(singles), size
        assert batched_store == store, size
    # The stage itself takes a coalesced record too (its items in order).
    direct, direct_store = _stage(), MemoryStore()
    emitted = [
        (e.topic, e.event.id, e.event.data)
        for record in _runs(events, 7)
        for e in direct.process(TOPIC, record, {"monitor_cells": direct_store})
    ]
    assert _per_cell(emitted) == _per_cell(singles) and direct_store == store


def test_a_replay_grouped_differently_counts_nothing_twice() -> None:
    events = _stream(300, seed=11)
    stage, store = _stage(), MemoryStore()
    first = _run(stage, store, _runs(events, 7))
    assert first, "the drop alarms"
    seen = copy.deepcopy(dict(store))
    # After a crash the records since the last commit come again (here the last 60, fewer
    # than a cell's SEEN_IDS), grouped otherwise: in runs of 5, then one by one.
    assert _run(stage, store, _runs(events[-60:], 5)) == []
    assert _run(stage, store, events[-60:]) == []
    assert store == seen
    # Single observations first (written before an upgrade), then the same and the rest
    # coalesced: the same cells and alerts as once through, each observation counted once.
    store2 = MemoryStore()
    before = _run(stage, store2, events[:150])
    after = _run(stage, store2, _runs(events[120:150], 4) + _runs(events[150:], 9))
    assert _per_cell(before + after) == _per_cell(_run(_stage(), MemoryStore(), events))
    assert store2 == seen


def test_one_bad_item_is_dead_lettered_alone_and_the_others_count() -> None:
    events = [_observation(i, "paspoort", "telefoon", i % 2 == 0, stamped=False) for i in range(6)]
    batch = observation_batch(events)
    assert batch.dataschema is None, "not stamped: its items are validated one by one"
    items = [dict(i) for i in batch.data["observaties"]]
    del items[2]["uitkomsten"]
    items[4] = "geen object"
    broken = built({**batch.__dict__, "data": {**batch.data, "observaties": items}})
    store = MemoryStore()
    out = _run(_stage(), store, [broken])
    dead = [o for o in out if o[0] == "dead-letter"]
    assert [(reason.split(":")[0], position) for _, reason, position in dead] == [
        ("/data/uitkomsten", "0/0#2"),
        ("/data/observaties/4", "0/0#4"),
    ]
    cell = store["paspoort|telefoon"]
    good = [events[i].id for i in (0, 1, 3, 5)]
    assert all(_counted(cell, i) for i in good)
    assert not _counted(cell, events[2].id) and not _counted(cell, events[4].id)
    # A record without a list of items: the whole record, with the reason.
    empty = built({**batch.__dict__, "data": {"dienst": batch.data["dienst"], "kanaal": "x"}})
    assert _run(_stage(), MemoryStore(), [empty]) == [
        ("dead-letter", "monitor-observations zonder lijst observaties", "0/0")
    ]


def _counted(cell: dict[str, Any], observation_id: str) -> bool:
    from pipeline.monitoring.cell import already_seen

    return already_seen(cell, observation_id)


def test_without_links_no_item_carries_a_comment_or_a_cause() -> None:
    feed = MonitorFeedStage(keep_links=False)
    signals = []
    for i in range(3):
        signal = Signal(
            signal_id=f"s{i}",
            klant="k" * 64,
            bron="response",
            ontvangen_op=iso(T0),
            response_id=f"r{i}",
            contact_id=f"c{i}",
            kanaal="telefoon",
            dienst=Dienst("paspoort", "Paspoort"),
            nps=2,
            opmerking="Heel slecht geholpen, niemand belde terug",
            sentiment=Sentiment("neg", -0.9, True, "lexicon-1", "nld"),
        )
        signals.append(
            new_event("nl.klantsignaal.signal.v1", signal.to_dict(), source="/t", key="k")
        )
    emits = [e for s in signals for e in feed.process("scored-signals", s, {})]
    outs = coalesced([Output(e.topic, e.event.partitionkey, event=e.event) for e in emits])
    assert len(outs) == 1 and outs[0].event is not None
    items = outs[0].event.data["observaties"]
    assert len(items) == 3
    assert all("opmerking" not in i and i["oorzaakId"] == i["observationId"] for i in items)
    assert all(i["contactId"] not in {"c0", "c1", "c2"} for i in items), "opaque references"


def test_no_record_holds_more_observations_than_a_replay_window_of_a_cell() -> None:
    """A run's observations of one cell over the cap go in several records, each at most
    BATCH_LIMIT, which stays below the stage's window of seen ids (SEEN_IDS)."""
    from pipeline.monitoring.cell import SEEN_IDS

    assert BATCH_LIMIT < SEEN_IDS
    rng = random.Random(7)
    cells = [("paspoort", "telefoon"), ("paspoort", "balie"), ("rijbewijs", "telefoon")]
    events = [
        _observation(n, *rng.choice(cells[:2] if n % 3 else cells), False) for n in range(400)
    ]
    records = coalesce(events)
    sizes = [len(observation_items(r.to_structured())) for r in records]
    assert max(sizes) == BATCH_LIMIT and sum(sizes) == 400
    assert [e.id for e in events if e.partitionkey == "paspoort|telefoon"] == [
        str(i["observationId"])
        for r in records
        if r.partitionkey == "paspoort|telefoon"
        for i in observation_items(r.to_structured())
    ]


def test_a_coalesced_record_replayed_after_it_was_counted_changes_no_chart() -> None:
    """The reviewer's scenario: a busy cell's run of 130 observations, each record counted
    and its cell flushed by a commit, the worker killed before the ack, the record
    replayed. With records of at most BATCH_LIMIT items every replayed item is among the
    cell's last seen ids (one record of 130 moved a chart's statistic from 24 to 48)."""
    warm = [_observation(i, "paspoort", "telefoon", i % 5 == 0) for i in range(40)]
    hot = [_observation(40 + i, "paspoort", "telefoon", i % 4 == 0) for i in range(130)]
    stage, store = _stage(), MemoryStore()
    _run(stage, store, coalesce(warm))
    records = coalesce(hot)
    assert len(records) == 3  # 64 + 64 + 2
    for record in records:
        _run(stage, store, [record])
        before = copy.deepcopy(store["paspoort|telefoon"])
        assert _run(stage, store, [record]) == []  # the replay: no alert, no dead letter
        assert store["paspoort|telefoon"] == before


def test_coalescing_can_be_switched_off_for_a_rolling_upgrade() -> None:
    """KLANTSIGNAAL_MONITOR_COALESCE: off sends each observation as its own record (what
    workers from before the coalesced type read); on (the default) one record per cell."""
    from pipeline.monitoring.batches import coalesce_groups, coalescing, records_for
    from pipeline.settings import Settings

    assert Settings().monitor_coalesce == "on" and coalescing(Settings().monitor_coalesce)
    assert coalescing(" OFF ") is False
    with pytest.raises(ValueError, match="KLANTSIGNAAL_MONITOR_COALESCE"):
        coalescing("ja")
    events = _stream(40)
    # (A coalesced record's `time` is its making's: compare groups and ids.)
    assert [(g, r.id) for g, r in records_for(events, True)] == [
        (g, r.id) for g, r in coalesce_groups(events)
    ]
    assert len(records_for(events, True)) < len(events)
    singles = records_for(events, False)
    assert [record for _, record in singles] == events
    assert [group for group, _ in singles] == [[i] for i in range(len(events))]
