"""HTTP ingestion: POST /v1/events (CloudEvents, single or batch) and GET /v1/invitations."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.warehouse import Warehouse, iso_utc
from pipeline.ops.metrics import edge_accepted
from pipeline.ports import Publisher
from pipeline.web.auth import WebAuth
from pipeline.web.authz import may_ingest
from producers.http_common import BodyTooLarge, authorised, problem, read_body, unauthorised
from producers.ingestion import (
    Accepted,
    AddressBook,
    IngestionEdge,
    by_topic,
    has_addresses,
    publish_accepted,
)
from producers.openapi import openapi_document
from producers.safe_input import MalformedJson, loads_strict
from schemas.validation import ValidationFailed

log = logging.getLogger(__name__)

SINGLE = "application/cloudevents+json"
MAX_DEPTH = 32  # events are shallow; deeper JSON is a mistake or an attack on the validator
BATCH = "application/cloudevents-batch+json"
# A single event up to this size is made safe and validated on the event loop (well under a
# millisecond); larger bodies and batches go to a thread, so no request stalls the others.
INLINE_BODY_BYTES = 16_384


@dataclass
class IngestionApi:
    edge: IngestionEdge
    publisher: Publisher
    address_book: AddressBook
    warehouse: Warehouse
    api_token: str
    base_url: str
    max_body_bytes: int
    max_batch_events: int
    auth: WebAuth | None = None  # scoped tokens; None: only api_token

    def routes(self) -> list[Route]:
        return [
            Route("/v1/events", self.post_events, methods=["POST"]),
            Route("/v1/invitations", self.get_invitations, methods=["GET"]),
            Route("/openapi.json", self.get_openapi, methods=["GET"]),
        ]

    async def get_openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def post_events(self, request: Request) -> Response:
        if (refused := await self._refused(request)) is not None:
            return refused
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (SINGLE, BATCH, "application/json"):
            return problem(
                415,
                f"unsupported content type '{content_type}'",
                accepted=[SINGLE, BATCH, "application/json"],
            )
        try:
            body = await read_body(request, self.max_body_bytes)
        except BodyTooLarge:
            return problem(413, f"request body larger than {self.max_body_bytes} bytes")
        try:
            parsed = loads_strict(body)
        except MalformedJson as exc:
            return problem(400, f"malformed JSON: {exc}")
        if _depth(parsed) > MAX_DEPTH:
            return problem(400, f"JSON nested deeper than {MAX_DEPTH} levels")
        batch = content_type == BATCH or (
            content_type == "application/json" and isinstance(parsed, list)
        )
        if batch and not isinstance(parsed, list):
            return problem(400, "a batch must be a JSON array of CloudEvents")
        items: list[Any] = parsed if batch else [parsed]
        if not items:
            return problem(400, "empty batch")
        if len(items) > self.max_batch_events:
            return problem(413, f"batch of {len(items)} events; at most {self.max_batch_events}")
        try:
            if batch or len(body) > INLINE_BODY_BYTES or self.edge.prepare_may_block:
                # Validation of a large batch takes a while, and a rotated pseudonym key
                # queries the warehouse: keep the event loop free.
                accepted = await run_in_threadpool(
                    self.edge.prepare, items, batch=batch, owned=True
                )
            else:  # one small event: less work than the hop to a thread and back
                accepted = self.edge.prepare(items, batch=False, owned=True)
            # owned: `parsed` was made from this body for this call and is not read again
        except ValidationFailed as exc:
            return problem(
                422,
                "invalid event(s); nothing was accepted",
                problems=[p.to_dict() for p in exc.problems],
            )
        try:
            await self._store(accepted)
        except Exception:
            # Nothing was acknowledged; the same request may be sent again (ids dedupe).
            log.exception("could not store %d event(s)", len(accepted))
            response = problem(503, "events could not be stored right now; nothing was accepted")
            response.headers["Retry-After"] = "5"
            return response
        return JSONResponse(
            {
                "accepted": [
                    {"id": a.event.id, "type": a.event.type, "topic": a.topic} for a in accepted
                ]
            },
            status_code=202,
        )

    async def _refused(self, request: Request) -> Response | None:
        """None when the caller may ingest; else the 401 or 403 to answer."""
        if self.auth is None:
            return None if authorised(request, self.api_token) else unauthorised()
        found = await self.auth.api_guard(request, may_ingest)
        return found if isinstance(found, Response) else None

    async def _store(self, accepted: list[Accepted]) -> None:
        """Publish (and addresses to the address book): awaited on the event loop when the
        publisher can (Kafka's group commit), else in a thread."""
        publish_async = getattr(self.publisher, "publish_many_async", None)
        if publish_async is None or has_addresses(self.address_book, accepted):
            await run_in_threadpool(publish_accepted, self.publisher, self.address_book, accepted)
        else:
            await publish_async(by_topic(accepted))
        log.debug("accepted %d event(s)", len(accepted))
        edge_accepted(a.topic for a in accepted)

    async def get_invitations(self, request: Request) -> Response:
        if (refused := await self._refused(request)) is not None:
            return refused
        contact_id = request.query_params.get("contact_id")
        source = request.query_params.get("source")
        if not contact_id or not source:
            # contactId is only unique within its channel system: without the source two
            # citizens' links could be mixed up.
            return problem(
                400, "query parameters contact_id and source (the CloudEvents source) are required"
            )
        for name, value in (("contact_id", contact_id), ("source", source)):
            if "\x00" in value:  # PostgreSQL refuses NUL in text (was a 500)
                return problem(400, f"query parameter {name} must not contain NUL characters")
        rows = await run_in_threadpool(
            self.warehouse.invitations_for_contact, contact_id, source=source
        )
        return JSONResponse(
            {
                "contactId": contact_id,
                "source": source,
                "invitations": [
                    {
                        "invitationId": r["invitation_id"],
                        "url": f"{self.base_url}/q/{r['token']}",
                        "expiresAt": iso_utc(r["expires_at"]),
                        "dispatch": r["dispatch"],
                    }
                    for r in rows
                ],
            }
        )


def _depth(node: Any, level: int = 0) -> int:
    """How deep the JSON nests (a scalar at the top: 0), counted no further than past
    MAX_DEPTH. Only containers are descended into."""
    if level > MAX_DEPTH:
        return level
    if isinstance(node, dict):
        children: Any = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return level
    deepest = level + 1
    for child in children:
        if isinstance(child, dict | list):
            below = _depth(child, level + 1)
            if below > deepest:
                deepest = below
    return deepest
