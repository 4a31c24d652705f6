"""`klantsignaal dispatch` on Kafka: invitations from the worker become e-mails at a real SMTP
server (aiosmtpd), and the outcome is an event on the dispatch-outcomes topic."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consumers.dispatch import SqlAddressBook
from pipeline.identity import contact_key
from schemas.types import CONTACT, DISPATCH, INVITATION, OPT_OUT
from tests.infra._proc import terminate
from tests.pipeline.test_invitation_burst import opt_out
from tests.support.events import contact_event, klant
from tests.support.kafka_harness import KafkaHarness, open_harness
from tests.support.smtp_server import SmtpServer, smtp_server  # noqa: F401

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def kafka_harness(
    kafka_broker: Any, kafka_topic_prefix: str, tmp_path: Path
) -> Iterator[KafkaHarness]:
    """The worker with the e-mail delay at 0: the worker's policy decides when to send."""
    env = {"KLANTSIGNAAL_EMAIL_DELAY_SECONDS": "0"}
    harness = open_harness(kafka_broker.bootstrap, kafka_topic_prefix, tmp_path, env=env)
    try:
        yield harness
    finally:
        harness.close()


def test_dispatch_process_sends_and_reports_on_kafka(
    kafka_harness: KafkaHarness,
    smtp_server: SmtpServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    s = kafka_harness.settings
    book_url = f"sqlite:///{tmp_path / 'dispatch.db'}"
    book = SqlAddressBook(book_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLANTSIGNAAL_")}
    env.update(
        {
            "KLANTSIGNAAL_RUNTIME": "kafka",
            "KLANTSIGNAAL_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "KLANTSIGNAAL_KAFKA_TOPIC_PREFIX": s.kafka_topic_prefix,
            "KLANTSIGNAAL_KAFKA_PARTITIONS": str(s.kafka_partitions),
            "KLANTSIGNAAL_DISPATCH_URL": book_url,
            "KLANTSIGNAAL_API_TOKEN": s.api_token,
            "KLANTSIGNAAL_PSEUDONYM_KEY": s.pseudonym_key,
            "KLANTSIGNAAL_LINK_KEY": s.link_key,
            "KLANTSIGNAAL_DATA_DIR": str(tmp_path / "dispatch-data"),
            "KLANTSIGNAAL_KEYSTORE_URL": s.keystore,  # shared by every process
            "KLANTSIGNAAL_PUBLIC_URL": "https://enquete.example.nl",
            "KLANTSIGNAAL_SMTP_HOST": smtp_server.host,
            "KLANTSIGNAAL_SMTP_PORT": str(smtp_server.port),
            "KLANTSIGNAAL_EMAIL_DELAY_SECONDS": "0",
        }
    )
    # One citizen opted out earlier: the trigger never invites them again.
    kafka_harness.publish(OPT_OUT.topic, [opt_out(klant(701), datetime(2026, 1, 1, tzinfo=UTC))])
    kafka_harness.wait_idle()
    contacts = [
        contact_event(
            klant=klant(700 + i), bereikbaarheid={"enqueteToestemming": True, "kanalen": ["email"]}
        )
        for i in range(2)
    ]
    for i, c in enumerate(contacts):
        book.remember(
            contact_key(c.data["klant"], c.data["contactId"]), f"kafka-{i}@example.nl", None
        )
    log = (tmp_path / "dispatch.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "dispatch"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        kafka_harness.publish(CONTACT.topic, contacts)
        [message] = smtp_server.recorder.wait_for(1, timeout=60)
        assert message["To"] == "kafka-0@example.nl"
        assert "https://enquete.example.nl/q/" in str(message.get_body(("plain",)).get_content())
        [outcome] = kafka_harness.records(DISPATCH.topic, timeout=60)
        assert outcome["data"]["uitkomst"] == "delivered"
        assert outcome["data"]["klant"] == klant(700)
        kafka_harness.wait_idle()
        invited = {r["data"]["klant"] for r in kafka_harness.records(INVITATION.topic)}
        assert invited == {klant(700)}, "the opted-out citizen gets no invitation"
        assert len(smtp_server.recorder.messages) == 1
        assert proc.poll() is None, (tmp_path / "dispatch.log").read_text()
    finally:
        terminate(proc, grace_seconds=20)
        log.close()
    assert proc.returncode == 0, (tmp_path / "dispatch.log").read_text()
