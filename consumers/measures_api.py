"""GET /v1/measures?by=kanaal|dienst|team&period=week|month|quarter: the measures as JSON.

A reader limited to teams (a token or user created with --team) gets measures computed
from its own teams' data only."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.measures_read import SqlMeasuresReadModel
from consumers.warehouse import Warehouse
from pipeline.measures.compute import DIMENSIONS, MIN_ANSWERS, PERIODS, measures
from pipeline.web.auth import WebAuth
from pipeline.web.authz import Principal, aggregate_teams
from producers.http_common import problem


def may_read_measures(p: Principal) -> bool:
    """Aggregates: coordinators, analysts and admins, or a token with alerts:read."""
    if p.is_user:
        return p.role in ("coordinator", "analyst", "admin")
    return "alerts:read" in p.scopes


@dataclass
class MeasuresApi:
    warehouse: Warehouse
    auth: WebAuth

    def routes(self) -> list[Route]:
        return [Route("/v1/measures", self.get_measures, methods=["GET"])]

    async def get_measures(self, request: Request) -> Response:
        principal = await self.auth.api_guard(request, may_read_measures)
        if isinstance(principal, Response):
            return principal
        by = request.query_params.get("by", "kanaal")
        period = request.query_params.get("period", "week")
        if by not in DIMENSIONS:
            return problem(400, f"by must be one of {list(DIMENSIONS)}")
        if period not in PERIODS:
            return problem(400, f"period must be one of {list(PERIODS)}")
        # Least privilege: a reader limited to teams counts only its teams' data.
        read = SqlMeasuresReadModel(self.warehouse.engine, teams=aggregate_teams(principal))
        cells = await run_in_threadpool(measures, read, by, period)  # type: ignore[arg-type]
        return JSONResponse(
            {"by": by, "period": period, "minimumAantal": MIN_ANSWERS, "cellen": cells}
        )
