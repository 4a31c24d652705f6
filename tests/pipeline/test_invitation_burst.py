"""Quarantine and opt-out hold across channels when a burst of contacts for one klant
arrives at once — the same on both runtimes (embedded SQLite and Kafka)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.times import iso, parse_time
from schemas.cloudevents import CloudEvent, new_event
from schemas.models import OptOut
from schemas.types import CONTACT, INVITATION, OPT_OUT
from tests.support.events import contact_event, klant
from tests.support.harness import EmbeddedHarness, RuntimeHarness
from tests.support.kafka_harness import kafka_harness  # noqa: F401 - fixture for the kafka variant

CHANNELS = ("telefoon", "e-formulier", "balie")
QUARANTINE = timedelta(days=30)  # the shipped policy
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RuntimeHarness]:
    if request.param == "embedded":
        harness = EmbeddedHarness(tmp_path)
        yield harness
        harness.close()
    else:
        yield request.getfixturevalue("kafka_harness")


def burst(who: str, rng: random.Random, spread: timedelta, n: int = 50) -> list[CloudEvent]:
    """n contacts for one klant on three channels, at random moments within `spread`,
    in random order (channel systems do not agree on order)."""
    events = []
    for i in range(n):
        when = START + timedelta(seconds=rng.uniform(0, spread.total_seconds()))
        events.append(
            contact_event(
                klant=who,
                kanaal=CHANNELS[i % len(CHANNELS)],
                plaatsgevondenOp=iso(when),
                bereikbaarheid={"enqueteToestemming": True, "kanalen": ["inline", "email"]},
            )
        )
    rng.shuffle(events)
    return events


def opt_out(who: str, at: datetime) -> CloudEvent:
    model = OptOut(opt_out_id=f"o-{who[-12:]}", klant=who, gegeven_op=iso(at), bron="e-mail")
    return new_event(OPT_OUT.name, model.to_dict(), source="/test", key=who)


def invited(runtime: RuntimeHarness, contacts: list[CloudEvent]) -> list[datetime]:
    ids = {c.data["contactId"]: c.data["plaatsgevondenOp"] for c in contacts}
    records = runtime.records(INVITATION.topic, min_count=0)
    chosen = [ids[r["data"]["contactId"]] for r in records if r["data"]["contactId"] in ids]
    return sorted(parse_time(t) for t in chosen)


@pytest.mark.slow
def test_quarantine_and_opt_out_hold_for_a_burst_on_three_channels(
    runtime: RuntimeHarness,
) -> None:
    rng = random.Random(20261129)
    same_hour, spread_out, opted = klant(101), klant(102), klant(103)
    # The opt-out comes first and is processed before the bursts arrive.
    runtime.publish(OPT_OUT.topic, [opt_out(opted, START - timedelta(days=1))])
    runtime.wait_idle()  # type: ignore[attr-defined]

    bursts = {
        same_hour: burst(same_hour, rng, timedelta(hours=1)),
        spread_out: burst(spread_out, rng, timedelta(days=100)),
        opted: burst(opted, rng, timedelta(days=100)),
    }
    # All 150 at once, in one atomic publish, interleaved across the klanten.
    everything = [e for events in bursts.values() for e in events]
    rng.shuffle(everything)
    runtime.publish(CONTACT.topic, everything)
    runtime.wait_idle()  # type: ignore[attr-defined]

    assert len(invited(runtime, bursts[same_hour])) == 1, "one invitation per quarantine"
    times = invited(runtime, bursts[spread_out])
    assert len(times) >= 2, "100 days hold more than one quarantine window"
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= QUARANTINE for gap in gaps), f"two invitations inside the window: {gaps}"
    assert invited(runtime, bursts[opted]) == [], "no invitation after an opt-out"

    # An opt-out later on also holds for every channel from then on.
    first = bursts[same_hour]
    runtime.publish(OPT_OUT.topic, [opt_out(same_hour, START + timedelta(days=1))])
    runtime.wait_idle()  # type: ignore[attr-defined]
    later = [
        contact_event(
            klant=same_hour,
            kanaal=kanaal,
            plaatsgevondenOp=iso(START + timedelta(days=200 + i)),
        )
        for i, kanaal in enumerate(CHANNELS * 3)
    ]
    runtime.publish(CONTACT.topic, later)
    runtime.wait_idle()  # type: ignore[attr-defined]
    assert invited(runtime, later) == []
    assert len(invited(runtime, first)) == 1
