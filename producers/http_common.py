"""Shared HTTP helpers: bearer-token auth, bounded body reading, JSON errors."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class BodyTooLarge(Exception):
    pass


def problem(status: int, title: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": status, "error": title, **extra}, status_code=status)


def authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    # Bytes: compare_digest refuses non-ASCII str, and a header is the client's to choose.
    return (
        scheme.lower() == "bearer"
        and bool(given)
        and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())
    )


def unauthorised() -> JSONResponse:
    response = problem(401, "missing or invalid bearer token (Authorization: Bearer <token>)")
    response.headers["WWW-Authenticate"] = 'Bearer realm="klantsignaal"'
    return response


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
