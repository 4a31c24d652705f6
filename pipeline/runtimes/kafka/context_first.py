"""Contacts first: a newly assigned answers partition waits until the contacts that were on
the log at the assignment are processed (docs/kafka.md, "Guarantees").

A signal carries the klant's other contacts (`contact_history`), and the alert policy's
repeat-contact rule reads them. The join's contact context reaches its changelog only at the
offset commit (table_writes.py), so after a crash the contacts processed since the last
commit are replayed, and so are the answers. The two topics are not ordered among each
other: faust fetches them side by side, round-robin, so a replayed answer could be joined
before the contacts of its klant that came before it, and its signal (same id, so the
warehouse keeps it) would miss them, and with them a repeat-contact alert.

Contacts and answers are keyed by klant with the same partition count, so partition N of
both holds the same klanten and faust's assignor gives both to the same worker. When a
worker is assigned answers partition N (start, restart, every rebalance), it keeps that
partition paused in faust (nothing of it is fetched, so nothing reaches the agents, and its
committed offset stays) until contacts partition N is processed up to the end offset it had
just after the assignment (the last stable offset: workers read committed records only):
every contact that was on the topic before the crash is then in the table before any
replayed answer is joined. "Processed" is what the commit would pass (`safe_offset` of
offsets.py: nothing below it unacked) or what is committed already. A contacts partition
that makes no progress for `KLANTSIGNAAL_KAFKA_CONTEXT_WAIT_SECONDS` (a stuck partition, an
end offset that cannot be read) releases its answers anyway, with a warning: answers are
late while contacts drain, never held for good.

faust pauses and resumes partitions itself (every rebalance pauses all of them and its
recovery resumes the stream partitions; offsets.py fix 5 pauses a partition to seek it
back): a resume of a held partition is remembered and carried out at the release, a pause
cancels a remembered resume. The worker stays ready (/readyz) while it holds: it is
processing contacts; the held answers show as consumer lag.

Not covered: a contact published *after* its klant's answer (a channel system that reports
late) is not on the log at the assignment, so nothing orders it before the answer; the
signal then lacks it, as it would without a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from faust.types import TP

from pipeline.settings import Settings
from pipeline.stages.base import replay_after
from pipeline.topology import Topology

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05


class ContextFirst:
    """Which input topics wait for which after an assignment (physical names)."""

    def __init__(self, after: Mapping[str, tuple[str, ...]], stall_seconds: float) -> None:
        self.after = {topic: tuple(first) for topic, first in after.items() if first}
        self.stall_seconds = stall_seconds

    @classmethod
    def for_topology(
        cls, settings: Settings, topology: Topology, consumed: Iterable[str]
    ) -> ContextFirst:
        """From the stages' `replay_after`, limited to topics the group reads."""
        read = set(consumed)
        after: dict[str, set[str]] = {}
        for stage in topology.stages:
            for topic, first in replay_after(stage).items():
                if topic in read:
                    after.setdefault(settings.topic(topic), set()).update(
                        settings.topic(t) for t in first if t in read
                    )
        return cls(
            {t: tuple(sorted(f)) for t, f in after.items()}, settings.kafka_context_wait_seconds
        )

    def holds_for(self, assigned: Iterable[Any]) -> dict[Any, tuple[Any, ...]]:
        """Assigned partitions that wait -> the assigned partitions they wait for."""
        mine = {TP(tp.topic, tp.partition) for tp in assigned}
        holds: dict[Any, tuple[Any, ...]] = {}
        for tp in sorted(mine):
            first = tuple(TP(t, tp.partition) for t in self.after.get(tp.topic, ()))
            present = tuple(f for f in first if f in mine)
            if len(present) < len(first):
                log.warning(
                    "%s assigned without %s: not co-partitioned, not held",
                    tp,
                    [f for f in first if f not in mine],
                )
            if present:
                holds[tp] = present
        return holds


