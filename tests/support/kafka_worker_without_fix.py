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
"""

from __future__ import annotations

import sys
from typing import Any

from pipeline.runtimes.kafka import offsets, worker


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
    self: Any, tp: Any, last: int | None, position: int, epoch: int | None = None
) -> None:
    # The bookkeeping before fix 4: every report is taken, whenever its fetch began.
    previous = self._fetched.get(tp)
    if last is None and previous is not None:
        last = previous[0]
    self._fetched[tp] = (last, position)


def _check_nothing(self: Any, tp: Any, offset: int) -> None:
    return None


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
    else:
        raise SystemExit(
            f"unknown fix {fix!r}: position, seek-back, failed-commit, stale-position or dropped"
        )


if __name__ == "__main__":
    for name in sys.argv[1:]:
        switch_off(name)
        print(f"offset fix switched off: {name}", flush=True)
    worker.main()
