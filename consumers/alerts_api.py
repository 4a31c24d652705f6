"""GET /v1/alerts: the follow-up alerts as JSON, for the caseworker inbox and other systems."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.warehouse import Warehouse, to_json
from pipeline.stages.base import parse_time
from producers.http_common import authorised, problem, unauthorised
from schemas.models import wire_name

STATUSES = ("open", "in-behandeling", "afgehandeld")


@dataclass
class AlertsApi:
    warehouse: Warehouse
    api_token: str

    def routes(self) -> list[Route]:
        return [Route("/v1/alerts", self.list_alerts, methods=["GET"])]

    async def list_alerts(self, request: Request) -> Response:
        if not authorised(request, self.api_token):
            return unauthorised()
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
            self.warehouse.alerts, status=status, team=params.get("team"), since=since, limit=limit
        )
        return JSONResponse({"alerts": [_public(to_json(r)) for r in rows]})


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """The alert as in the alert event (camelCase), plus its status in the inbox."""
    row.pop("stored_at", None)
    row.pop("event_id", None)
    dienst = {"code": row.pop("dienst_code"), "naam": row.pop("dienst_naam")}
    return {**{wire_name(k): v for k, v in row.items()}, "dienst": dienst}
