"""GET /v1/alerts, /v1/alerts/{alertId} and /v1/alerts/{alertId}/internetaak as JSON.

Needs an API token with scope alerts:read (or alerts:write), the legacy admin token, or a
signed-in caseworker or coordinator; a team-limited token or a caseworker sees only its
teams. Another team's alert answers 404, as if it did not exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.alert_actions import AlertActions
from consumers.alert_workflow import ACTIONS_NL, Action, ActionRefused
from consumers.inbox_reads import InboxReads
from consumers.inbox_store import ChangedMeanwhile
from consumers.internetaak import internetaak
from consumers.warehouse import to_json
from pipeline.times import parse_time
from pipeline.web import authz
from pipeline.web.auth import WebAuth
from pipeline.web.http import BodyTooLarge, problem, read_body
from schemas.models import wire_name

STATUSES = ("open", "in-behandeling", "afgehandeld")


@dataclass
class AlertsApi:
    reads: InboxReads
    auth: WebAuth
    base_url: str = ""
    actions: AlertActions | None = None  # POST .../status; None: read-only API

    def routes(self) -> list[Route]:
        return [
            Route("/v1/alerts", self.list_alerts, methods=["GET"]),
            Route("/v1/alerts/{alert_id}", self.one_alert, methods=["GET"]),
            Route("/v1/alerts/{alert_id}/internetaak", self.as_internetaak, methods=["GET"]),
            Route("/v1/alerts/{alert_id}/status", self.change_status, methods=["POST"]),
        ]

    async def list_alerts(self, request: Request) -> Response:
        principal = await self.auth.api_guard(request, authz.may_read_alerts)
        if isinstance(principal, Response):
            return principal
        params = request.query_params
        status = params.get("status")
        if status and status not in STATUSES:
            return problem(400, f"status must be one of {list(STATUSES)}")
        since = None
        if params.get("since"):
            try:
                since = parse_time(params["since"]).astimezone(UTC)  # no offset given: UTC
            except (ValueError, OverflowError):
                return problem(
                    400, "since must be an ISO 8601 date-time, e.g. 2026-11-23T09:00:00Z"
                )
        try:
            limit = int(params.get("limit", "100"))
        except ValueError:
            return problem(400, "limit must be a whole number")
        if not 1 <= limit <= 1000:
            return problem(400, "limit must be between 1 and 1000")
        rows = await run_in_threadpool(
            self.reads.alerts,
            teams=authz.visible_teams(principal),
            team=params.get("team"),
            status=status,
            since=since,
            limit=limit,
        )
        return JSONResponse({"alerts": [_public(to_json(r)) for r in rows]})

    async def _visible(self, request: Request) -> dict[str, Any] | Response:
        principal = await self.auth.api_guard(request, authz.may_read_alerts)
        if isinstance(principal, Response):
            return principal
        alert = await run_in_threadpool(self.reads.alert, request.path_params["alert_id"])
        if alert is None or not authz.sees_team(principal, alert["team"]):
            return problem(404, "no such alert")
        return alert

    async def one_alert(self, request: Request) -> Response:
        alert = await self._visible(request)
        if isinstance(alert, Response):
            return alert
        history = await run_in_threadpool(self.reads.status_history, alert["alert_id"])
        body = _public(to_json(alert))
        body["statusHistorie"] = [_change(to_json(h)) for h in history]
        return JSONResponse(body)

    async def as_internetaak(self, request: Request) -> Response:
        alert = await self._visible(request)
        if isinstance(alert, Response):
            return alert
        history = await run_in_threadpool(self.reads.status_history, alert["alert_id"])
        return JSONResponse(internetaak(alert, history, self.base_url))

    async def change_status(self, request: Request) -> Response:
        """An action through the API: {"handeling", "uitkomst"?, "categorie"?,
        "toegewezenAan"?, "notitie"?}; needs a token with scope alerts:write."""
        alert = await self._visible(request)
        if isinstance(alert, Response):
            return alert
        principal = await self.auth.api_principal(request)
        try:
            body = json.loads(await read_body(request, MAX_ACTION_BYTES))
        except (BodyTooLarge, ValueError, UnicodeDecodeError, RecursionError):
            return problem(400, f"body must be a JSON object of at most {MAX_ACTION_BYTES} bytes")
        problems = _action_problems(body)
        if problems:
            return problem(422, "invalid action", problems=problems)
        handeling = body["handeling"]
        check = authz.may_assign if handeling == "toewijzen" else authz.may_act
        if self.actions is None or principal is None or not check(principal, alert["team"]):
            return problem(403, "this token or user may not change this alert (needs alerts:write)")
        act = Action(
            handeling=handeling,
            door=principal.name,
            toegewezen_aan=body.get("toegewezenAan"),
            uitkomst=body.get("uitkomst"),
            categorie=body.get("categorie"),
        )
        try:
            after = await run_in_threadpool(
                self.actions.perform, alert, act, body.get("notitie"), "/klantsignaal/api"
            )
        except ActionRefused as exc:
            return problem(409, str(exc))
        except ChangedMeanwhile:
            return problem(409, "the alert changed meanwhile; read it again")
        return JSONResponse(
            {
                "alertId": alert["alert_id"],
                "status": after.status,
                "toegewezenAan": after.toegewezen_aan,
            }
        )


MAX_ACTION_BYTES = 10_000
_ACTION_FIELDS = {"handeling", "uitkomst", "categorie", "toegewezenAan", "notitie"}


def _action_problems(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict):
        return [{"pointer": "", "reason": "must be a JSON object"}]
    found = [
        {"pointer": f"/{k}", "reason": "unknown field"} for k in body if k not in _ACTION_FIELDS
    ]
    found += [
        {"pointer": f"/{k}", "reason": "must be a string of at most 2000 characters"}
        for k in _ACTION_FIELDS & body.keys()
        if not isinstance(body[k], str) or len(body[k]) > 2000
    ]
    found += [
        {"pointer": f"/{k}", "reason": "must be valid Unicode without NUL or lone surrogates"}
        for k in _ACTION_FIELDS & body.keys()
        if isinstance(body[k], str) and (not _encodable(body[k]) or "\x00" in body[k])
    ]
    if body.get("handeling") not in ACTIONS_NL or body.get("handeling") == "sentiment-correctie":
        choices = ", ".join(h for h in ACTIONS_NL if h != "sentiment-correctie")
        found.append({"pointer": "/handeling", "reason": f"must be one of {choices}"})
    return found


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """The alert as in the alert event (camelCase), plus its current status."""
    row.pop("stored_at", None)
    row.pop("event_id", None)
    row["status"] = row.pop("actuele_status", None) or row.get("status") or "open"
    dienst = {"code": row.pop("dienst_code"), "naam": row.pop("dienst_naam")}
    return {**{wire_name(k): v for k, v in row.items()}, "dienst": dienst}


def _change(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("stored_at", None)
    row.pop("event_id", None)
    return {wire_name(k): v for k, v in row.items() if v is not None}
