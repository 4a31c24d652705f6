"""GET /v1/service-alerts: the monitor's open and recent service alerts with their evidence.

Reads the warehouse table `service_alerts` (one row per service-alert event; the event
itself is in `body`). An alert with status open is still open while no alert with status
hersteld names it in `herstelVan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.warehouse import Warehouse, service_alerts
from pipeline.times import iso, parse_time
from pipeline.web.auth import WebAuth
from pipeline.web.authz import Principal
from producers.http_common import problem

MAX_ROWS = 5000  # service alerts are rare; this is years of them for a municipality
STATUSES = ("open", "hersteld")


def may_read_service_alerts(p: Principal) -> bool:
    """Coordinators and admins (example comments are free text), or a token with alerts:read;
    service alerts are about services, not citizens, so team limits do not apply."""
    if p.is_user:
        return p.role in ("coordinator", "admin")
    return "alerts:read" in p.scopes and not p.teams


@dataclass
class ServiceAlertReader:
    """Read model over the warehouse table (SQLAlchemy; SQLite or PostgreSQL)."""

    engine: Engine

    def all(self) -> list[dict[str, Any]]:
        query = select(service_alerts.c.body).order_by(service_alerts.c.stored_at.desc())
        with self.engine.connect() as conn:
            return [dict(row.body) for row in conn.execute(query.limit(MAX_ROWS))]


def split_open_recent(
    alerts: list[dict[str, Any]], since: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(open alerts, alerts created since `since`), newest first."""
    ended = {a.get("herstelVan") for a in alerts if a.get("status") == "hersteld"}
    newest_first = sorted(alerts, key=lambda a: parse_time(a["aangemaaktOp"]), reverse=True)
    opened = [
        a
        for a in newest_first
        if a.get("status", "open") == "open" and a["serviceAlertId"] not in ended
    ]
    recent = [a for a in newest_first if parse_time(a["aangemaaktOp"]) >= since]
    return opened, recent


@dataclass
class ServiceAlertsApi:
    warehouse: Warehouse
    auth: WebAuth

    def routes(self) -> list[Route]:
        return [Route("/v1/service-alerts", self.list_service_alerts, methods=["GET"])]

    async def list_service_alerts(self, request: Request) -> Response:
        principal = await self.auth.api_guard(request, may_read_service_alerts)
        if isinstance(principal, Response):
            return principal
        params = request.query_params
        since = datetime.now(UTC) - timedelta(days=30)
        if params.get("since"):
            try:
                since = parse_time(params["since"]).astimezone(UTC)
            except (ValueError, OverflowError):
                return problem(
                    400, "since must be an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z"
                )
        status = params.get("status")
        if status and status not in STATUSES:
            return problem(400, f"status must be one of {list(STATUSES)}")
        reader = ServiceAlertReader(self.warehouse.engine)
        rows = await run_in_threadpool(reader.all)
        opened, recent = split_open_recent(rows, since)
        for name in ("dienst", "kanaal"):
            wanted = params.get(name)
            if wanted:
                opened = [a for a in opened if _field(a, name) == wanted]
                recent = [a for a in recent if _field(a, name) == wanted]
        if status:
            recent = [a for a in recent if a.get("status", "open") == status]
        return JSONResponse({"open": opened, "recent": recent, "since": iso(since)})


def _field(alert: dict[str, Any], name: str) -> str | None:
    value = alert.get(name)
    return value.get("code") if isinstance(value, dict) else value
