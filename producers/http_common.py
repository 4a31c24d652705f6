"""Shared HTTP helpers: bearer-token auth, bounded body reading, JSON errors."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse

from pipeline.web.http import BodyTooLarge, problem, read_body


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


__all__ = ["BodyTooLarge", "authorised", "problem", "read_body", "unauthorised"]