class ContextFirstConsumer:
    """Mixin for faust's Consumer (before SafeOffsetsConsumer in the bases): holds the
    partitions `app.context_first` names after each assignment until their partners are
    processed to the end offsets they had then."""

    _held: dict[Any, tuple[Any, ...]]
    _held_resume: set[Any]
    _hold_epoch: int
    _hold_task: asyncio.Task[None]  # the watch of the latest assignment's holds

    def _init_context_first(self) -> None:
        self._held = {}
        self._held_resume = set()  # held partitions faust resumed meanwhile
        self._hold_epoch = 0

    def pause_partitions(self, tps: Iterable[Any]) -> None:
        tps = list(tps)
        self._held_resume.difference_update(tps)
        super().pause_partitions(tps)  # type: ignore[misc]

    def resume_partitions(self, tps: Iterable[Any]) -> None:
        tps = list(tps)
        held = [tp for tp in tps if tp in self._held]
        self._held_resume.update(held)
        super().resume_partitions([tp for tp in tps if tp not in self._held])  # type: ignore[misc]

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # A watcher of the old assignment ends. (getattr: tests build the consumer bare.)
        self._hold_epoch = getattr(self, "_hold_epoch", 0) + 1
        for tp in revoked:
            getattr(self, "_held", {}).pop(tp, None)
            getattr(self, "_held_resume", set()).discard(tp)
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        plan: ContextFirst | None = getattr(self.app, "context_first", None)  # type: ignore[attr-defined]
        holds = plan.holds_for(assigned) if plan is not None else {}
        self._hold_epoch += 1
        self._held = dict(holds)
        self._held_resume.clear()
        # Paused before faust makes the assignment active: not one fetch of them.
        self._paused_partitions.update(holds)  # type: ignore[attr-defined]
        await super().on_partitions_assigned(assigned, generation_id)  # type: ignore[misc]
        if holds and plan is not None:
            epoch = self._hold_epoch
            # Kept: the loop holds only a weak reference to a task.
            self._hold_task = asyncio.get_event_loop().create_task(
                self._hold_until_processed(epoch, plan)
            )

    def _processed_to(self, tp: Any) -> int | None:
        """Below this offset every record of `tp` is processed (None: not known yet)."""
        known = [
            offset
            for offset in (
                self.safe_offset(tp),  # type: ignore[attr-defined]
                self._committed_offset.get(tp),  # type: ignore[attr-defined]
            )
            if offset is not None
        ]
        return max(known) if known else None

    async def _end_offsets(self, tps: list[Any], limit: float) -> dict[Any, int]:
        try:
            ends = await asyncio.wait_for(self.highwaters(*tps), limit)  # type: ignore[attr-defined]
        except Exception as exc:  # retried while the stall bound allows
            log.warning("end offsets of %s not read: %r", tps, exc)
            return {}
        return {TP(tp.topic, tp.partition): int(end) for tp, end in ends.items()}

    async def _hold_until_processed(self, epoch: int, plan: ContextFirst) -> None:
        """Watch the partners until each held partition can go. A watch that fails (a bug)
        releases what this assignment still holds, logged: without it nothing would ever
        resume those partitions until the next rebalance, and their answers would wait
        unseen."""
        try:
            await self._watch(epoch, plan)
        except Exception:
            log.exception("the hold of answers after the assignment failed; releasing them")
            if epoch == self._hold_epoch:
                for tp in list(self._held):
                    self._release(tp, "after the hold failed")

    async def _watch(self, epoch: int, plan: ContextFirst) -> None:
        began = stalled_since = time.monotonic()
        partners = sorted({p for first in self._held.values() for p in first})
        ends: dict[Any, int] = {}
        seen: dict[Any, int | None] = {}
        while epoch == self._hold_epoch and self._held:
            if self.should_stop:  # type: ignore[attr-defined]
                return
            if len(ends) < len(partners):
                missing = [p for p in partners if p not in ends]
                ends.update(await self._end_offsets(missing, max(1.0, plan.stall_seconds)))
                if len(ends) == len(partners):
                    for tp, first in self._held.items():
                        need = ", ".join(f"{p} to {ends[p]}" for p in first)
                        log.info("holding %s until %s is processed", tp, need)
                if epoch != self._hold_epoch:
                    return  # revoked or reassigned while the end offsets were read
            done = {p: self._processed_to(p) for p in partners}
            # Table recovery (long with large tables) or a seek back is no stall.
            recovering = self.app.rebalancing or not self.flow_active  # type: ignore[attr-defined]
            if done != seen or recovering:
                seen, stalled_since = done, time.monotonic()
            for tp, first in list(self._held.items()):
                if all(p in ends and (done[p] or 0) >= ends[p] for p in first):
                    self._release(tp, f"after {time.monotonic() - began:.1f} s")
            if self._held and time.monotonic() - stalled_since > plan.stall_seconds:
                log.warning(
                    "contacts not processed to their end offsets after %.0f s without "
                    "progress (%s of %s): releasing %s; their answers may be joined "
                    "before contacts that were on the log",
                    plan.stall_seconds,
                    done,
                    ends,
                    sorted(self._held),
                )
                for tp in list(self._held):
                    self._release(tp, "without its contacts")
            await asyncio.sleep(POLL_SECONDS)

    def _release(self, tp: Any, how: str) -> None:
        self._held.pop(tp, None)
        log.info("released %s %s", tp, how)
        if tp in self._held_resume:
            self._held_resume.discard(tp)
            super().resume_partitions([tp])  # type: ignore[misc]
