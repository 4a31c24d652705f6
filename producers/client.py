"""The publishing client for channel systems (e-formulieren, KCC telephony, balie, ...).

It validates and makes events safe *before* they leave the channel system — the same
ingestion edge as the HTTP API — and then sends them over HTTP (`POST /v1/events`) or
straight onto Kafka in CloudEvents binary content mode (`ce_` headers).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from pipeline.ports import Publisher
from pipeline.privacy import Pseudonymiser
from producers.ingestion import Accepted, AddressBook, IngestionEdge, publish_accepted
from schemas.cloudevents import utc_now
from schemas.types import CONTACT, PAGE_FEEDBACK, RESPONSE


class Transport(Protocol):
    # `raw`: the events as the channel system wrote them; `accepted`: after the edge.
    def send(self, raw: Sequence[dict[str, Any]], accepted: Sequence[Accepted]) -> list[str]: ...


class PublishingError(RuntimeError):
    def __init__(self, status: int, body: Any):
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {body}")


class HttpTransport:
    """Sends through the HTTP API, which pseudonymises with the server's key.

    The client has validated the events already, so a 422 here means client and server
    run different schema versions.
    """

    def __init__(
        self, base_url: str, token: str, timeout: float = 10.0, client: httpx.Client | None = None
    ):
        self._client = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._auth = {"Authorization": f"Bearer {token}"}

    def send(self, raw: Sequence[dict[str, Any]], accepted: Sequence[Accepted]) -> list[str]:
        response = self._client.post(
            "/v1/events",
            content=json.dumps(list(raw), ensure_ascii=False),
            headers={**self._auth, "Content-Type": "application/cloudevents-batch+json"},
        )
        if response.status_code != 202:
            raise PublishingError(response.status_code, response.json())
        return [a["id"] for a in response.json()["accepted"]]

    def close(self) -> None:
        self._client.close()


class PublisherTransport:
    """Sends through a Publisher port, e.g. KafkaPublisher (binary mode) or the embedded log.

    The pseudonyms are made here, so the client needs the deployment's PSEUDONYM_KEY; the
    addresses for dispatch go to `address_book`.
    """

    def __init__(self, publisher: Publisher, address_book: AddressBook | None = None):
        self._publisher = publisher
        self._address_book = address_book

    def send(self, raw: Sequence[dict[str, Any]], accepted: Sequence[Accepted]) -> list[str]:
        publish_accepted(self._publisher, self._address_book, accepted)
        return [a.event.id for a in accepted]


class PublishingClient:
    def __init__(self, transport: Transport, source: str, pseudonym_key: str | None = None):
        self._transport = transport
        # Over HTTP the server pseudonymises; a throw-away key here only serves validation.
        self._edge = IngestionEdge(Pseudonymiser(pseudonym_key or secrets.token_hex(16)))
        self._source = source

    def _envelope(self, type_name: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": self._source,
            "type": type_name,
            "time": utc_now(),
            "datacontenttype": "application/json",
            "data": data,
        }

    def publish(self, type_name: str, items: Sequence[dict[str, Any]]) -> list[str]:
        """Validate every item (raises ValidationFailed, nothing sent) and send them all."""
        raw = [self._envelope(type_name, d) for d in items]
        accepted = self._edge.prepare(raw, batch=True)
        return self._transport.send(raw, accepted)

    def contact(self, data: dict[str, Any]) -> str:
        return self.publish(CONTACT.name, [data])[0]

    def response(self, data: dict[str, Any]) -> str:
        return self.publish(RESPONSE.name, [data])[0]

    def page_feedback(self, data: dict[str, Any]) -> str:
        return self.publish(PAGE_FEEDBACK.name, [data])[0]
