"""Readiness of the web edge and the embedded runtime, wired in by pipeline.app.

`/readyz` on the public web port says only ready or not, per part (no data); `/metrics`
is never on the public port (see pipeline.ops.health).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pipeline.ops.health import READINESS, Readiness


def database_reachable(engine: Any) -> bool:
    """True when a connection answers `SELECT 1` (raises what the driver raises otherwise)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    return True


def readiness_route(warehouse: Any, readiness: Readiness = READINESS) -> Any:
    """The web's storage check joins the process readiness; the route answers 200 or 503."""
    readiness.check("warehouse", lambda: database_reachable(warehouse.engine))

    async def ready(_: Request) -> Response:
        is_ready, parts = await run_in_threadpool(readiness.status)
        body = {"status": "ready" if is_ready else "not ready", "parts": parts}
        return JSONResponse(body, status_code=200 if is_ready else 503)

    return ready


def watch_embedded(runtime: Any, readiness: Readiness = READINESS) -> None:
    """`klantsignaal run`: ready while the pipeline thread runs (and the storage answers)."""

    def running() -> bool:
        thread = getattr(runtime, "_thread", None)
        return thread is not None and thread.is_alive()

    readiness.check("pipeline", running)
