"""The monitor's observations coalesced: one record per service cell and run of records.

The monitor-feed stage makes one `nl.klantsignaal.monitor-observation.v1` per contact,
signal and invitation. What travels on `monitor-observations` is coalesced: the
observations made while one run of records was processed (a Kafka agent's run of queued
records, a batch of the embedded runtime) are grouped by cell, order kept within a cell,
into one `nl.klantsignaal.monitor-observations.v1` per cell. Each item keeps every field of
its observation except the `dienst` and `kanaal` the record states once; the record's id
follows from its items' ids. Both runtimes call `coalesce`, and the shared processing
(`pipeline.processing.record_items`) turns a batch back into its observations with
`observations_of`, so the monitoring stage counts each observation once, with the same
dedup, whether it came alone (records written before an upgrade, replays) or in a batch.

Plain Python: no transport here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas import jsonfast
from schemas.cloudevents import CloudEvent, built, derived_id, new_event
from schemas.types import MONITOR_OBSERVATION, MONITOR_OBSERVATIONS
from schemas.validation import schema_id

# Observations per record at most (the schema allows 1,000). Below the monitoring stage's
# SEEN_IDS (cell.py: the last 100 observation ids of a cell, which a replay is checked
# against): a record replayed after it was counted (a worker killed after a commit flushed
# its cell, before its ack) then falls inside the window whole and counts nothing twice.
# A cell with more observations in one run gets several records.
BATCH_LIMIT = 64
SHARED = ("dienst", "kanaal")  # stated once per record, not per item
SOURCE = "/klantsignaal/monitor-feed"


def is_single(event: CloudEvent | None) -> bool:
    return event is not None and event.type == MONITOR_OBSERVATION.name


def _cell(event: CloudEvent) -> tuple[Any, ...]:
    """The cell key, and the dienst and kanaal a record states for all its items (two
    observations of one cell whose service names differ are not put together)."""
    data = event.data
    dienst = data.get("dienst")
    shown = tuple(sorted(dienst.items())) if isinstance(dienst, dict) else dienst
    return (event.partitionkey, shown, data.get("kanaal"))


def group_by_cell(events: Sequence[CloudEvent]) -> list[list[int]]:
    """Indices of `events` (single observations) grouped by cell: groups in the order of
    their first observation, observations in their own order, at most BATCH_LIMIT each."""
    groups: dict[tuple[Any, ...], list[list[int]]] = {}
    order: list[list[int]] = []
    for i, event in enumerate(events):
        chunks = groups.setdefault(_cell(event), [])
        if not chunks or len(chunks[-1]) >= BATCH_LIMIT:
            chunks.append([])
            order.append(chunks[-1])
        chunks[-1].append(i)
    return order


def observation_batch(events: Sequence[CloudEvent]) -> CloudEvent:
    """One record of observations of one cell (`group_by_cell`), in order. Its id follows
    from the items' ids, so the same observations make the same record. Stamped as valid
    when every observation was (a stage's output is checked against its schema): the
    items are those observations, and dienst and kanaal are theirs."""
    first = events[0]
    items = [_item(e.data) for e in events]
    data = {"dienst": first.data["dienst"], "kanaal": first.data["kanaal"], "observaties": items}
    event_id = derived_id("monitor-observations", *(e.id for e in events))
    batch = new_event(
        MONITOR_OBSERVATIONS.name, data, source=SOURCE, key=first.partitionkey, event_id=event_id
    )
    single = schema_id(MONITOR_OBSERVATION.name)
    if all(e.dataschema == single for e in events):
        batch = built({**batch.__dict__, "dataschema": schema_id(MONITOR_OBSERVATIONS.name)})
    return batch


def _item(data: dict[str, Any]) -> dict[str, Any]:
    """An observation's data without what the record states once (SHARED), in order: a
    copy (in C) with those keys taken out, not a comprehension over every field."""
    item = dict(data)
    for key in SHARED:
        item.pop(key, None)
    return item


def coalesce_groups(events: Sequence[CloudEvent]) -> list[tuple[list[int], CloudEvent]]:
    """(indices in `events`, the record for them) per cell, in order (`group_by_cell`); an
    observation alone in its cell stays as it is (a record of one would only be longer)."""
    return [
        (
            group,
            observation_batch([events[i] for i in group]) if len(group) > 1 else events[group[0]],
        )
        for group in group_by_cell(events)
    ]


def coalescing(setting: str) -> bool:
    """KLANTSIGNAAL_MONITOR_COALESCE: on (the default) or off; anything else is refused."""
    wanted = setting.strip().lower()
    if wanted not in ("on", "off"):
        raise ValueError(f"KLANTSIGNAAL_MONITOR_COALESCE: on or off, not {setting!r}")
    return wanted == "on"


def records_for(
    events: Sequence[CloudEvent], coalesce: bool = True
) -> list[tuple[list[int], CloudEvent]]:
    """What goes on the topic for a run's observations: `coalesce_groups`, or with
    coalescing off each observation as its own record (readable by workers from before
    the coalesced type, for a rolling upgrade)."""
    if coalesce:
        return coalesce_groups(events)
    return [([i], event) for i, event in enumerate(events)]


def coalesce(events: Sequence[CloudEvent]) -> list[CloudEvent]:
    """Single observations as one record per cell (see the module docstring)."""
    return [record for _, record in coalesce_groups(events)]


def observations_of(batch: CloudEvent) -> list[CloudEvent | str] | str:
    """A batch's items as single observation events, in order: id = the observation id,
    dienst and kanaal from the record, stamped as valid when the record was. An item that
    is no JSON object is the reason it is none (a dead letter of its own); a record without
    a list of items is the reason for the whole record."""
    data = batch.data
    items = data.get("observaties") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return "monitor-observations zonder lijst observaties"
    shared = {k: data[k] for k in SHARED if k in data}
    valid = batch.dataschema is not None and batch.dataschema == schema_id(batch.type)
    stamp = schema_id(MONITOR_OBSERVATION.name) if valid else None
    out: list[CloudEvent | str] = []
    source, time, subject, key = batch.source, batch.time, batch.subject, batch.partitionkey
    extensions = batch.extensions
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            out.append(f"/data/observaties/{i}: geen object")
            continue
        # Every field of the record's envelope but id, type, data and stamp: what
        # built({**batch.__dict__, ...}) made, without copying the envelope per item.
        out.append(
            built(
                {
                    "id": str(item.get("observationId") or f"{batch.id}#{i}"),
                    "source": source,
                    "type": MONITOR_OBSERVATION.name,
                    "data": {**item, **shared},
                    "time": time,
                    "subject": subject,
                    "partitionkey": key,
                    "extensions": dict(extensions),
                    "dataschema": stamp,
                }
            )
        )
    return out


def observation_items(structured: dict[str, Any]) -> list[dict[str, Any]]:
    """The observations (wire form, dienst and kanaal included) in a structured record of
    either type: for readers of the topic (tools, tests)."""
    data = structured.get("data") or {}
    if structured.get("type") == MONITOR_OBSERVATIONS.name:
        shared = {k: data[k] for k in SHARED if k in data}
        return [{**item, **shared} for item in data.get("observaties", [])]
    if structured.get("type") == MONITOR_OBSERVATION.name:
        return [data]
    return []


def without_mark(
    structured: dict[str, Any], mark: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A coalesced record (structured) without the observations that mention `mark` (a
    citizen's pseudonym or the id of one of their events: privacy forget on the embedded
    log, where observations keep their cause and comment): (the record, None when no item
    is left; the observations taken out, in wire form). A record of many citizens loses
    only that citizen's items, and only those lead forget to further records."""
    data = structured.get("data") or {}
    items = data.get("observaties") or []
    gone = [i for i in items if mark in jsonfast.dumps_str(i)]
    if not gone:
        return structured, []  # none of the citizen's (the mark is in no observation)
    kept = [i for i in items if mark not in jsonfast.dumps_str(i)]
    shared = {k: data[k] for k in SHARED if k in data}
    out = {**structured, "data": {**data, "observaties": kept}} if kept else None
    return out, [{**i, **shared} for i in gone]


def placed(events: Sequence[CloudEvent], log: str, offset: int) -> list[CloudEvent]:
    """The single observations among `events` (what one input record led to, in order)
    with where they came from: `log`, the input record's `offset` and their index among
    its observations (`bronpositie`, pipeline/monitoring/dedup.py); other events as they
    are. The runtimes call it per input record; an observation that has a position keeps
    it. The schema stamp stays: the position is a field its schema allows."""
    out: list[CloudEvent] = []
    item = 0
    for event in events:
        if is_single(event) and "bronpositie" not in event.data:
            where = {"log": log, "offset": offset, "item": item}
            event = built({**event.__dict__, "data": {**event.data, "bronpositie": where}})
            item += 1
        out.append(event)
    return out
