"""Retention removes what is due and nothing else, at the boundary: stage state (embedded
state table; Kafka changelogs by tombstones), callback addresses and the follow-up
comments in response_details. Rows an hour before the cut-off go, an hour after stay."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from consumers.callback_book import SqlCallbackBook
from consumers.privacy_ops import retention
from pipeline.app import System, build_embedded
from pipeline.runtimes.kafka.state_retention import _latest
from pipeline.settings import Settings
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT
from tests.support.events import contact_data, klant
from tests.support.kafka_harness import KafkaHarness, kafka_harness  # noqa: F401 - fixture

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    keys = {"api_token": "t", "link_key": "l", "pseudonym_key": "p"}
    built = build_embedded(Settings(data_dir=tmp_path / "data", **keys))  # type: ignore[arg-type]
    built.runtime.start()  # type: ignore[union-attr]
    yield built
    built.close()


def _contact(who: str, at: datetime) -> CloudEvent:
    data = contact_data(klant=who, plaatsgevondenOp=_iso(at))
    return CloudEvent(id=f"e-{who}", source="/test", type=CONTACT.name, data=data, partitionkey=who)


def _state_keys(path: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return {(n, k) for n, k in conn.execute("SELECT namespace, key FROM state")}
    finally:
        conn.close()


def test_embedded_retention_at_the_boundary(system: System) -> None:
    days = system.settings.retention_state_days
    old, fresh = klant(901), klant(902)
    cutoff = NOW - timedelta(days=days)
    system.runtime.publish(  # type: ignore[union-attr]
        CONTACT.topic,
        [_contact(old, cutoff - HOUR), _contact(fresh, cutoff + HOUR)],
    )
    system.runtime.run_until_idle()  # type: ignore[union-attr]
    log_db = system.settings.data_dir / "log.db"
    conn = sqlite3.connect(log_db)
    with conn:  # an opt-out long ago holds: kept
        conn.execute(
            "INSERT INTO state VALUES ('opted_out', ?, ?)",
            (old, json.dumps({"at": "2020-01-01T00:00:00Z", "optOutId": "o-1"})),
        )
    conn.close()
    before = _state_keys(log_db)
    assert ("contacts", old) in before and ("contacts", fresh) in before

    book = SqlCallbackBook(system.settings.dispatch)
    address_days = system.settings.retention_addresses_days
    comment_days = system.settings.retention_comments_days
    with book.engine.begin() as c:
        for rid, age in (("r-weg", address_days * 24 + 1), ("r-blijft", address_days * 24 - 1)):
            c.execute(
                text(
                    "INSERT INTO callback_addresses VALUES (:r, :k, 'c-1', 'telefoon', "
                    "'0612345678', :at)"
                ),
                {"r": rid, "k": old, "at": NOW - timedelta(hours=age)},
            )
    with system.warehouse.engine.begin() as c:
        for rid, age in (("d-weg", comment_days * 24 + 1), ("d-blijft", comment_days * 24 - 1)):
            at = NOW - timedelta(hours=age)
            c.execute(
                text(
                    "INSERT INTO response_details (response_id, invitation_id, klant, event_id,"
                    " revisie, first_answered_at, answered_at, vervolg_toelichting) VALUES"
                    " (:r, :r, :k, :r, 1, :at, :at, 'toelichting')"
                ),
                {"r": rid, "k": old, "at": at},
            )

    result = retention(system.settings, NOW)
    after = _state_keys(log_db)
    gone = before - after
    assert ("contacts", old) in gone
    assert {k for _, k in gone} == {old}, gone  # only the old klant's entries went
    assert ("contacts", fresh) in after
    assert ("opted_out", old) in after
    assert result["removed"]["log.db:state contacts"] == 1
    with book.engine.connect() as c:
        kept = {r[0] for r in c.execute(text("SELECT response_id FROM callback_addresses"))}
    assert kept == {"r-blijft"}
    with system.warehouse.engine.connect() as c:
        toelichting = dict(
            c.execute(text("SELECT response_id, vervolg_toelichting FROM response_details")).all()
        )
    assert toelichting == {"d-weg": None, "d-blijft": "toelichting"}


@pytest.mark.slow
def test_kafka_retention_tombstones_due_state_only(
    kafka_harness: KafkaHarness,  # noqa: F811
) -> None:
    settings = kafka_harness.settings
    days = settings.retention_state_days
    old, fresh = klant(911), klant(912)
    cutoff = NOW - timedelta(days=days)
    kafka_harness.publish(
        CONTACT.topic,
        [_contact(old, cutoff - HOUR), _contact(fresh, cutoff + HOUR)],
    )
    sealer = kafka_harness.sealer
    assert sealer is not None
    routes = {}
    deadline = time.monotonic() + 60
    while len(routes) < 2 and time.monotonic() < deadline:
        for who in (old, fresh):
            found = sealer.keys.for_klant(who, create=False)
            if found:
                routes[who] = json.dumps(found.route).encode()
        time.sleep(0.2)
    kafka_harness.wait_idle()
    topic = f"{settings.kafka_topic_prefix}klantsignaal-contacts-changelog"

    def latest() -> dict[bytes, bytes | None]:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        try:
            return {k: v for (_, k), v in _latest(consumer, topic).items()}
        finally:
            consumer.close()

    deadline = time.monotonic() + 60
    while not all(latest().get(r) for r in routes.values()):
        assert time.monotonic() < deadline, "state never reached the changelog"
        time.sleep(0.5)
    from dataclasses import replace

    result = retention(replace(settings, runtime="kafka"), NOW)
    state = latest()
    assert state[routes[old]] is None  # tombstone
    assert state[routes[fresh]] is not None
    assert result["removed"]["kafka:contacts state (tombstones)"] == 1


def test_sent_notifications_go_after_their_term_waiting_ones_stay(system: System) -> None:
    """Coordinator e-mails quote scrubbed example comments: the outbox is not kept forever."""
    from consumers.notify_outbox import Notification, Outbox

    outbox = Outbox(system.settings.warehouse)
    cut = NOW - timedelta(days=system.settings.retention_notifications_days)

    def note(name: str) -> Notification:
        return Notification(name, "nieuw", "email", "team@example.nl", "KCC", "hoog", "s", "t")

    for name, created in (("oud", cut - HOUR), ("jong", cut + HOUR), ("wacht", cut - HOUR)):
        outbox.enqueue([note(name)], created)
    for row in outbox.rows():
        if row["alert_id"] != "wacht":
            outbox.mark_sent(row["id"], NOW)

    result = retention(system.settings, NOW)
    left = {row["alert_id"]: row["status"] for row in outbox.rows()}
    assert left == {"jong": "verzonden", "wacht": "wachtend"}
    assert result["removed"]["warehouse:notification_outbox"] == 1
