"""Smoke tests of the test infrastructure itself: the real Kafka broker and PostgreSQL."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer, KafkaProducer

from tests.infra.kafka_broker import KafkaBroker
from tests.infra.postgres_server import PostgresServer


def _consume(consumer: KafkaConsumer, want: int, timeout: float = 30.0) -> list:
    records: list = []
    deadline = time.monotonic() + timeout
    while len(records) < want and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


@pytest.mark.kafka
def test_kafka_round_trip_with_headers(kafka_broker: KafkaBroker, kafka_topic_prefix: str) -> None:
    topic = f"{kafka_topic_prefix}contact-events"
    kafka_broker.create_topics([topic], partitions=4)

    producer = KafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap, acks="all", enable_idempotence=True
    )
    sent = []
    for i in range(6):
        klant = f"klant-{i % 2}".encode()
        headers = [("ce_type", b"nl.klantsignaal.contact.v1"), ("ce_id", f"id-{i}".encode())]
        sent.append(
            producer.send(topic, key=klant, value=f'{{"n": {i}}}'.encode(), headers=headers)
        )
    producer.flush(timeout=30)
    partitions_by_key: dict[bytes, set[int]] = {}
    for i, future in enumerate(sent):
        meta = future.get(timeout=10)
        partitions_by_key.setdefault(f"klant-{i % 2}".encode(), set()).add(meta.partition)
    producer.close()
    # Keyed records of one citizen land in one partition (joins stay local).
    assert all(len(p) == 1 for p in partitions_by_key.values())

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker.bootstrap,
        group_id=f"{kafka_topic_prefix}group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        records = _consume(consumer, want=6)
        consumer.commit()
    finally:
        consumer.close()

    assert sorted(r.value for r in records) == sorted(f'{{"n": {i}}}'.encode() for i in range(6))
    for r in records:
        headers = dict(r.headers)
        assert headers["ce_type"] == b"nl.klantsignaal.contact.v1"
        assert headers["ce_id"] == f"id-{r.value.decode()[6:-1]}".encode()


@pytest.mark.kafka
def test_kafka_auto_creates_topics_with_four_partitions(
    kafka_broker: KafkaBroker, kafka_topic_prefix: str
) -> None:
    topic = f"{kafka_topic_prefix}auto"
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    try:
        producer.send(topic, b"x").get(timeout=30)
        assert producer.partitions_for(topic) == {0, 1, 2, 3}
    finally:
        producer.close()


@pytest.mark.postgres
def test_postgres_table_round_trip(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        meta = sa.MetaData()
        signals = sa.Table(
            "signals",
            meta,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("klant", sa.String(64), nullable=False),
            sa.Column("comment", sa.Text),
            sa.Column("score", sa.Float),
        )
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                signals.insert(),
                [
                    {"klant": "k1", "comment": "Heel fijn geholpen", "score": 0.8},
                    {"klant": "k2", "comment": "Niemand belde terug", "score": -0.7},
                ],
            )
        with engine.connect() as conn:
            rows = conn.execute(sa.select(signals.c.klant, signals.c.score).order_by("id")).all()
        assert [tuple(r) for r in rows] == [("k1", 0.8), ("k2", -0.7)]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_url_gives_each_test_an_empty_database(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    # The session database exists too, for tests that want a shared one.
    shared = sa.create_engine(postgres_server.url)
    try:
        with shared.connect() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar() == (
                "klantsignaal_test"
            )
    finally:
        shared.dispose()
