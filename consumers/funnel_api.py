"""GET /v1/funnel?by=kanaal|dienst: the response funnel as JSON.

Counts only, no personal data: a bearer token that may read alerts (or the admin token), or
a signed-in coordinator, analyst or admin — the same guard as /v1/alerts. A reader limited
to teams counts only the invitations of its teams.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.funnel import GROUPS, funnel
from consumers.warehouse import Warehouse
from pipeline.web import authz
from pipeline.web.auth import WebAuth
from producers.http_common import problem


@dataclass
class FunnelApi:
    warehouse: Warehouse
    auth: WebAuth

    def routes(self) -> list[Route]:
        return [Route("/v1/funnel", self.get_funnel, methods=["GET"])]

    async def get_funnel(self, request: Request) -> Response:
        principal = await self.auth.api_guard(request, authz.may_read_aggregates)
        if isinstance(principal, Response):
            return principal
        by = request.query_params.get("by", "kanaal")
        if by not in GROUPS:
            return problem(400, f"by must be one of {sorted(GROUPS)}", field="by")
        teams = authz.aggregate_teams(principal)  # least privilege: only its own teams
        return JSONResponse(await run_in_threadpool(funnel, self.warehouse, by, teams=teams))
