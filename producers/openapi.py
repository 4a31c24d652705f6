"""The OpenAPI 3.1 document of the machine API, served at GET /openapi.json.

Event bodies are described by the same JSON Schemas (2020-12) the server validates with,
included under components.schemas; OpenAPI 3.1 uses JSON Schema 2020-12 as is.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from schemas.types import EVENT_TYPES, PUBLIC_INPUT_TYPES

CLOUDEVENT = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def _schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("schemas").joinpath("json", name).read_text("utf-8"))


def _query(name: str, description: str, *, required: bool = False, **schema: Any) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


def _problem_responses(*codes: int) -> dict[str, Any]:
    words = {
        400: "malformed request (JSON, UTF-8, parameters)",
        401: "missing or invalid bearer token",
        403: "the token lacks the scope",
        413: "body or batch too large",
        415: "unsupported content type",
        422: "invalid event(s): per-event problems with a JSON pointer and the rule",
        503: "events could not be stored; nothing was accepted, safe to resend",
    }
    ref = {"$ref": "#/components/schemas/Problem"}
    return {
        str(c): {"description": words[c], "content": {"application/json": {"schema": ref}}}
        for c in codes
    }


def _get(summary: str, params: list[dict], scope: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": [{"bearer": [scope]}],
            "parameters": params,
            "responses": {
                "200": {"description": "JSON", "content": {"application/json": {}}},
                **_problem_responses(400, 401, 403),
            },
        }
    }


@cache
def openapi_document() -> dict[str, Any]:
    public = sorted(PUBLIC_INPUT_TYPES)
    data_schemas = {
        EVENT_TYPES[t].schema_file.removesuffix(".json"): _schema(EVENT_TYPES[t].schema_file)
        for t in public
    }
    event = {
        "allOf": [{"$ref": "#/components/schemas/cloudevent"}],
        "properties": {"type": {"enum": public}},
    }
    post_events = {
        "post": {
            "summary": "Publish CloudEvents (structured mode, single or batch)",
            "description": "All or nothing: 202 lists the accepted ids; otherwise 4xx with "
            "a problem per event naming the field (JSON pointer). Identity is (source, id). "
            "The `data` of each type follows its schema under components.schemas.",
            "security": [{"bearer": ["ingest"]}],
            "requestBody": {
                "required": True,
                "content": {
                    CLOUDEVENT: {"schema": event},
                    BATCH: {"schema": {"type": "array", "items": event, "minItems": 1}},
                    "application/json": {
                        "schema": {"oneOf": [event, {"type": "array", "items": event}]}
                    },
                },
            },
            "responses": {
                "202": {"description": "accepted", "content": {"application/json": {}}},
                **_problem_responses(400, 401, 403, 413, 415, 422, 503),
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "klantsignaal API",
            "version": "1",
            "description": "Contact events in, invitation links, alerts, measures out. "
            "See docs/events.md.",
        },
        "paths": {
            "/v1/events": post_events,
            "/v1/invitations": _get(
                "Questionnaire links of a contact",
                [
                    _query("contact_id", "the channel system's contactId", required=True),
                    _query("source", "the CloudEvents source of the contact", required=True),
                ],
                "ingest",
            ),
            "/v1/alerts": _get(
                "Follow-up alerts, newest first",
                [
                    _query("status", "", enum=["open", "in-behandeling", "afgehandeld"]),
                    _query("team", "team name"),
                    _query("since", "RFC 3339 date-time", format="date-time"),
                    _query("limit", "1 to 1000", pattern="^[0-9]+$"),
                ],
                "alerts:read",
            ),
            "/v1/service-alerts": _get("Service alerts of the monitor", [], "alerts:read"),
            "/v1/funnel": _get(
                "Invited, delivered, opened, started, answered, opted out",
                [_query("by", "", enum=["kanaal", "dienst"])],
                "alerts:read",
            ),
            "/v1/measures": _get(
                "NPS, CES, rapportcijfer, response rate, callback time, SLA adherence",
                [
                    _query("by", "", enum=["kanaal", "dienst", "team"]),
                    _query("period", "", enum=["week", "month", "quarter"]),
                ],
                "alerts:read",
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "cloudevent": _schema("cloudevent.json"),
                **data_schemas,
                "Problem": {
                    "type": "object",
                    "required": ["status", "error"],
                    "properties": {
                        "status": {"type": "integer"},
                        "error": {"type": "string"},
                        "problems": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "pointer": {"type": "string"},
                                    "rule": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
