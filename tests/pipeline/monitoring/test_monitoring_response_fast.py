"""An observation with no invitation or answer and nothing due skips the queues
(`response._nothing_due`): decisions, cell and state keys stay exactly those of the queues'
own way, over a random stream that also leaves queues whose head deadline is unknown
(an answered head removed), overfull queues and early answers."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.monitoring import response
from pipeline.monitoring.cell import new_cell
from pipeline.monitoring.pending import MemoryStore
from pipeline.times import iso

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _stream(seed: int, n: int) -> list[tuple[str, str | None, str | None]]:
    rng = random.Random(seed)
    hours, made, out = 0.0, [], []
    for _ in range(n):
        hours += rng.expovariate(1 / 3)
        roll = rng.random()
        invited = answered = None
        if roll < 0.3:
            invited = f"c{len(made)}"
            made.append(invited)
        elif roll < 0.45 and made:
            answered = rng.choice(made)
        elif roll < 0.5:
            answered = f"early{rng.randrange(50)}"  # an answer before (or without) its invitation
        out.append((iso(T0 + timedelta(hours=hours)), invited, answered))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_skipping_idle_queues_changes_nothing(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _stream(seed, 1500)
    monkeypatch.setattr(response, "MAX_PENDING", 40)  # also overfull queues (decided early)
    monkeypatch.setattr(response, "MAX_EARLY", 8)
    fast_cell, fast_store = new_cell(), MemoryStore()
    slow_cell, slow_store = new_cell(), MemoryStore()
    real, skipped = response._nothing_due, 0
    for at, invited, answered in stream:
        monkeypatch.setattr(response, "_nothing_due", real)
        before = copy.deepcopy(fast_cell)
        fast = response.response_outcomes(fast_cell, fast_store, "x|y", at, 2.0, invited, answered)
        if invited is None and answered is None and fast_cell == before and not fast:
            skipped += 1
        monkeypatch.setattr(response, "_nothing_due", lambda *a: False)  # the queues' own way
        slow = response.response_outcomes(slow_cell, slow_store, "x|y", at, 2.0, invited, answered)
        assert fast == slow
        assert fast_cell == slow_cell
        assert dict(fast_store) == dict(slow_store)
    assert skipped > 100, "the stream exercises the shortcut"
