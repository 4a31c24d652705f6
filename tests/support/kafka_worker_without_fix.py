"""The Kafka worker with one of the offset fixes of pipeline.runtimes.kafka.offsets switched
off, so that the test for an upstream faust-streaming bug can be shown to fail without its
fix. Used only by tests (tests/support/kafka_harness.py starts it instead of the real worker when
KLANTSIGNAAL_TEST_WITHOUT_FIX names a fix):

    KLANTSIGNAAL_TEST_WITHOUT_FIX=position .venv/bin/python -m pytest -p no:rerunfailures \\
        tests/pipeline/runtimes/kafka/test_kafka_offsets.py::test_commits_reach_end_offsets_with_a_transaction_per_record

Fixes (docs/kafka.md, "Offsets: what the worker corrects in faust-streaming"):

- `position`: commit by position (faust-streaming #606, #401, #625): faust's own
  consecutive-acks commit comes back.
- `seek-back`: seek back after recovery (#596, #216, #221): nothing is sought back, and a
  record delivered twice and acked at once leaves its dropped first copy pending.
- `failed-commit`: a failed commit is not remembered as done (#316): faust's bookkeeping.
- `stale-position`: a position reported by a fetch that spanned a revoke or seek back (or
  read while the flow was stopped) is taken, as before fix 4.
- `dropped`: fetched records faust never handed to the streams go unnoticed (fix 5).
- `paused-fetch`: the fetch gets faust's live set of active partitions, which aiokafka
  reads as "all partitions" once faust has paused them all (fix 6).
- `commit-epoch`: a commit sends the offsets it chose whatever happened while it waited
  (a revoke, an assignment, a seek back: fix 7), the worker's seeks run on its own thread,
  and a position report checks the epoch of the partitions active when its fetch began only.
- `slow-commit` (not a fix: an experiment for fix 7): every offset commit waits 8 s after
  it chose its offsets (`KLANTSIGNAAL_TEST_COMMIT_WAIT` seconds), as commits took 7-9 s
  on the loaded machine, so that commits span rebalances and seek backs far more often.
- `agent-guard` (not an offset fix: the agent's, pipeline/runtimes/kafka/record_guard.py):
  an error escaping a record's processing leaves the agent (faust acks the record and
  restarts the agent), a lone surrogate escape decodes, a sealed record that is no route
  or no sealed envelope escapes opening, an output or dead letter that UTF-8 cannot carry
  raises (tests/pipeline/runtimes/kafka/test_kafka_agent_guard.py).
- `changelog-refused` (not an offset fix): a table change the broker refused is only
  logged by faust (pipeline/runtimes/kafka/changelog_guard.py;
  tests/pipeline/runtimes/kafka/test_kafka_changelog_refused.py).
- `outage-rebalance` (not an offset fix): a rebalance during an in-place retry goes
  unnoticed (pipeline/runtimes/kafka/in_place.py;
  tests/pipeline/runtimes/kafka/test_kafka_outage_rebalance.py).
- `keystore-hang` (not an offset fix: the key store's): no connect or statement timeout,
  no keepalives, no call deadline, so a key store that does not answer hangs the worker
  (pipeline/runtimes/kafka/keystore_bounds.py;
  tests/pipeline/runtimes/kafka/test_kafka_keystore_hang.py).
- `key-lookup-loop` (not an offset fix: the key store's): a record whose key is not
  cached is opened on the event loop, its lookup (retried in place) holding the loop, as
  before it went to the agent's key-read thread (`worker.open_with_lookup_off_loop`,
  pipeline/runtimes/kafka/key_reads.py; the loop probe in
  tests/pipeline/runtimes/kafka/test_kafka_keystore_hang.py).
- `sigterm-wait` (not an offset fix: the worker's stop): a SIGTERM while a record waits
  in an in-place retry leaves faust's shutdown waiting for that record until the
  dependency answers or the outage limit passes (pipeline/runtimes/kafka/in_place.py
  `Outage.worker_stops`; tests/pipeline/runtimes/kafka/test_kafka_keystore_sigterm.py).
- `monitor-dedup` (not an offset fix: the monitoring stage's): observations are checked
  against the cell's last 100 ids only, not their positions (pipeline/monitoring/dedup.py;
  tests/pipeline/runtimes/kafka/test_kafka_monitor_replay.py).
- `changelog-size` (not an offset fix): a table change over the producer's
  max.request.size goes into faust's buffer unmeasured and crashes it there
  (pipeline/runtimes/kafka/changelog_guard.py;
  tests/pipeline/runtimes/kafka/test_kafka_changelog_too_large.py);
  `changelog-size-check` switches off only the measuring (the buffer guard then stops the
  worker when the send fails).
- `commit-flush` (not an offset fix): the deferred table writes (table_writes.py: monitor
  cells, the trigger's `last_invited`, the join's contact context) are not flushed to
  their changelogs before an offset commit
  (tests/pipeline/runtimes/kafka/test_kafka_deferred_context.py).
- `pending-taken` (not an offset fix: the join's): a contact takes the answers waiting for
  it out of `pending` and forgets them, so a replay of the contact finds none (docs/kafka.md,
  Known gaps; tests/pipeline/runtimes/kafka/test_kafka_pending_replay.py).
- `context-first` (not an offset fix): a newly assigned answers partition is not held
  until the contacts on the log are processed (pipeline/runtimes/kafka/context_first.py), so
  a replayed answer may be joined before its klant's contacts that came before it
  (tests/pipeline/runtimes/kafka/test_kafka_context_first.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any, NoReturn

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from pipeline import sealing
from pipeline.runtimes.kafka import (
    changelog_guard,
    codec,
    context_first,
    in_place,
    keystore_bounds,
    offsets,
    record_guard,
    table_writes,
    worker,
)
from pipeline.stages import scoring
from pipeline.topology import DEAD_LETTER
from schemas import jsonfast


async def _seek_nothing(self: Any) -> dict[Any, int]:
    return {}


def _first_delivery_stays(self: Any, message: Any, epoch: int) -> None:
    # The bookkeeping before the fix: a copy acked before this returns leaves an earlier,
    # dropped copy of the same offset pending.
    tp, offset = message.tp, message.offset
    if epoch != self._epoch[tp]:
        return
    if not message.acked and message.refcount > 0:
        self._pending[tp][offset] = message
    if offset > self._delivered.get(tp, -1):
        self._delivered[tp] = offset


def _note_any_fetch(
    self: Any,
    tp: Any,
    last: int | None,
    position: int,
    epoch: int | None = None,
    offsets: Any = (),
) -> None:
    # The bookkeeping before fix 4: every report is taken, whenever its fetch began (what
    # fix 5 notes of each fetch is kept: only fix 4 is switched off).
    if offsets:
        self._expected[tp].extend(offsets)
    previous = self._fetched.get(tp)
    if last is None and previous is not None:
        last = previous[0]
    self._fetched[tp] = (last, position)


def _check_nothing(self: Any, tp: Any, offset: int) -> None:
    return None


async def _fetch_with_live_set(
    self: Any,
    consumer: Any,
    active_partitions: Any,
    timeout: float | None = None,
    max_records: int | None = None,
) -> Any:
    # The fetch before fix 6: faust's live set goes to aiokafka as it is, and positions are
    # reported only while it is not empty.
    epoch_of = getattr(self.consumer, "fetch_epoch", None)
    epochs = {tp: epoch_of(tp) for tp in active_partitions or ()} if epoch_of else {}
    records = await AIOKafkaConsumerThread._fetch_records(
        self, consumer, active_partitions, timeout=timeout, max_records=max_records
    )
    note = getattr(self.consumer, "note_fetch", None)
    if note is not None and active_partitions:
        assignment = consumer._fetcher._subscriptions.subscription.assignment
        for tp in active_partitions:
            state = assignment.state_value(tp)
            if state is None or not state.has_valid_position:
                continue
            batch = records.get(tp) if records else None
            offsets = [r.offset for r in batch] if batch else ()
            note(tp, offsets[-1] if offsets else None, state.position, epochs.get(tp), offsets)
    return records


def _take_and_forget(pending: Any, klant: str, contact_id: str) -> list[Any]:
    # The join before its fix: what a contact took is gone from the state.
    waiting = pending.get(klant)
    if not waiting or contact_id not in waiting:
        return []
    early = waiting.pop(contact_id)
    pending.put(klant, waiting)
    return list(early)


def _raise(outage: Any, message: Any, exc: BaseException) -> NoReturn:
    # Before the guard: what escaped the record left the agent.
    raise exc


def _wire_unguarded(out: Any, in_key: Any, source: Any) -> Any:
    # Before the guard: an event that is no record raised; a dead letter too (old codec).
    if out.event is not None:
        return (out.topic, *out.event.to_binary())
    value = json.dumps(out.dead_letter.to_dict(), ensure_ascii=False, separators=(",", ":"))
    return DEAD_LETTER, in_key, _old_dl_headers(out.dead_letter), value.encode()


def _old_dl_headers(dl: Any) -> list[tuple[str, bytes]]:
    return [
        ("content-type", b"application/json"),
        ("dl_reason", dl.reason.encode()[:1000]),
        ("dl_stage", dl.stage.encode()),
        ("dl_topic", dl.topic.encode()),
    ]


def _open_unguarded(self: Any, key: Any, headers: Any, value: Any) -> Any:
    # Sealer.open before the guard: any key looked up, the content trusted.
    seal = next((v for name, v in headers if name == sealing.SEAL_HEADER), None)
    if seal is None:
        return key, headers, value
    if seal != sealing.SEAL_VERSION + b":" + self.keys.store_id.encode():
        raise ValueError("record sealed with another key store")
    found = self.keys.for_route(key.decode("utf-8", "replace")) if key else None
    if found is None:
        return sealing.ERASED
    inner = jsonfast.loads(sealing._decrypt(found, value or b""))
    restored = [(str(n), str(v).encode("latin-1")) for n, v in inner["h"]]
    return inner["k"].encode(), restored, inner["v"].encode("latin-1")


def _open_input_unguarded(
    sealer: Any, key: Any, headers: Any, value: Any, cached_only: bool = False
) -> Any:
    # Opened at once, on the event loop (never NOT_CACHED), as before the guard.
    return codec.open_record(sealer, key, headers, value)


async def _open_on_the_loop(sealer: Any, reads: Any, key: Any, headers: Any, value: Any) -> Any:
    # The plain open on the event loop (its key store lookup and retries hold the loop).
    return worker.open_input(sealer, key, headers, value)


def _guard_nothing(table: Any, outage: Any) -> None:
    return None  # faust's own: a failed changelog delivery is logged, nothing more


async def _settle_nothing(ledger: Any = None, outage: Any = None) -> None:
    return None


def _revoked_unnoticed(self: Any, begins: bool) -> None:
    return None  # the retry goes on through a rebalance, as before


def _stop_unnoticed(self: Any) -> None:
    return None  # faust's shutdown waits for the record in a retry, as before


def _unbounded(cls: Any, settings: object) -> Any:
    return cls(connect_seconds=0, statement_ms=0, call_seconds=0, keepalive_seconds=0)


def _measure_nothing(sent: Any, table: Any, outage: Any) -> None:
    return None  # the change goes into faust's buffer unmeasured


def _buffer_unguarded(buffer: Any) -> None:
    return None  # an error sending a buffered change crashes faust's buffer, as before


def _ids_only(cell: Any, observation_id: str, at: Any = None, window: Any = None) -> bool:
    """The monitor's dedup before the positions: the cell's last 100 ids only."""
    return observation_id[:16] in cell["seen"]


async def _publish_nothing(self: Any) -> int:
    return 0  # deferred table writes never reach their changelogs (commit-flush)


def _slow_commits() -> None:
    wait = float(os.environ.get("KLANTSIGNAAL_TEST_COMMIT_WAIT", "8"))
    commit_offsets = offsets.SafeOffsetsConsumer._commit_offsets

    async def slow(self: Any, chosen: Any, start_new_transaction: bool = True) -> bool:
        await asyncio.sleep(wait)  # the offsets are chosen; the commit waits, as under load
        return await commit_offsets(self, chosen, start_new_transaction)

    offsets.SafeOffsetsConsumer._commit_offsets = slow  # type: ignore[method-assign]


def _hold_nothing(self: Any, assigned: Any) -> dict[Any, Any]:
    return {}  # answers handed over with the contacts, round-robin, as before


def switch_off(fix: str) -> None:
    mixin = offsets.SafeOffsetsConsumer
    if fix == "position":
        # faust's own come back, with the gap list its _new_offset reads
        del mixin._new_offset, mixin._filter_tps_with_pending_acks, mixin._add_gap
    elif fix == "seek-back":
        mixin.seek_back = _seek_nothing  # type: ignore[method-assign]
        mixin._note_delivery = _first_delivery_stays  # type: ignore[method-assign]
    elif fix == "failed-commit":
        del mixin._commit_offsets
    elif fix == "stale-position":
        mixin.note_fetch = _note_any_fetch  # type: ignore[method-assign]
    elif fix == "dropped":
        mixin._check_order = _check_nothing  # type: ignore[method-assign]
    elif fix == "paused-fetch":
        offsets.PositionReportingThread._fetch_records = _fetch_with_live_set  # type: ignore[method-assign]
    elif fix == "agent-guard":
        record_guard.unhandled = _raise  # type: ignore[assignment]
        record_guard.wire_record = _wire_unguarded  # type: ignore[assignment]
        worker.open_input = _open_input_unguarded  # type: ignore[assignment]
        sealing.Sealer.open = _open_unguarded  # type: ignore[method-assign]
        jsonfast.loads_text = jsonfast.loads  # type: ignore[assignment]
    elif fix == "changelog-refused":
        worker.guard_changelog = _guard_nothing  # type: ignore[assignment]
        worker.callbacks_settled = _settle_nothing  # type: ignore[assignment]
    elif fix == "outage-rebalance":
        in_place.Outage.partitions_revoked = _revoked_unnoticed  # type: ignore[method-assign]
    elif fix == "keystore-hang":
        keystore_bounds.KeyStoreTimeouts.from_settings = classmethod(_unbounded)  # type: ignore[method-assign,assignment]
    elif fix == "sigterm-wait":
        in_place.Outage.worker_stops = _stop_unnoticed  # type: ignore[method-assign]
    elif fix == "key-lookup-loop":
        worker.open_with_lookup_off_loop = _open_on_the_loop  # type: ignore[assignment]
    elif fix in ("changelog-size", "changelog-size-check"):
        changelog_guard._refuse_too_large = _measure_nothing  # type: ignore[assignment]
        if fix == "changelog-size":
            changelog_guard.guard_buffer = _buffer_unguarded  # type: ignore[assignment]
    elif fix == "pending-taken":
        scoring.take_pending = _take_and_forget  # type: ignore[assignment]
    elif fix == "monitor-dedup":
        from pipeline.stages import monitoring

        monitoring.already_seen = _ids_only  # type: ignore[assignment]
    elif fix == "context-first":
        context_first.ContextFirst.holds_for = _hold_nothing  # type: ignore[method-assign]
    elif fix == "commit-epoch":
        del mixin._commit, mixin._seek, mixin.fetch_epochs
        del offsets.PositionReportingThread._commit
    elif fix == "slow-commit":
        _slow_commits()
    elif fix == "commit-flush":
        table_writes.WriteBehind.publish = _publish_nothing  # type: ignore[method-assign,assignment]
    else:
        raise SystemExit(
            f"unknown fix {fix!r}: position, seek-back, failed-commit, stale-position, "
            "dropped, paused-fetch, commit-epoch, agent-guard, changelog-refused, "
            "outage-rebalance, sigterm-wait, keystore-hang, key-lookup-loop, changelog-size, "
            "changelog-size-check, "
            "pending-taken, monitor-dedup, commit-flush, context-first or slow-commit"
        )


if __name__ == "__main__":
    for name in sys.argv[1:]:
        switch_off(name)
        print(f"offset fix switched off: {name}", flush=True)
    worker.main()
