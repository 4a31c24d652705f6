"""The publishing client for channel systems: validates before sending, then sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline.app import System, build_embedded
from pipeline.identity import contact_key
from pipeline.privacy import Pseudonymiser
from pipeline.settings import Settings
from producers.client import HttpTransport, PublisherTransport, PublishingClient
from schemas.validation import ValidationFailed
from tests.support.events import BSNS, contact_data


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    built = build_embedded(
        Settings(data_dir=tmp_path, api_token="t", pseudonym_key="server-key", link_key="l")
    )
    yield built
    built.close()


def _with_bsn() -> dict:
    data = contact_data(bereikbaarheid={"enqueteToestemming": True, "email": "a@example.nl"})
    del data["klant"]
    data["bsn"] = BSNS[1]
    return data


def test_http_client_sends_and_server_pseudonymises(system: System) -> None:
    transport = HttpTransport("http://testserver", "t", client=TestClient(system.web))
    client = PublishingClient(transport, source="/kcc/telefonie")
    [event_id] = client.publish("nl.klantsignaal.contact.v1", [_with_bsn()])
    [stored] = system.runtime.log.records("contact-events")  # type: ignore[union-attr]
    assert stored["id"] == event_id
    assert stored["source"] == "/kcc/telefonie"
    assert stored["data"]["klant"] == Pseudonymiser("server-key").klant(BSNS[1])
    assert "bsn" not in stored["data"]


def test_invalid_event_is_refused_before_anything_is_sent(system: System) -> None:
    sent: list[object] = []

    class Recording:
        def send(self, raw, accepted):
            sent.append(raw)
            return []

    client = PublishingClient(Recording(), source="/balie")
    bad = contact_data()
    del bad["kanaal"]
    with pytest.raises(ValidationFailed) as failure:
        client.publish("nl.klantsignaal.contact.v1", [contact_data(), bad])
    assert failure.value.problems[0].pointer == "/1/data/kanaal"
    assert sent == []


def test_publisher_transport_pseudonymises_with_the_deployment_key(system: System) -> None:
    remembered: list[tuple] = []

    class Book:
        def remember(self, contact_id, email, telefoon):
            remembered.append((contact_id, email, telefoon))

    transport = PublisherTransport(system.publisher, Book())
    client = PublishingClient(transport, source="/e-formulieren", pseudonym_key="server-key")
    data = _with_bsn()
    client.contact(data)
    [stored] = system.runtime.log.records("contact-events")  # type: ignore[union-attr]
    assert stored["data"]["klant"] == Pseudonymiser("server-key").klant(BSNS[1])
    key = contact_key(stored["data"]["klant"], data["contactId"])
    assert remembered == [(key, "a@example.nl", None)]
