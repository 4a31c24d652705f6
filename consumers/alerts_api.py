"""GET /v1/alerts, /v1/alerts/{alertId} and /v1/alerts/{alertId}/internetaak as JSON.

Needs an API token with scope alerts:read (or alerts:write), the legacy admin token, or a
signed-in caseworker or coordinator; a team-limited token or a caseworker sees only its
teams. Another team's alert answers 404, as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.inbox_reads import InboxReads
from consumers.internetaak import internetaak
from consumers.warehouse import to_json
from pipeline.stages.base import parse_time
from pipeline.web import authz
from pipeline.web.auth import WebAuth
from producers.http_common import problem
from schemas.models import wire_name

STATUSES = ("open", "in-behandeling", "afgehandeld")


@dataclass
class AlertsApi:
    reads: InboxReads
    auth: WebAuth
    base_url: str = ""

    def routes(self) -> list[Route]:
        return [
            Route("/v1/alerts", self.list_alerts, methods=["GET"]),
            Route("/v1/alerts/{alert_id}", self.one_alert, methods=["GET"]),
            Route("/v1/alerts/{alert_id}/internetaak", self.as_internetaak, methods=["GET"]),
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
