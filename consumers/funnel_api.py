"""GET /v1/funnel?by=kanaal|dienst: the response funnel as JSON (bearer token, as /v1/alerts)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.funnel import GROUPS, funnel
from consumers.warehouse import Warehouse
from producers.http_common import authorised, problem, unauthorised


@dataclass
class FunnelApi:
    warehouse: Warehouse
    api_token: str

    def routes(self) -> list[Route]:
        return [Route("/v1/funnel", self.get_funnel, methods=["GET"])]

    async def get_funnel(self, request: Request) -> Response:
        if not authorised(request, self.api_token):
            return unauthorised()
        by = request.query_params.get("by", "kanaal")
        if by not in GROUPS:
            return problem(400, f"by must be one of {sorted(GROUPS)}", field="by")
        return JSONResponse(await run_in_threadpool(funnel, self.warehouse, by))
