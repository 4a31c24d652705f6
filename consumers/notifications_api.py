"""GET /v1/notifications/failures: what could not be sent, for admins (the admin API token)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.notify_outbox import Outbox


def _admin(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return (
        scheme.lower() == "bearer"
        and bool(given)
        and bool(token)
        and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())
    )


@dataclass
class NotificationsApi:
    outbox: Outbox
    admin_token: str

    def routes(self) -> list[Route]:
        return [Route("/v1/notifications/failures", self.failures, methods=["GET"])]

    async def failures(self, request: Request) -> Response:
        if not _admin(request, self.admin_token):
            return JSONResponse(
                {"status": 401, "error": "admin token required (Authorization: Bearer <token>)"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="klantsignaal"'},
            )
        return JSONResponse(await run_in_threadpool(self.outbox.status))
