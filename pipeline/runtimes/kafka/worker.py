"""The stages as faust-streaming agents: one agent per group of stages sharing an input
(pipeline.runtimes.kafka.agent_plan), one table per state name.

Every record goes through `pipeline.processing.process_record`, exactly as in the embedded
runtime, so both accept and reject the same records. Run a worker with

    python -m pipeline.runtimes.kafka.worker

configured by the KLANTSIGNAAL_* environment (see pipeline.settings and docs/kafka.md).
"""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import marshal
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import faust
from faust.stores.memory import Store as MemoryStore
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport

from pipeline.gc_tuning import freeze_startup_heap
from pipeline.monitoring.batches import coalescing, is_single, placed, records_for
from pipeline.ops.logs import configure as configure_logging
from pipeline.processing import (
    Outcome,
    Output,
    outputs,
    process_record,
    record_items,
    runtime_failure,
    with_event,
)
from pipeline.runtimes.kafka import record_guard
from pipeline.runtimes.kafka.agent_plan import (
    AgentPlan,
    chained_readers,
    consumed_topics,
    plan_agents,
)
from pipeline.runtimes.kafka.changelog_guard import (
    GuardedProducer,
    callbacks_settled,
    guard_changelog,
)
from pipeline.runtimes.kafka.codec import decode, headers_list, open_input, raw_parts, seal
from pipeline.runtimes.kafka.context_first import ContextFirst, ContextFirstConsumer
from pipeline.runtimes.kafka.fast_delivery import DirectDelivery, NoPauseOnFullQueue
from pipeline.runtimes.kafka.in_place import Outage
from pipeline.runtimes.kafka.key_reads import KeyReads
from pipeline.runtimes.kafka.keystore import sealer_for
from pipeline.runtimes.kafka.lean_monitor import LeanMonitor
from pipeline.runtimes.kafka.offsets import PositionReportingThread, SafeOffsetsConsumer
from pipeline.runtimes.kafka.partitioner import RememberingPartitioner
from pipeline.runtimes.kafka.queued_events import run_queued, waiting_keys
from pipeline.runtimes.kafka.table_writes import WriteBehind
from pipeline.runtimes.kafka.topics import app_id, ensure_topics
from pipeline.runtimes.kafka.worker_ops import start_worker_ops, worker_not_ready, worker_ready
from pipeline.sealing import ERASED, NOT_CACHED, Sealer
from pipeline.settings import Settings
from pipeline.stages.base import Stage, State, StateUnavailable, awaited_states, states_for
from pipeline.topology import DEAD_LETTER, Topology
from schemas.types import MONITOR_OBSERVATIONS
from schemas.validation import compile_fast_validators

log = logging.getLogger(__name__)

READY_MARKER = "klantsignaal kafka worker ready"
GLUE_RETRY_PAUSES = (0.5, 1.0, 2.0, 4.0)  # seconds between attempts, see _process
QUEUED_RUN_MAX = 64  # queued records an agent takes per turn of the event loop
# An observation held for the end of its run: (output, input key, source for a dead letter)
Held = tuple[Output, bytes | None, record_guard.Source]
# Young collections every 20,000 allocations instead of 700: a record allocates hundreds of
# short-lived objects, most gone before a collection; measured in docs/kafka.md.
WORKER_GC_THRESHOLDS = (20_000, 20, 20)


