"""The page-feedback widget: three smileys (goed – matig – slecht) and an optional comment.

A municipal page includes one line, `<script src="https://…/widget.js" data-dienst-code=…
async></script>`; the script builds the form and posts it (CORS, only from the origins in
KLANTSIGNAAL_WIDGET_ORIGINS). Without JavaScript, `GET /feedback` is the same form as a
plain page (for an iframe or a link); it posts to `POST /feedback` and thanks the visitor.
Each accepted post is one `nl.klantsignaal.page-feedback.v1` event. See docs/widget.md.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline.ports import Publisher
from pipeline.privacy import scrub
from pipeline.web.security import content_security_policy
from producers.citizen_pages import CitizenPages
from producers.http_common import BodyTooLarge, read_body
from producers.questionnaire_form import MAX_COMMENT, Form, FormUnreadable, first, parse_form
from producers.rate_limit import TokenBuckets
from schemas.cloudevents import new_event, utc_now
from schemas.models import Dienst, PageFeedback
from schemas.types import PAGE_FEEDBACK
from schemas.validation import validate_data

log = logging.getLogger(__name__)
RATINGS = ("goed", "matig", "slecht")
_DIENST_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
MAX_BODY = 12_000
TEXTS = {
    "e_beoordeling": "Kies een smiley: goed, matig of slecht.",
    "e_opmerking": f"Uw opmerking is te lang. Gebruik maximaal {MAX_COMMENT} tekens.",
    "e_pagina": "Het adres van de pagina ontbreekt of is niet goed.",
    "e_dienst": "De dienst van deze pagina is niet goed ingesteld.",
}


def _page_address(raw: str) -> str | None:
    """scheme://host/path of the page: never its query or fragment (they may hold data)."""
    if not raw or len(raw) > 500:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return scrub(f"{parts.scheme}://{parts.netloc}{parts.path}")[:500]


def feedback_from_form(form: Form) -> tuple[PageFeedback | None, dict[str, str]]:
    """The event's model, or the errors per field (lengths are checked before scrubbing)."""
    errors: dict[str, str] = {}
    rating = first(form, "beoordeling")
    if rating not in RATINGS:
        errors["beoordeling"] = TEXTS["e_beoordeling"]
    comment = first(form, "opmerking")
    if len(comment) > MAX_COMMENT:
        errors["opmerking"] = TEXTS["e_opmerking"]
    pagina = _page_address(first(form, "pagina"))
    if pagina is None:
        errors["pagina"] = TEXTS["e_pagina"]
    code, naam = first(form, "dienstcode"), first(form, "dienstnaam").strip()
    dienst = None
    if code or naam:
        if _DIENST_CODE.fullmatch(code) and 1 <= len(naam) <= 200:
            dienst = Dienst(code=code, naam=naam)
        else:
            errors["dienst"] = TEXTS["e_dienst"]
    if errors:
        return None, errors
    cleaned = scrub(comment.strip())[:MAX_COMMENT]
    return PageFeedback(
        feedback_id=str(uuid.uuid4()),
        pagina=pagina or "",
        beoordeling=rating,
        gegeven_op=utc_now(),
        dienst=dienst,
        opmerking=cleaned or None,
    ), {}


@dataclass
class PageFeedbackWidget:
    publisher: Publisher
    allowed_origins: tuple[str, ...] = ()
    rate_per_address: int = 20

    def __post_init__(self) -> None:
        self.pages = CitizenPages()
        self._per_address = TokenBuckets(self.rate_per_address, 60.0)
        self._script = resources.files("producers").joinpath("static", "widget.js").read_bytes()

    def routes(self) -> list[Route]:
        return [
            Route("/widget.js", self.script, methods=["GET"]),
            Route("/feedback", self.feedback, methods=["GET", "POST", "OPTIONS"]),
        ]

    async def script(self, _: Request) -> Response:
        headers = {"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"}
        return Response(self._script, media_type="text/javascript", headers=headers)

    def _origin_ok(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a cross-origin browser request (a plain form, a server)
        own = f"{request.url.scheme}://{request.url.netloc}"
        # "null": our own no-JS form under a no-referrer policy. It reads no response across
        # origins, and posting itself is open to anyone anyway (hence the rate limit).
        return origin in (own, "null") or origin in self.allowed_origins

    def _cors(self, request: Request, response: Response) -> Response:
        origin = request.headers.get("origin")
        if origin and origin in self.allowed_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "3600"
        response.headers["Vary"] = "Origin"
        return response

    def _frameable(self, response: Response) -> Response:
        # The strict policy of the web kit, but framable by the widget's origins.
        ancestors = " ".join(("'self'", *self.allowed_origins))
        response.headers["Content-Security-Policy"] = content_security_policy(ancestors)
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    async def feedback(self, request: Request) -> Response:
        if not self._origin_ok(request):
            return JSONResponse({"error": "origin not allowed"}, status_code=403)
        if request.method == "OPTIONS":
            return self._cors(request, Response(status_code=204))
        if request.method == "GET":
            context = {"values": dict(request.query_params), "errors": []}
            return self._frameable(self.pages.render("feedback.html", context))
        client = request.client.host if request.client else "-"
        wait = self._per_address.take(client)
        if wait > 0:
            busy = JSONResponse({"error": "te veel verzoeken"}, status_code=429)
            busy.headers["Retry-After"] = str(int(wait) + 1)
            return self._cors(request, busy)
        return self._cors(request, await self._post(request))

    async def _post(self, request: Request) -> Response:
        try:
            form = parse_form(await read_body(request, MAX_BODY))
        except BodyTooLarge:
            return JSONResponse({"error": "te groot"}, status_code=413)
        except FormUnreadable:
            return JSONResponse({"error": "onleesbaar formulier"}, status_code=400)
        wants_json = first(form, "antwoord") == "json"
        feedback, errors = feedback_from_form(form)
        if feedback is None:
            if wants_json:
                return JSONResponse({"errors": errors}, status_code=422)
            return self._page(form, errors, status=422)
        if not await self._publish(feedback):
            return JSONResponse({"error": "niet opgeslagen, probeer het later"}, status_code=503)
        if wants_json:
            return JSONResponse({"feedbackId": feedback.feedback_id}, status_code=202)
        return self._frameable(self.pages.render("feedback_thanks.html", {}))

    def _page(self, form: Form, errors: dict[str, str], status: int) -> Response:
        values = {k: first(form, k) for k in form}
        context: dict[str, Any] = {"values": values, "errors": list(errors.items())}
        context["invalid"] = errors
        return self._frameable(self.pages.render("feedback.html", context, status))

    async def _publish(self, feedback: PageFeedback) -> bool:
        data = feedback.to_dict()
        if validate_data(PAGE_FEEDBACK.name, data):
            log.error("page feedback made an invalid event")
            return False
        event = new_event(
            PAGE_FEEDBACK.name,
            data,
            source="/klantsignaal/widget",
            key=None,
            event_id=feedback.feedback_id,
        )
        try:
            await run_in_threadpool(self.publisher.publish, PAGE_FEEDBACK.topic, [event])
        except Exception:
            log.exception("could not store page feedback")
            return False
        return True
