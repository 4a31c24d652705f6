"""HTTP helpers shared by the citizen and the staff side: JSON errors, bounded bodies."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class BodyTooLarge(Exception):
    pass


def problem(status: int, title: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": status, "error": title, **extra}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes without reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