class TableState:
    """The stage `State` protocol over a faust Table (JSON dict values, keyed by klant).

    Values are copied both ways: the memory store hands out its own objects, and a stage
    that mutates what it read must not change the table unless the record succeeds (the
    write then goes through `put`). With sealing on, a klant's value is sealed (the JSON
    opened or made is a copy already); a key that is no klant (the monitor's cells and
    windows) is not, so it is copied as without sealing. `hand_over` (a stage's
    `handed_over_states`: it neither keeps nor shares what it puts, as for the embedded
    runtime's SQLiteState) stores a put value as it is; `get` still copies. Writes reach
    the changelog at the next offset commit (pipeline.runtimes.kafka.table_writes).
    """

    def __init__(
        self,
        table: Any,
        sealer: Sealer | None,
        writes: WriteBehind | None,
        hand_over: bool = False,
    ) -> None:
        self._table = table
        self._sealer = sealer  # crypto-shredding: klant entries sealed (pipeline.sealing)
        self._writes = writes  # None: every write goes to the changelog at once
        self._hand_over = hand_over

    def _set(self, key: str, value: dict[str, Any]) -> None:
        if self._writes is not None:
            self._writes.put(self._table, key, value)
        else:
            self._table[key] = value

    def _stored(self, key: str) -> Any:
        """`table.get(key)`. On memory:// (a table without a default) straight from its
        store's dict: faust's get walks Mapping.get, the table's __getitem__ (a sensor
        call; LeanMonitor's does nothing), the store's __contains__ and __getitem__, and
        raises and catches a KeyError for a key that is not there (~1-1.6 us a read, 0.1
        this way; several reads per answer). Other stores go through faust."""
        table = self._table
        store = table.data
        if type(store) is MemoryStore and table.default is None:
            return store.data.get(key)
        return table.get(key)

    def get(self, key: str) -> dict[str, Any] | None:
        if self._sealer is not None:
            table_key = self._sealer.state_key(key, create=False)
            stored = self._stored(table_key) if table_key is not None else None
            if stored is None:
                return None
            opened = self._sealer.open_state(key, stored)
            return copy_json(opened) if opened is stored else opened  # not sealed: copied
        value = self._stored(key)
        return copy_json(value) if value is not None else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self._sealer is not None:
            table_key = self._sealer.state_key(key, create=True)
            sealed = self._sealer.seal_state(key, value)  # serialised: a copy
            if sealed is value and not self._hand_over:  # not sealed: copied
                sealed = copy_json(value)
            self._set(table_key, sealed)
            return
        self._set(key, value if self._hand_over else copy_json(value))

    def delete(self, key: str) -> None:
        """Remove the entry; a tombstone goes to the changelog (write-behind: at the next
        commit, in place of a pending value of the key)."""
        table_key = self._sealer.state_key(key, create=False) if self._sealer else key
        if table_key is None:
            return
        if self._writes is not None:
            self._writes.delete(self._table, table_key)
        elif table_key in self._table:
            del self._table[table_key]


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON-shaped value (dicts, lists, tuples, scalars): a marshal round
    trip in C, several times faster than walking it in Python (a 2.4 KB monitor cell
    10 µs instead of 56 µs, its window 5 µs instead of 94 µs). Version 2: no references,
    so no two parts of the copy are one object (as after a JSON round trip). What marshal
    refuses (another object inside) is deep-copied."""
    try:
        return marshal.loads(marshal.dumps(value, 2))
    except ValueError:
        return copy.deepcopy(value)


class _ReadCommittedThread(PositionReportingThread):
    async def on_partitions_revoked(self, revoked: Any) -> None:
        # In the consumer thread, before faust hands the partitions back on the worker's
        # loop (which a record in an in-place retry holds up): such a record stops the
        # worker now rather than outlive its partitions (in_place.py).
        outage: Outage = self.app.outage
        outage.partitions_revoked(True)
        try:
            await super().on_partitions_revoked(revoked)
        finally:
            outage.partitions_revoked(False)

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # faust reads read_uncommitted unless in exactly_once mode, which would let a stage
        # process a publish that was aborted (and never acknowledged to its sender). aiokafka
        # takes the level only in its constructor and reads it in start(), still to come.
        if getattr(consumer, "_isolation_level", None) is None:
            raise RuntimeError("cannot set read_committed on this aiokafka version")
        consumer._isolation_level = "read_committed"
        return consumer


class _Consumer(
    DirectDelivery,
    NoPauseOnFullQueue,
    ContextFirstConsumer,
    SafeOffsetsConsumer,
    AIOKafkaConsumer,
):
    """faust's aiokafka consumer with the offset fixes of pipeline.runtimes.kafka.offsets;
    records handed over without tasks where they cannot wait, a full queue waited on
    rather than its partitions paused (fast_delivery.py); answers held after an
    assignment until the contacts on the log are processed (context_first.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._init_context_first()  # before faust's init, which may pause partitions
        super().__init__(*args, **kwargs)
        self._init_offsets()

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        # Deferred table writes first, handed to the producer: faust flushes it before the
        # offsets go out (pipeline.runtimes.kafka.table_writes).
        await self.app.table_writes.publish()
        return await super()._commit_offsets(offsets, start_new_transaction=start_new_transaction)

    async def _commit(self, offsets: Any) -> bool:
        # The delivery callbacks faust's producer flush woke run first: a refused output or
        # table change stops the worker before these offsets go out (changelog_guard.py).
        await callbacks_settled(getattr(self.app.producer, "ledger", None), self.app.outage)
        return bool(await super()._commit(offsets))

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Before faust drops the partitions and flushes its producer: a worker taking them
        # over recovers every write made here, as when each write went out at once.
        await self.app.table_writes.publish()
        await super().on_partitions_revoked(revoked)
        # faust's revoke waited for the record in hand, whose later stages wrote after the
        # publish above: out now too, not at this worker's next commit (maybe long after
        # the new owner wrote newer values). A stopping worker leaves them to the replay.
        if len(self.app.table_writes) and not self.app.should_stop:
            await self.app.table_writes.publish()
            await self.app.producer.flush()

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _ReadCommittedThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(AIOKafkaTransport):
    Consumer = _Consumer
    Producer = GuardedProducer  # a table change it cannot send stops the worker


class _App(faust.App):
    """A faust App whose stream consumer reads committed records only."""

    table_writes: WriteBehind  # set in build_app
    context_first: ContextFirst  # set in build_app: answers after contacts on assignment
    outage: Outage  # set in build_app: key store and producer retries (in_place.py)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)

    async def on_stop(self) -> None:
        # Before faust's shutdown waits for the record in hand (its consumer's wait_empty):
        # a record in an in-place retry stops the worker now, exit 75, unacked (in_place.py).
        outage: Outage | None = getattr(self, "outage", None)
        if outage is not None:
            outage.worker_stops()
        await super().on_stop()


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def _store(url: str) -> tuple[str, dict[str, Any] | None]:
    """faust store URL and table options for memory:// or rocksdict:// (RocksDB on disk)."""
    if url.startswith("memory:"):
        return url, None
    if url.startswith(("rocksdict:", "rocksdb:")):
        try:
            import rocksdict  # noqa: F401
        except ImportError as exc:
            raise RuntimeError(
                f"table store {url} needs the rocksdict package (pip install rocksdict)"
            ) from exc
        # faust's rocksdb:// store runs on the rocksdict driver when asked to.
        return "rocksdb://", {"driver": "rocksdict"}
    raise ValueError(f"unsupported table store {url!r}: use memory:// or rocksdict://")


def build_app(
    settings: Settings,
    topology: Topology,
    *,
    store: str | None = None,
    replication_factor: int | None = None,
    datadir: Path | None = None,
) -> faust.App:
    """A faust App driving every stage of the topology; nothing runs until a Worker starts it."""
    store_url, table_options = _store(store or settings.kafka_store)
    rf = replication_factor or settings.kafka_replication_factor
    # faust creates its datadir (even for memory://) but not the parents.
    workdir = datadir or settings.data_dir / "kafka-worker"
    workdir.mkdir(parents=True, exist_ok=True)
    app = _App(
        app_id(settings),
        broker=broker_urls(settings.kafka_bootstrap),
        store=store_url,
        datadir=str(workdir),
        # at_least_once, with deterministic event ids downstream: a crash may replay up to
        # one commit interval, never lose. (faust's exactly_once was tried: its table
        # recovery stalls >= 10 s on the transaction marker ending each changelog partition,
        # on every restart and rebalance, and once a restarted worker came back without its
        # table state, cause not pinned down.)
        processing_guarantee="at_least_once",
        monitor=LeanMonitor(),  # no per-record statistics nobody reads (lean_monitor.py)
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=rf,
        consumer_auto_offset_reset="earliest",
        # Fast failure detection and rebalances: a worker that dies is replaced in seconds.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        # Offsets commit this often: the most a crashed worker's successor replays.
        broker_commit_interval=1.0,
        consumer_group_instance_id=settings.kafka_instance_id or None,
        producer_partitioner=RememberingPartitioner(),  # the default's, hashes remembered
        producer_linger=settings.kafka_producer_linger_ms / 1000.0,
        producer_max_batch_size=settings.kafka_producer_batch_bytes,
        # Several full batches fit in one request (the broker's default limit is ~1 MiB
        # per batch, which a batch stays under).
        producer_max_request_size=settings.kafka_producer_max_request_bytes
        or max(1_000_000, 4 * settings.kafka_producer_batch_bytes),
        web_enabled=False,
        autodiscover=False,
    )
    tables = {
        name: app.Table(
            name,
            partitions=settings.kafka_partitions,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
            options=table_options,
            help=f"stage state {name!r}, keyed by klant",
        )
        for name in sorted(topology.state_names())
    }
    # Key store or producer away: retried in place, never skipped (in_place.py).
    outage = app.outage = Outage(settings.kafka_outage_seconds)
    for table in tables.values():
        guard_changelog(table, outage)  # a refused table change stops the worker
    sealer = sealer_for(settings, outage)
    app.table_writes = WriteBehind()
    app.context_first = ContextFirst.for_topology(settings, topology, consumed_topics(topology))
    deferred = deferrable_states(topology)
    # The states whose values their stage neither keeps nor shares once put (the monitor's)
    handed = {n for stage in topology.stages for n in getattr(stage, "handed_over_states", ())}
    states: dict[str, State] = {
        name: TableState(t, sealer, app.table_writes if name in deferred else None, name in handed)
        for name, t in tables.items()
    }

    def raw_topic(*names: str) -> Any:
        return app.topic(*names, key_serializer="raw", value_serializer="raw", internal=False)

    targets = {  # logical -> physical name of every topic the stages write
        name: settings.topic(name)
        for stage in topology.stages
        for name in (*stage.outputs, DEAD_LETTER)
    }
    chained = chained_readers(topology)
    for plan in plan_agents(topology):
        _add_agent(app, settings, plan, chained, states, targets, raw_topic, sealer, outage)

    frozen: list[bool] = []  # the start-up heap is frozen at the first ready only

    async def on_ready() -> None:
        assigned = app.consumer.assignment()
        sizes = ", ".join(f"{name}={len(table)}" for name, table in tables.items())
        log.info("%s: %d partition(s) assigned; table keys: %s", READY_MARKER, len(assigned), sizes)
        if not frozen:  # the recovered tables leave the collector's walks (gc_tuning.py)
            # Once: this runs after every rebalance, and a cycle holding an object frozen
            # then (whatever lived at that moment) would never be collected.
            freeze_startup_heap()
            frozen.append(True)
        worker_ready()  # /readyz (pipeline.runtimes.kafka.worker_ops)

    # Ready once the consumer sought back and resumed (offsets.py), not when faust's
    # recovery starts resuming: records published before that could be processed twice.
    app.on_flow_resumed = on_ready  # type: ignore[attr-defined]
    app.on_flow_stopped = worker_not_ready  # type: ignore[attr-defined]  # /readyz 503
    return app


def deferrable_states(topology: Topology) -> set[str]:
    """States whose changelog writes may wait for the next commit (table_writes.py).

    A state touched by records of one input topic only (`states_for`: the monitoring cells,
    the trigger's `last_invited`): a replay after a crash rebuilds it in the same order.
    And a state its stage awaits (`awaited_states`: the join's contact context, written from
    contacts and read for answers): an answer replayed before the contact whose context
    was lost waits in `pending` until the contact is replayed, exactly as an answer that
    arrives before its contact. A state read across topics whose reader does not wait
    (the trigger's `opted_out`, read for contacts) goes to the changelog at once: after a
    crash a contact could otherwise be replayed before the opt-out that stops it.
    Either way the commit flushes every deferred write before offsets go out, so a
    committed record's state is on the changelog (tests/pipeline/runtimes/kafka/
    test_kafka_deferred_context.py kills a worker between a contact and its answer)."""
    topics: dict[str, set[str]] = {}
    awaited: set[str] = set()
    for stage in topology.stages:
        awaited.update(awaited_states(stage))
        for topic in stage.inputs:
            for name in states_for(stage, topic):
                topics.setdefault(name, set()).add(topic)
    return {name for name, used in topics.items() if len(used) == 1 or name in awaited}


def _add_agent(
    app: faust.App,
    settings: Settings,
    plan: AgentPlan,
    chained: Mapping[str, tuple[Stage, ...]],
    states: Mapping[str, State],
    targets: Mapping[str, Any],
    raw_topic: Callable[..., Any],
    sealer: Sealer | None = None,
    outage: Outage | None = None,
) -> None:
    """One agent for a group of stages (pipeline.runtimes.kafka.agent_plan): each record is
    opened and decoded once and run through every stage that reads its topic, then through
    the stateless stages that read what those emitted."""
    logical = {settings.topic(t): t for t in plan.topics}
    outage = outage or Outage(settings.kafka_outage_seconds)
    send = _sender(app, outage)
    # The agent's key store reads, off the event loop (key_reads.py).
    key_reads = KeyReads(sealer) if sealer is not None else None
    source = raw_topic(*logical)
    stages = [s for group in (plan.readers, chained) for run in group.values() for s in run]
    coalesce = coalescing(settings.monitor_coalesce)  # off: one record each (upgrades)
    states_of = {  # (stage, topic) -> the states its records may touch
        (s.name, t): {name: states[name] for name in states_for(s, t)}
        for s in stages
        for t in s.inputs
    }

    async def put(wire: tuple[str, bytes | None, Any, bytes], position: str) -> None:
        """Seal and send one record (logical topic, key, headers, value)."""
        logical_topic, key, out_headers, value = wire
        key, out_headers, value = seal(sealer, key, out_headers, value)
        topic = targets.get(logical_topic) or settings.topic(logical_topic)
        sent = await send(topic, position, key, value, out_headers)
        sent.add_done_callback(_on_delivered(outage, topic, position))

    async def write(out: Output, in_key: bytes | None, position: str, source: Any) -> bool:
        """Seal and send one output; False when an event went as a dead letter of its
        `source` instead (record_guard.wire_record)."""
        wire = record_guard.wire_record(out, in_key, source)
        await put(wire, position)
        return wire[0] == out.topic

    async def handle(msg: Any, held: list[Held]) -> None:
        """Run a record through its stages; the monitor's observations it leads to are
        added to `held` (sent coalesced at the end of the run, see run_group)."""
        topic = logical.get(msg.topic, msg.topic)
        position = f"{msg.partition}/{msg.offset}"
        in_key, headers, in_value = msg.key, headers_list(msg.headers), msg.value
        opened = open_input(sealer, in_key, headers, in_value, True)  # the cache only
        if opened is NOT_CACHED:  # its key read off the loop, awaited
            opened = await open_with_lookup_off_loop(sealer, key_reads, in_key, headers, in_value)
        if opened is ERASED:
            return  # its klant was forgotten: as if never there
        if isinstance(opened, str):
            decoded: Any = opened  # not openable: each stage dead-letters it with the reason
        else:
            in_key, headers, in_value = opened
            decoded = decode(in_key, headers, in_value)
        raw = raw_parts(in_key, headers, in_value) if isinstance(decoded, str) else None
        # A coalesced record of observations is its items, each on its own (processing.py).
        items = record_items(topic, decoded, position, raw)
        start = len(held)
        # Breadth first: the stages of the input record, then those of what they emitted.
        work: deque[tuple[Stage, str, Any, Any, str]] = deque(
            (stage, topic, item, item_raw, at)
            for stage in plan.readers.get(topic, ())
            for item, at, item_raw in items
        )
        while work:
            stage, on_topic, record, record_raw, at = work.popleft()
            states_in = states_of[(stage.name, on_topic)]
            outcome = await _process(stage, on_topic, record, states_in, at, record_raw)
            source = (stage.name, on_topic, at, record, record_raw)  # for a dead letter
            for out in outputs(outcome, stage.name, None):
                if is_single(out.event) and out.topic not in chained:
                    held.append((out, in_key, source))  # coalesced at the end of the run
                elif await write(out, in_key, at, source) and out.event is not None:
                    for nxt in chained.get(out.topic, ()):
                        work.append((nxt, out.topic, out.event, None, position))
        # Where each observation came from: this record (pipeline/monitoring/dedup.py).
        _place(held, start, f"{topic}/{msg.partition}", msg.offset)

    async def send_held(held: list[Held]) -> None:
        """The observations of a run, one record per cell (pipeline/monitoring/batches.py).
        A record no Kafka record can carry (a text UTF-8 cannot encode) is split: each
        observation alone, the one at fault dead-lettered as its own input's."""
        events = [out.event for out, _, _ in held]
        for group, record in records_for(events, coalesce):
            out, in_key, source = held[group[0]]
            if len(group) == 1:
                await write(out, in_key, source[2], source)
                continue
            try:
                wire = (MONITOR_OBSERVATIONS.topic, *record.to_binary())
            except Exception:
                for i in group:
                    await send_held([held[i]])
                continue
            await put(wire, source[2])

    async def run_group(stream: Any) -> None:
        try:
            async for event in stream.events():
                try:
                    await run(stream, event)
                except BaseException as exc:  # nothing of the run is acked yet: stop first
                    record_guard.unhandled(outage, event.message, exc)
        finally:  # the agent's end (the worker stopping): its key-read threads let go
            if key_reads is not None:
                key_reads.close()  # not joined: a read in hand may hang

    async def run(stream: Any, event: Any) -> None:
        """The event faust's iterator yielded, then what already waits in the queue,
        without a turn of the event loop per record (queued_events.py). The run's
        observations go out coalesced before any record of the run is acked (an ack lets
        the next commit pass a record, and faust flushes its producer, not `held`, before
        committing); a run that holds none acks each record once the next is taken
        (`run_queued`); the last is acked by faust's iterator as the event it yielded."""
        if key_reads is not None:  # the keys of the run's records in one key-store read
            await key_reads(waiting_keys(stream, event, QUEUED_RUN_MAX))  # off the loop
        await run_queued(stream, event, guarded, send_held, QUEUED_RUN_MAX)

    async def guarded(event: Any, held: list[Held]) -> None:
        try:
            await handle(event.message, held)
        except BaseException as exc:  # faust's `finally` would ack it: stop first
            record_guard.unhandled(outage, event.message, exc)

    run_group.__qualname__ = run_group.__name__ = f"stages_{plan.name.replace('+', '_')}"
    # concurrency=1: with more, faust may commit past a record still being processed
    # (faust-streaming #606); scale out with partitions and workers instead.
    app.agent(source, name=f"klantsignaal.{plan.name}", concurrency=1)(run_group)


async def open_with_lookup_off_loop(
    sealer: Sealer | None,
    reads: KeyReads | None,
    key: bytes | None,
    headers: list[tuple[str, bytes]],
    value: bytes | None,
) -> Any:
    """A record opened as `open_input` opens it: on the event loop when its key is cached
    (the usual case, no thread hop); otherwise on the agent's key-read thread, awaited, so
    a key store that is slow or silent holds this record (and its agent) only, not the
    loop (key_reads.py). Retried in place there as on the loop."""
    opened = open_input(sealer, key, headers, value, cached_only=True)
    if opened is not NOT_CACHED:
        return opened
    if reads is None:  # no thread to read on (not the worker's agents): here, as before
        return open_input(sealer, key, headers, value)
    return await reads.lookup(open_input, sealer, key, headers, value)


def _place(held: list[Held], start: int, log: str, offset: int) -> None:
    """The observations held from `start` on (one input record's) with their position."""
    if len(held) <= start:
        return
    events = placed([out.event for out, _, _ in held[start:]], log, offset)  # type: ignore[misc]
    for i, event in enumerate(events, start):
        out, in_key, source = held[i]
        held[i] = (with_event(out, event), in_key, source)


def _sender(app: faust.App, outage: Outage) -> Callable[..., Any]:
    """`await send(topic, position, key, value, headers)`: straight to faust's producer (what
    Topic.send ends in, without its per-message future and sensor wrapping; faust flushes it
    before committing offsets); a send the producer refuses is retried in place
    (in_place.py), never skipped. Returns the delivery future."""

    async def send(topic: str, position: str, key: Any, value: Any, headers: Any) -> Any:
        def again() -> Any:
            producer = app.producer
            if isinstance(producer, GuardedProducer):  # the same, less faust's wrapping
                return producer.send_output(topic, key, value, headers)
            return producer.send(topic, key, value, None, None, headers)

        try:
            return await again()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the first failure; the retries log their own
            what = f"sending to {topic} for the record at {position}"
            log.warning("%s failed: %r; retrying in place", what, exc)
        return await outage.retry_async(what, again)

    return send


def _on_delivered(outage: Outage, topic: str, position: str) -> Callable[[Any], None]:
    """The delivery callback of a stage output: one the producer could not deliver after
    its own retries (the broker refused it, or it outlived the request timeout) stops the
    worker (in_place.py, exit 75). Its record was acked when the send returned, and a commit
    would pass it with the output lost; the stop comes first (faust flushes the producer
    before it commits, and this callback runs before that flush returns), so the record is
    processed again after the restart. Logged by exception type only: never a value."""

    def delivered(sent: Any) -> None:
        if sent.cancelled() or sent.exception() is None:
            return
        exc = sent.exception()
        log.error("sending a stage output failed: %s", type(exc).__name__)
        outage.give_up(f"delivering to {topic} the output of the record at {position}", exc)

    return delivered


async def _process(
    stage: Stage,
    topic: str,
    decoded: Any,
    states: Mapping[str, State],
    position: str,
    raw: dict[str, Any] | None,
) -> Outcome:
    """process_record, retrying what escapes it (a table write failing, not a stage bug).

    Stage errors come back as dead letters already; what still raises is the runtime's own
    part, typically transient (metadata, a broker moving). Retry a few times, then
    dead-letter rather than let faust's agent crash, which would skip the record unseen.
    StateUnavailable (the key store failing inside a stage's state access, beyond its own
    in-place retries) is no fault of the record: raised on, so the agent's guard stops the
    worker (exit 75) before the record is acked (record_guard.py).
    """
    attempt = 0
    while True:
        try:
            return process_record(stage, topic, decoded, states, position, raw)
        except StateUnavailable as exc:
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "?"
            log.error("state of %s at %s %s unavailable: %s", stage.name, topic, position, cause)
            raise
        except Exception as exc:
            if attempt == len(GLUE_RETRY_PAUSES):
                log.exception("processing %s at %s failed for good", topic, position)
                record = raw or (decoded.to_structured() if not isinstance(decoded, str) else {})
                return Outcome(
                    dead_letter=runtime_failure(stage.name, topic, position, exc, record)
                )
            pause = GLUE_RETRY_PAUSES[attempt]
            attempt += 1
            log.warning(
                "processing %s at %s failed (attempt %d), retrying in %.1f s: %r",
                topic,
                position,
                attempt,
                pause,
                exc,
            )
            await asyncio.sleep(pause)


def run_worker(settings: Settings, *, loglevel: str | None = None) -> None:
    """Build the topology with the default scorer, ensure the topics and run (blocking)."""
    from pipeline.topology import scorer_for, topology_for

    level = loglevel or settings.log_level
    configure_logging(level, settings.log_format)  # text or JSON lines (pipeline.ops.logs)
    if not settings.link_key:
        # Invitation tokens are HMACs with this key: every worker and the web edge must
        # share it, so a generated one would make links nobody can open.
        raise SystemExit("KLANTSIGNAAL_LINK_KEY must be set for the Kafka worker")
    scorer = scorer_for(settings)  # the promoted model in data_dir/models, as embedded
    log.info(
        "starting klantsignaal kafka worker: bootstrap=%s prefix=%r partitions=%d scorer=%s",
        settings.kafka_bootstrap,
        settings.kafka_topic_prefix,
        settings.kafka_partitions,
        getattr(scorer, "version", type(scorer).__name__),
    )
    topology = topology_for(settings, scorer)
    compile_fast_validators()  # before ready: not in the first run's time
    gc.set_threshold(*WORKER_GC_THRESHOLDS)
    logging_config = start_worker_ops(settings, topology, level)
    ensure_topics(settings, state_names=topology.state_names())
    app = build_app(settings, topology)
    worker = faust.Worker(
        app, loglevel=level, redirect_stdouts=False, logging_config=logging_config
    )
    worker.execute_from_commandline()


def main() -> None:
    run_worker(Settings.from_env())


if __name__ == "__main__":
    main()
